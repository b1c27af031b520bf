package kallsyms

import "testing"

// TestSymposByAddress numbers duplicate names by address, as Linux's
// kallsyms table is sorted, whatever their order in the symbol table.
func TestSymposByAddress(t *testing.T) {
	tab := New()
	syms := []*Symbol{
		{Name: "counter", Addr: 0x3000, Kind: Object}, // file A's static variable, in .data
		{Name: "helper", Addr: 0x1100, Kind: Func},
		{Name: "counter", Addr: 0x1000, Kind: Func}, // file B's static function, in .text
		{Name: "helper", Addr: 0x1200, Kind: Func},
		{Name: "unique", Addr: 0x1300, Kind: Func, Global: true},
	}
	if err := tab.Add("vmlinux", syms); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pos  int
		addr uint64
		fail bool
	}{
		{"counter", 1, 0x1000, false},
		{"counter", 2, 0x3000, false},
		{"helper", 1, 0x1100, false},
		{"helper", 2, 0x1200, false},
		{"helper", 3, 0, true},
		{"helper", 0, 0, true}, // ambiguous
		{"unique", 0, 0x1300, false},
		{"missing", 0, 0, true},
	} {
		s, err := tab.Find("", tc.name, tc.pos)
		if tc.fail {
			if err == nil {
				t.Errorf("%s,%d: found %v, want an error", tc.name, tc.pos, s)
			}
			continue
		}
		if err != nil || s.Addr != tc.addr {
			t.Errorf("%s,%d: %v %v, want address %#x", tc.name, tc.pos, s, err, tc.addr)
		}
	}
	if err := tab.Add("vmlinux", nil); err == nil {
		t.Error("adding an object twice succeeded")
	}
	if _, err := tab.Find("hello", "x", 0); err == nil {
		t.Error("found a symbol of an object not loaded")
	}
}
