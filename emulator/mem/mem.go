package mem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// Page geometry.
const (
	PageShift  = 12
	PageSize   = 1 << PageShift
	PageMask   = PageSize - 1
	tlbBits    = 8
	tlbSize    = 1 << tlbBits
	tlbMask    = tlbSize - 1
	invalidVPN = ^uint64(0)
)

// Perm is a set of page permissions.
type Perm uint8

// Page permission bits.
const (
	PermRead Perm = 1 << iota
	PermWrite
	PermExec

	PermNone Perm = 0
	PermRW        = PermRead | PermWrite
	PermRX        = PermRead | PermExec
	PermRWX       = PermRead | PermWrite | PermExec
)

// String returns the permissions in the style of /proc/self/maps: "rwx",
// "r-x", "---".
func (p Perm) String() string {
	b := []byte("---")
	if p&PermRead != 0 {
		b[0] = 'r'
	}
	if p&PermWrite != 0 {
		b[1] = 'w'
	}
	if p&PermExec != 0 {
		b[2] = 'x'
	}
	return string(b)
}

// Access is the kind of a memory access.
type Access uint8

// Kinds of memory access.
const (
	AccessRead Access = iota
	AccessWrite
	AccessExec
)

// String names the access kind.
func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	case AccessExec:
		return "execute"
	}
	return fmt.Sprintf("Access(%d)", uint8(a))
}

func (a Access) perm() Perm {
	switch a {
	case AccessWrite:
		return PermWrite
	case AccessExec:
		return PermExec
	}
	return PermRead
}

// ErrFault is matched by every *Fault with errors.Is.
var ErrFault = errors.New("page fault")

// Fault is a failed memory access. It carries what the CPU needs to raise
// a page fault: the faulting address (the first byte that could not be
// accessed, as in CR2), the kind of access, and whether the page was
// mapped at all (a protection violation) or not.
type Fault struct {
	Addr    uint64
	Access  Access
	Present bool
}

// Error describes the fault.
func (f *Fault) Error() string {
	why := "unmapped page"
	if f.Present {
		why = "protection violation"
	}
	return fmt.Sprintf("page fault: %s at %#x: %s", f.Access, f.Addr, why)
}

// Is reports whether target is ErrFault.
func (f *Fault) Is(target error) bool { return target == ErrFault }

// Page is one mapped 4 KiB page.
type Page struct {
	data [PageSize]byte
	base uint64
	perm Perm
	gen  uint64
}

// Base returns the address of the first byte of the page.
func (p *Page) Base() uint64 { return p.base }

// Perm returns the page's permissions.
func (p *Page) Perm() Perm { return p.perm }

// Gen returns the page's generation. It changes whenever the contents or
// the permissions of the page change, and when the page is unmapped.
func (p *Page) Gen() uint64 { return p.gen }

// Data returns the page's contents. Writing through it bypasses
// permissions and generations; use Memory.Poke to patch code.
func (p *Page) Data() *[PageSize]byte { return &p.data }

type tlbEntry struct {
	vpn  uint64
	page *Page
}

// Memory is a sparse, paged address space.
type Memory struct {
	pages map[uint64]*Page
	rtlb  [tlbSize]tlbEntry
	wtlb  [tlbSize]tlbEntry
}

// New returns an empty address space.
func New() *Memory {
	m := &Memory{pages: make(map[uint64]*Page)}
	m.flushTLB()
	return m
}

func (m *Memory) flushTLB() {
	for i := range m.rtlb {
		m.rtlb[i] = tlbEntry{vpn: invalidVPN}
		m.wtlb[i] = tlbEntry{vpn: invalidVPN}
	}
}

func (m *Memory) flushVPN(vpn uint64) {
	i := vpn & tlbMask
	if m.rtlb[i].vpn == vpn {
		m.rtlb[i] = tlbEntry{vpn: invalidVPN}
	}
	if m.wtlb[i].vpn == vpn {
		m.wtlb[i] = tlbEntry{vpn: invalidVPN}
	}
}

// pageRange validates a page-aligned range and returns its first page
// number and page count.
func pageRange(addr, size uint64) (uint64, uint64, error) {
	if addr&PageMask != 0 || size&PageMask != 0 {
		return 0, 0, fmt.Errorf("range %#x+%#x is not page aligned", addr, size)
	}
	if size == 0 {
		return 0, 0, fmt.Errorf("empty range at %#x", addr)
	}
	if addr+size-1 < addr {
		return 0, 0, fmt.Errorf("range %#x+%#x wraps around", addr, size)
	}
	return addr >> PageShift, size >> PageShift, nil
}

// Map maps size bytes of zeroed memory at addr with permissions perm.
// addr and size must be page aligned and no page of the range may be
// mapped already.
func (m *Memory) Map(addr, size uint64, perm Perm) error {
	vpn, n, err := pageRange(addr, size)
	if err != nil {
		return fmt.Errorf("map: %w", err)
	}
	for i := uint64(0); i < n; i++ {
		if _, ok := m.pages[vpn+i]; ok {
			return fmt.Errorf("map %#x+%#x: page %#x already mapped", addr, size, (vpn+i)<<PageShift)
		}
	}
	for i := uint64(0); i < n; i++ {
		m.pages[vpn+i] = &Page{base: (vpn + i) << PageShift, perm: perm}
		m.flushVPN(vpn + i)
	}
	return nil
}

// Unmap removes every page of the page-aligned range; pages of the range
// that are not mapped are ignored.
func (m *Memory) Unmap(addr, size uint64) error {
	vpn, n, err := pageRange(addr, size)
	if err != nil {
		return fmt.Errorf("unmap: %w", err)
	}
	for i := uint64(0); i < n; i++ {
		if p, ok := m.pages[vpn+i]; ok {
			p.gen++
			delete(m.pages, vpn+i)
			m.flushVPN(vpn + i)
		}
	}
	return nil
}

// Protect changes the permissions of every page of the page-aligned
// range, all of which must be mapped.
func (m *Memory) Protect(addr, size uint64, perm Perm) error {
	vpn, n, err := pageRange(addr, size)
	if err != nil {
		return fmt.Errorf("protect: %w", err)
	}
	for i := uint64(0); i < n; i++ {
		if _, ok := m.pages[vpn+i]; !ok {
			return fmt.Errorf("protect %#x+%#x: page %#x not mapped", addr, size, (vpn+i)<<PageShift)
		}
	}
	for i := uint64(0); i < n; i++ {
		p := m.pages[vpn+i]
		if p.perm != perm {
			p.perm = perm
			p.gen++
			m.flushVPN(vpn + i)
		}
	}
	return nil
}

// PageAt returns the page containing addr, or nil if it is not mapped.
func (m *Memory) PageAt(addr uint64) *Page {
	return m.pages[addr>>PageShift]
}

// PermAt returns the permissions of the page containing addr and whether
// it is mapped.
func (m *Memory) PermAt(addr uint64) (Perm, bool) {
	p := m.pages[addr>>PageShift]
	if p == nil {
		return 0, false
	}
	return p.perm, true
}

// Region is a run of contiguous pages with the same permissions.
type Region struct {
	Addr, Size uint64
	Perm       Perm
}

// Regions lists the mapped memory as maximal runs of contiguous pages with
// equal permissions, in address order.
func (m *Memory) Regions() []Region {
	vpns := make([]uint64, 0, len(m.pages))
	for v := range m.pages {
		vpns = append(vpns, v)
	}
	sort.Slice(vpns, func(i, j int) bool { return vpns[i] < vpns[j] })
	var out []Region
	for _, v := range vpns {
		p := m.pages[v]
		if n := len(out); n > 0 && out[n-1].Addr+out[n-1].Size == p.base && out[n-1].Perm == p.perm {
			out[n-1].Size += PageSize
			continue
		}
		out = append(out, Region{Addr: p.base, Size: PageSize, Perm: p.perm})
	}
	return out
}

// check returns the page for an access of kind acc at addr, or a fault.
func (m *Memory) check(addr uint64, acc Access) (*Page, *Fault) {
	p := m.pages[addr>>PageShift]
	if p == nil {
		return nil, &Fault{Addr: addr, Access: acc}
	}
	if p.perm&acc.perm() == 0 {
		return nil, &Fault{Addr: addr, Access: acc, Present: true}
	}
	return p, nil
}

// Translate returns the page for an access of kind acc at addr after
// checking its permissions, or a *Fault.
func (m *Memory) Translate(addr uint64, acc Access) (*Page, error) {
	p, f := m.check(addr, acc)
	if f != nil {
		return nil, f
	}
	return p, nil
}

// rpage returns the readable page holding addr through the read cache.
func (m *Memory) rpage(addr uint64) (*Page, *Fault) {
	vpn := addr >> PageShift
	e := &m.rtlb[vpn&tlbMask]
	if e.vpn == vpn {
		return e.page, nil
	}
	p, f := m.check(addr, AccessRead)
	if f != nil {
		return nil, f
	}
	*e = tlbEntry{vpn: vpn, page: p}
	return p, nil
}

// wpage returns the writable page holding addr through the write cache.
func (m *Memory) wpage(addr uint64) (*Page, *Fault) {
	vpn := addr >> PageShift
	e := &m.wtlb[vpn&tlbMask]
	if e.vpn == vpn {
		return e.page, nil
	}
	p, f := m.check(addr, AccessWrite)
	if f != nil {
		return nil, f
	}
	*e = tlbEntry{vpn: vpn, page: p}
	return p, nil
}

// Read8 reads one byte.
func (m *Memory) Read8(addr uint64) (uint8, error) {
	e := &m.rtlb[(addr>>PageShift)&tlbMask]
	if e.vpn == addr>>PageShift {
		return e.page.data[addr&PageMask], nil
	}
	v, err := m.readSlow(addr, 1)
	return uint8(v), err
}

// Read16 reads a little-endian 16-bit value.
func (m *Memory) Read16(addr uint64) (uint16, error) {
	e := &m.rtlb[(addr>>PageShift)&tlbMask]
	if off := addr & PageMask; e.vpn == addr>>PageShift && off <= PageSize-2 {
		return binary.LittleEndian.Uint16(e.page.data[off:]), nil
	}
	v, err := m.readSlow(addr, 2)
	return uint16(v), err
}

// Read32 reads a little-endian 32-bit value.
func (m *Memory) Read32(addr uint64) (uint32, error) {
	e := &m.rtlb[(addr>>PageShift)&tlbMask]
	if off := addr & PageMask; e.vpn == addr>>PageShift && off <= PageSize-4 {
		return binary.LittleEndian.Uint32(e.page.data[off:]), nil
	}
	v, err := m.readSlow(addr, 4)
	return uint32(v), err
}

// Read64 reads a little-endian 64-bit value.
func (m *Memory) Read64(addr uint64) (uint64, error) {
	e := &m.rtlb[(addr>>PageShift)&tlbMask]
	if e.vpn == addr>>PageShift && addr&PageMask <= PageSize-8 {
		return le64(&e.page.data, addr&PageMask), nil
	}
	return m.readSlow(addr, 8)
}

// Read reads a little-endian value of size 1, 2, 4 or 8 bytes.
func (m *Memory) Read(addr uint64, size int) (uint64, error) {
	switch size {
	case 1:
		v, err := m.Read8(addr)
		return uint64(v), err
	case 2:
		v, err := m.Read16(addr)
		return uint64(v), err
	case 4:
		v, err := m.Read32(addr)
		return uint64(v), err
	case 8:
		return m.Read64(addr)
	}
	return 0, fmt.Errorf("read %#x: bad size %d", addr, size)
}

func (m *Memory) readSlow(addr uint64, size int) (uint64, error) {
	p, f := m.rpage(addr)
	if f != nil {
		return 0, f
	}
	off := addr & PageMask
	if off+uint64(size) <= PageSize {
		var b [8]byte
		copy(b[:], p.data[off:off+uint64(size)])
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	// Straddles two pages: check the second before reading anything.
	next := (addr | PageMask) + 1
	q, f := m.rpage(next)
	if f != nil {
		return 0, f
	}
	var b [16]byte
	n := copy(b[:], p.data[off:])
	copy(b[n:], q.data[:size-n])
	return binary.LittleEndian.Uint64(b[:8]) & (^uint64(0) >> (64 - 8*size)), nil
}

// Write8 writes one byte.
func (m *Memory) Write8(addr uint64, v uint8) error {
	e := &m.wtlb[(addr>>PageShift)&tlbMask]
	if e.vpn == addr>>PageShift {
		e.page.data[addr&PageMask] = v
		e.page.gen++
		return nil
	}
	return m.writeSlow(addr, uint64(v), 1)
}

// Write16 writes a little-endian 16-bit value.
func (m *Memory) Write16(addr uint64, v uint16) error {
	e := &m.wtlb[(addr>>PageShift)&tlbMask]
	if off := addr & PageMask; e.vpn == addr>>PageShift && off <= PageSize-2 {
		binary.LittleEndian.PutUint16(e.page.data[off:], v)
		e.page.gen++
		return nil
	}
	return m.writeSlow(addr, uint64(v), 2)
}

// Write32 writes a little-endian 32-bit value.
func (m *Memory) Write32(addr uint64, v uint32) error {
	e := &m.wtlb[(addr>>PageShift)&tlbMask]
	if off := addr & PageMask; e.vpn == addr>>PageShift && off <= PageSize-4 {
		binary.LittleEndian.PutUint32(e.page.data[off:], v)
		e.page.gen++
		return nil
	}
	return m.writeSlow(addr, uint64(v), 4)
}

// Write64 writes a little-endian 64-bit value.
func (m *Memory) Write64(addr uint64, v uint64) error {
	e := &m.wtlb[(addr>>PageShift)&tlbMask]
	if off := addr & PageMask; e.vpn == addr>>PageShift && off <= PageSize-8 {
		binary.LittleEndian.PutUint64(e.page.data[off:], v)
		e.page.gen++
		return nil
	}
	return m.writeSlow(addr, v, 8)
}

// Write writes a little-endian value of size 1, 2, 4 or 8 bytes.
func (m *Memory) Write(addr uint64, v uint64, size int) error {
	switch size {
	case 1:
		return m.Write8(addr, uint8(v))
	case 2:
		return m.Write16(addr, uint16(v))
	case 4:
		return m.Write32(addr, uint32(v))
	case 8:
		return m.Write64(addr, v)
	}
	return fmt.Errorf("write %#x: bad size %d", addr, size)
}

func (m *Memory) writeSlow(addr uint64, v uint64, size int) error {
	p, f := m.wpage(addr)
	if f != nil {
		return f
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	off := addr & PageMask
	if off+uint64(size) <= PageSize {
		copy(p.data[off:], b[:size])
		p.gen++
		return nil
	}
	next := (addr | PageMask) + 1
	q, f := m.wpage(next)
	if f != nil {
		return f
	}
	n := copy(p.data[off:], b[:size])
	copy(q.data[:], b[n:size])
	p.gen++
	q.gen++
	return nil
}

// CheckRange reports the first fault an access of kind acc to n bytes at
// addr would raise, or nil if the whole range is accessible.
func (m *Memory) CheckRange(addr uint64, n int, acc Access) error {
	if n <= 0 {
		return nil
	}
	end := addr + uint64(n)
	for a := addr; ; a = (a | PageMask) + 1 {
		if _, f := m.check(a, acc); f != nil {
			return f
		}
		if (a|PageMask)+1 >= end || (a|PageMask)+1 == 0 {
			return nil
		}
	}
}

// ReadBytes fills buf from addr, checking read permission. Nothing is read
// if any byte faults.
func (m *Memory) ReadBytes(addr uint64, buf []byte) error {
	if err := m.CheckRange(addr, len(buf), AccessRead); err != nil {
		return err
	}
	return m.Peek(addr, buf)
}

// WriteBytes copies data to addr, checking write permission. Nothing is
// written if any byte faults.
func (m *Memory) WriteBytes(addr uint64, data []byte) error {
	if err := m.CheckRange(addr, len(data), AccessWrite); err != nil {
		return err
	}
	return m.Poke(addr, data)
}

// Peek fills buf from addr ignoring permissions; every page must be
// mapped. It is for debuggers and unwinders.
func (m *Memory) Peek(addr uint64, buf []byte) error {
	if err := m.checkMapped(addr, len(buf), AccessRead); err != nil {
		return err
	}
	for len(buf) > 0 {
		p := m.pages[addr>>PageShift]
		n := copy(buf, p.data[addr&PageMask:])
		buf = buf[n:]
		addr += uint64(n)
	}
	return nil
}

// Poke copies data to addr ignoring permissions (as text_poke does); every
// page must be mapped. The generation of every page written changes, so
// CPUs re-decode patched code.
func (m *Memory) Poke(addr uint64, data []byte) error {
	if err := m.checkMapped(addr, len(data), AccessWrite); err != nil {
		return err
	}
	for a, n := addr, 0; n < len(data); {
		p := m.pages[a>>PageShift]
		k := copy(p.data[a&PageMask:], data[n:])
		p.gen++
		n += k
		a += uint64(k)
	}
	return nil
}

// checkMapped returns a fault for the first unmapped page of the range.
func (m *Memory) checkMapped(addr uint64, n int, acc Access) error {
	end := addr + uint64(n)
	for a := addr; n > 0; a = (a | PageMask) + 1 {
		if m.pages[a>>PageShift] == nil {
			return &Fault{Addr: a, Access: acc}
		}
		if (a|PageMask)+1 >= end || (a|PageMask)+1 == 0 {
			break
		}
	}
	return nil
}
