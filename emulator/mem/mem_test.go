package mem

import (
	"errors"
	"testing"
)

func mustMap(t *testing.T, m *Memory, addr, size uint64, p Perm) {
	t.Helper()
	if err := m.Map(addr, size, p); err != nil {
		t.Fatal(err)
	}
}

func TestReadWriteSizes(t *testing.T) {
	m := New()
	mustMap(t, m, 0x1000, 0x2000, PermRW)
	tests := []struct {
		addr uint64
		size int
		v    uint64
	}{
		{0x1000, 1, 0xab},
		{0x1001, 2, 0xbeef},
		{0x1ffe, 4, 0xdeadbeef},         // straddles the page boundary
		{0x1ffd, 8, 0x0123456789abcdef}, // straddles the page boundary
		{0x2ff8, 8, 0xfedcba9876543210},
		{0x2000, 2, 0x1234},
	}
	for _, tt := range tests {
		if err := m.Write(tt.addr, tt.v, tt.size); err != nil {
			t.Fatalf("write %#x/%d: %v", tt.addr, tt.size, err)
		}
		got, err := m.Read(tt.addr, tt.size)
		if err != nil || got != tt.v {
			t.Errorf("read %#x/%d = %#x, %v; want %#x", tt.addr, tt.size, got, err, tt.v)
		}
	}
	var buf [4]byte
	if err := m.ReadBytes(0x1ffd, buf[:]); err != nil || buf != [4]byte{0xef, 0xcd, 0xab, 0x34} {
		t.Errorf("ReadBytes = % x, %v", buf, err)
	}
}

func TestFaults(t *testing.T) {
	m := New()
	mustMap(t, m, 0x10000, 0x1000, PermRW)
	mustMap(t, m, 0x11000, 0x1000, PermRead)
	mustMap(t, m, 0x12000, 0x1000, PermNone)
	tests := []struct {
		name    string
		do      func() error
		addr    uint64
		acc     Access
		present bool
	}{
		{"read unmapped", func() error { _, err := m.Read64(0x9000); return err }, 0x9000, AccessRead, false},
		{"write read-only", func() error { return m.Write32(0x11004, 1) }, 0x11004, AccessWrite, true},
		{"read no-access", func() error { _, err := m.Read8(0x12000); return err }, 0x12000, AccessRead, true},
		{"straddling write", func() error { return m.Write64(0x10ffc, 1) }, 0x11000, AccessWrite, true},
		{"straddling read", func() error { _, err := m.Read64(0x11ffc); return err }, 0x12000, AccessRead, true},
		{"bytes", func() error { return m.WriteBytes(0x10ff0, make([]byte, 32)) }, 0x11000, AccessWrite, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var f *Fault
			if !errors.As(err, &f) || !errors.Is(err, ErrFault) {
				t.Fatalf("err = %v, want *Fault", err)
			}
			if f.Addr != tt.addr || f.Access != tt.acc || f.Present != tt.present {
				t.Errorf("fault = %+v, want addr %#x %v present=%v", f, tt.addr, tt.acc, tt.present)
			}
		})
	}
	// A straddling write that faults must not have written the first part.
	if v, _ := m.Read32(0x10ffc); v != 0 {
		t.Errorf("partial write leaked: %#x", v)
	}
}

func TestGenerationAndProtect(t *testing.T) {
	m := New()
	mustMap(t, m, 0x4000, 0x1000, PermRX)
	p := m.PageAt(0x4000)
	g := p.Gen()
	if err := m.Write8(0x4000, 1); err == nil {
		t.Fatal("write to r-x page succeeded")
	}
	if err := m.Poke(0x4001, []byte{0x90}); err != nil {
		t.Fatal(err)
	}
	if p.Gen() == g {
		t.Error("Poke did not change the generation")
	}
	g = p.Gen()
	if err := m.Protect(0x4000, 0x1000, PermRWX); err != nil {
		t.Fatal(err)
	}
	if p.Gen() == g {
		t.Error("Protect did not change the generation")
	}
	g = p.Gen()
	if err := m.Write8(0x4002, 1); err != nil {
		t.Fatal(err)
	}
	if p.Gen() == g {
		t.Error("Write did not change the generation")
	}
	// The cached translation must see the new permission.
	if err := m.Protect(0x4000, 0x1000, PermRead); err != nil {
		t.Fatal(err)
	}
	if err := m.Write8(0x4002, 1); err == nil {
		t.Error("write after Protect(r) succeeded")
	}
	if err := m.Unmap(0x4000, 0x1000); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Read8(0x4000); err == nil {
		t.Error("read after Unmap succeeded")
	}
}

func TestMapErrors(t *testing.T) {
	m := New()
	mustMap(t, m, 0x1000, 0x1000, PermRW)
	for _, tt := range []struct {
		name       string
		addr, size uint64
	}{
		{"unaligned", 0x1001, 0x1000},
		{"empty", 0x3000, 0},
		{"overlap", 0x0, 0x2000},
		{"wrap", 0xfffffffffffff000, 0x2000},
	} {
		if err := m.Map(tt.addr, tt.size, PermRW); err == nil {
			t.Errorf("%s: Map succeeded", tt.name)
		}
	}
	mustMap(t, m, 0xfffffffffffff000, 0x1000, PermRW)
	mustMap(t, m, 0x3000, 0x1000, PermRX)
	want := []Region{{0x1000, 0x1000, PermRW}, {0x3000, 0x1000, PermRX}, {0xfffffffffffff000, 0x1000, PermRW}}
	got := m.Regions()
	if len(got) != len(want) {
		t.Fatalf("Regions = %v", got)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("Regions[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func BenchmarkRead64(b *testing.B) {
	m := New()
	if err := m.Map(0x1000, 0x1000, PermRW); err != nil {
		b.Fatal(err)
	}
	var s uint64
	for i := 0; i < b.N; i++ {
		v, _ := m.Read64(0x1000 + uint64(i&511)*8)
		s += v
	}
	_ = s
}
