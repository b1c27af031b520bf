package elfdiff_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// corpusCaseOf returns the named case of an architecture's corpus folder.
func corpusCaseOf(t testing.TB, arch, name string) corpusCase {
	t.Helper()
	for _, c := range loadCorpusDir(t, archCorpusDir(t, arch)) {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %s in the %s corpus", name, arch)
	return corpusCase{}
}

// rewrite reads the object at path, lets edit change it and writes it to
// a temporary file, whose path it returns.
func rewrite(t *testing.T, path string, edit func(f *elfobj.File)) string {
	t.Helper()
	f, err := elfobj.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(f)
	out := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := f.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPatchableEntryRule checks the rule that finds an arm64 function's
// patchable entry: NOPs before its symbol belong to it only when a
// __patchable_function_entries relocation designates the first of them
// and nothing but NOPs lies between. Break either half and the symbol's
// offset in its own section is refused, naming the symbol.
func TestPatchableEntryRule(t *testing.T) {
	c := corpusCaseOf(t, "aarch64", "cmdline-patch")
	const fn, sec = "cmdline_proc_show", ".text.cmdline_proc_show"
	for _, m := range []struct {
		name string
		edit func(t *testing.T, f *elfobj.File)
	}{
		{"first NOP replaced by mov x0, x0", func(t *testing.T, f *elfobj.File) {
			s := f.SectionByName(sec)
			data := append([]byte(nil), s.Data...)
			copy(data, []byte{0xe0, 0x03, 0x00, 0xaa})
			s.Data = data
		}},
		{"its __patchable_function_entries relocation dropped", func(t *testing.T, f *elfobj.File) {
			n := 0
			for _, s := range f.Sections {
				if s.Base != nil && s.Base.Name == "__patchable_function_entries" && len(s.Relocs) == 1 &&
					s.Relocs[0].Sym.Section != nil && s.Relocs[0].Sym.Section.Name == sec {
					s.Relocs = nil
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d patchable-entry relocations to %s", n, sec)
			}
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			orig := rewrite(t, c.orig, func(f *elfobj.File) { m.edit(t, f) })
			_, err := diffPaths(t, orig, c.patched, nil, nil, c.env)
			var e *refusal.Error
			if !errors.As(err, &e) || e.Key != refusal.SymbolOffset {
				t.Fatalf("err %v, want a %s refusal", err, refusal.SymbolOffset)
			}
			if !strings.Contains(e.Msg, fn) || !strings.Contains(e.Msg, "offset 8") || !strings.Contains(e.Msg, "expected 0") {
				t.Errorf("message %q does not name %s at offset 8", e.Msg, fn)
			}
		})
	}
}

// TestLocalLabelsFolded checks that no loongarch output carries the
// assembler's local labels (.LC0, .LPFE1, .LVL2): every reference to one
// became a reference to its section or to the symbol containing it.
func TestLocalLabelsFolded(t *testing.T) {
	for _, c := range loadCorpusDir(t, archCorpusDir(t, "loongarch64")) {
		res, err := runCase(t, c)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		n := 0
		for _, s := range res.Output.Symbols {
			if strings.HasPrefix(s.Name, ".L") || strings.HasPrefix(s.Name, "L0\x01") {
				t.Errorf("%s: output keeps label %q", c.name, s.Name)
			}
			n++
		}
		if n == 0 {
			t.Errorf("%s: output has no symbols", c.name)
		}
	}
}
