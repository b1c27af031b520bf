package mem

import (
	"encoding/binary"
	"unsafe"
)

// le64 loads a little-endian uint64 at off (off <= PageSize-8).
func le64(p *[PageSize]byte, off uint64) uint64 {
	if hostLittleEndian {
		return *(*uint64)(unsafe.Add(unsafe.Pointer(p), off))
	}
	return binary.LittleEndian.Uint64(p[off:])
}

var hostLittleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// The methods below are the CPU's inlinable fast path: with a page from
// CachedRead or CachedWrite, an access that does not cross the end of the
// page costs a load or a store. off is the offset in the page; the caller
// guarantees off+size <= PageSize.

// Load8 returns the byte at off.
func (p *Page) Load8(off uint64) uint64 { return uint64(p.data[off&PageMask]) }

// Load16 returns the little-endian uint16 at off.
func (p *Page) Load16(off uint64) uint64 {
	return uint64(binary.LittleEndian.Uint16(p.data[off&PageMask:]))
}

// Load32 returns the little-endian uint32 at off.
func (p *Page) Load32(off uint64) uint64 {
	return uint64(binary.LittleEndian.Uint32(p.data[off&PageMask:]))
}

// Load64 returns the little-endian uint64 at off.
func (p *Page) Load64(off uint64) uint64 {
	return binary.LittleEndian.Uint64(p.data[off&PageMask:])
}

// Store8 writes the byte at off and advances the page's generation.
func (p *Page) Store8(off, v uint64) {
	p.data[off&PageMask] = uint8(v)
	p.gen++
}

// Store16 writes a little-endian uint16 at off.
func (p *Page) Store16(off, v uint64) {
	binary.LittleEndian.PutUint16(p.data[off&PageMask:], uint16(v))
	p.gen++
}

// Store32 writes a little-endian uint32 at off.
func (p *Page) Store32(off, v uint64) {
	binary.LittleEndian.PutUint32(p.data[off&PageMask:], uint32(v))
	p.gen++
}

// Store64 writes a little-endian uint64 at off.
func (p *Page) Store64(off, v uint64) {
	binary.LittleEndian.PutUint64(p.data[off&PageMask:], v)
	p.gen++
}

// CachedRead returns the page holding addr if the read translation cache
// holds it (so it is mapped and readable), or nil. It never faults and
// never fills the cache; on nil use Read8..Read64.
func (m *Memory) CachedRead(addr uint64) *Page {
	e := &m.rtlb[(addr>>PageShift)&tlbMask]
	if e.vpn == addr>>PageShift {
		return e.page
	}
	return nil
}

// CachedWrite is CachedRead for writes.
func (m *Memory) CachedWrite(addr uint64) *Page {
	e := &m.wtlb[(addr>>PageShift)&tlbMask]
	if e.vpn == addr>>PageShift {
		return e.page
	}
	return nil
}
