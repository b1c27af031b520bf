package sections

import (
	"debug/elf"
	"testing"
)

// TestRules checks the table's invariants: every rule has an entry size
// source and an architecture, names are unique, and .fixup comes before
// __ex_table (whose addends into .fixup are rewritten when .fixup groups
// move).
func TestRules(t *testing.T) {
	seen := map[string]int{}
	for i, r := range Rules {
		if _, dup := seen[r.Name]; dup {
			t.Errorf("%s listed twice", r.Name)
		}
		seen[r.Name] = i
		if len(r.Arches) == 0 {
			t.Errorf("%s: no architecture", r.Name)
		}
		if (r.SizeEnv == "") == (r.Size == 0) && r.Grouping == Fixed {
			t.Errorf("%s: want exactly one of SizeEnv and Size", r.Name)
		}
		if r.Filter != NoFilter && r.Relocs == 0 {
			t.Errorf("%s: a filtered section must fix its relocations per entry", r.Name)
		}
	}
	if seen[".fixup"] > seen["__ex_table"] {
		t.Error(".fixup must be processed before __ex_table")
	}
	x86 := 0
	for i := range Rules {
		if Rules[i].For(elf.EM_X86_64) {
			x86++
		}
	}
	if x86 < 12 {
		t.Errorf("%d x86-64 rules, want the reference's 12", x86)
	}
}

func TestRuntimeConstant(t *testing.T) {
	for name, want := range map[string]string{
		"runtime_ptr_USER_PTR_MAX":   "USER_PTR_MAX",
		"runtime_shift_d_hash_shift": "d_hash_shift",
		"runtime_ptr_":               "",
		".rela.runtime_ptr_X":        "",
		"__ex_table":                 "",
	} {
		got, ok := RuntimeConstant(name)
		if got != want || ok != (want != "") {
			t.Errorf("RuntimeConstant(%q) = %q, %v, want %q", name, got, ok, want)
		}
	}
}
