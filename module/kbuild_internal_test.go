package module

import (
	"debug/elf"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
)

// TestDropUnresolved: an undefined symbol whose references all became klp
// relocations is dropped; one a relocation still uses is kept, and so are
// defined and absolute symbols.
func TestDropUnresolved(t *testing.T) {
	text := &elfobj.Section{Name: ".text", Type: elf.SHT_PROGBITS}
	used := &elfobj.Symbol{Name: "seq_puts", Bind: elf.STB_GLOBAL}
	gone := &elfobj.Symbol{Name: "saved_command_line", Bind: elf.STB_GLOBAL}
	def := &elfobj.Symbol{Name: "f", Bind: elf.STB_LOCAL, Type: elf.STT_FUNC, Section: text}
	abs := &elfobj.Symbol{Name: "a.c", Type: elf.STT_FILE, Shndx: elf.SHN_ABS}
	rela := &elfobj.Section{Name: ".rela.text", Type: elf.SHT_RELA, Base: text,
		Relocs: []elfobj.Reloc{{Offset: 1, Type: uint32(elf.R_X86_64_PLT32), Sym: used, Addend: -4}}}
	f := &elfobj.File{Sections: []*elfobj.Section{text, rela}, Symbols: []*elfobj.Symbol{{}, abs, def, used, gone}}
	if err := dropUnresolved(f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range f.Symbols[1:] {
		names = append(names, s.Name)
	}
	if got, want := strings.Join(names, " "), "a.c f seq_puts"; got != want {
		t.Errorf("symbols %q, want %q", got, want)
	}
}

// TestCheckModinfo: what kbuild must have put in .modinfo for a live patch.
func TestCheckModinfo(t *testing.T) {
	mk := func(kv ...string) *elfobj.File {
		data := []byte(strings.Join(kv, "\x00") + "\x00")
		return &elfobj.File{Sections: []*elfobj.Section{{Name: ".modinfo", Type: elf.SHT_PROGBITS, Data: data, Size: uint64(len(data))}}}
	}
	good := []string{"livepatch=Y", "name=livepatch_x", "vermagic=6.1.0-99-test SMP preempt mod_unload modversions "}
	if err := checkModinfo(mk(good...), "livepatch_x", "6.1.0-99-test"); err != nil {
		t.Errorf("good modinfo: %v", err)
	}
	for _, c := range []struct {
		f    *elfobj.File
		want string
	}{
		{&elfobj.File{}, "no .modinfo"},
		{mk(good[1:]...), "livepatch=Y"},
		{mk(good[0], "name=other", good[2]), `name is "other"`},
		{mk(good[0], good[1], "vermagic=6.1.0-98-test SMP"), "not for release 6.1.0-99-test"},
	} {
		if err := checkModinfo(c.f, "livepatch_x", "6.1.0-99-test"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v, want %q", err, c.want)
		}
	}
}
