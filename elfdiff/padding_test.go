package elfdiff_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestCallPadding diffs objects built as a CALL_PADDING + IBT kernel
// builds them (6.12): each function sits 16 bytes into its section after
// 16 NOPs, with no __pfx_ symbol until objtool runs at link time. A
// changed or new function's section travels whole, its padding before
// its ENDBR64 entry, so objtool can give it its prefix and the loader its
// call thunk; unchanged functions are not in the output, and the ftrace
// sites (__mcount_loc) are the calls after the ENDBR64.
func TestCallPadding(t *testing.T) {
	c := ownCase{dir: filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "call-padding")}
	res, err, _ := c.run()
	if err != nil {
		t.Fatal(err)
	}
	b, err := res.Output.Write()
	if err != nil {
		t.Fatal(err)
	}
	out, err := elfobj.Read("out", b)
	if err != nil {
		t.Fatal(err)
	}
	nops := bytes.Repeat([]byte{0x90}, 16)
	endbr := []byte{0xf3, 0x0f, 0x1e, 0xfa}
	var sites []string
	if m := out.SectionByName("__mcount_loc"); m == nil || m.Rela == nil {
		t.Error("no __mcount_loc with relocations in the output")
	} else {
		for _, r := range m.Rela.Relocs {
			sites = append(sites, r.Sym.Name+"+"+strconv.FormatInt(r.Addend, 10))
		}
	}
	for _, fn := range []string{"show_plain", "show_quiet", "run_show", "pick_show"} {
		sym := out.SymbolByName(fn)
		if sym == nil || sym.Section == nil {
			t.Errorf("%s: not defined in the output", fn)
			continue
		}
		data := sym.Section.Data
		if sym.Section.Name != ".text."+fn || sym.Value != 16 || len(data) < 20 {
			t.Errorf("%s: at %s+%d (%d bytes), want .text.%s+16", fn, sym.Section.Name, sym.Value, len(data), fn)
			continue
		}
		if !bytes.Equal(data[:16], nops) {
			t.Errorf("%s: padding % x, want 16 NOPs", fn, data[:16])
		}
		if !bytes.Equal(data[16:20], endbr) {
			t.Errorf("%s: entry % x, want ENDBR64", fn, data[16:20])
		}
		// The site is the call after ENDBR64, relative to the section
		// symbol or the function.
		if !slices.Contains(sites, ".text."+fn+"+20") && !slices.Contains(sites, fn+"+4") {
			t.Errorf("%s: no __mcount_loc entry for its call at +4 after ENDBR64 (entries %q)", fn, sites)
		}
	}
	for _, fn := range []string{"show_twice", "unchanged_helper"} {
		if s := out.SymbolByName(fn); s != nil && s.Section != nil {
			t.Errorf("%s: unchanged, but defined in the output (section %s)", fn, s.Section.Name)
		}
		if s := out.SectionByName(".text." + fn); s != nil {
			t.Errorf("%s: unchanged, but its section is in the output", fn)
		}
	}
}
