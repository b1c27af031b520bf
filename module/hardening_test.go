package module_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/module"
)

// TestHardening assembles testdata/hardening/module.S, a module as kbuild
// links it for an IBT and return-thunk kernel, and checks that the
// static check passes on it and reports each way of breaking it.
func TestHardening(t *testing.T) {
	gcc := testutil.NeedTool(t, "gcc")
	src, err := os.ReadFile(filepath.Join("testdata", "hardening", "module.S"))
	if err != nil {
		t.Fatal(err)
	}
	assemble := func(t *testing.T, text string) *elfobj.File {
		dir := t.TempDir()
		s := filepath.Join(dir, "m.S")
		if err := os.WriteFile(s, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		o := filepath.Join(dir, "m.o")
		if out, err := exec.Command(gcc, "-c", s, "-o", o).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		f, err := elfobj.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	// breakLine replaces the instruction of the line marked BREAK-name.
	breakLine := func(t *testing.T, name, with string) string {
		var lines []string
		found := false
		for _, l := range strings.Split(string(src), "\n") {
			if strings.Contains(l, "BREAK-"+name+" ") {
				label, _, hasLabel := strings.Cut(strings.TrimSpace(l), ":")
				l = "\t" + with
				if hasLabel && !strings.Contains(label, " ") {
					l = label + ":" + l
				}
				found = true
			}
			lines = append(lines, l)
		}
		if !found {
			t.Fatalf("no BREAK-%s in module.S", name)
		}
		return strings.Join(lines, "\n")
	}

	good, err := module.CheckHardening(assemble(t, string(src)))
	if err != nil {
		t.Fatal(err)
	}
	if !good.IBT || !good.Rethunk || len(good.Problems) > 0 {
		t.Fatalf("the good module: IBT %v, return thunks %v, problems %q", good.IBT, good.Rethunk, good.Problems)
	}
	testutil.Golden(t, filepath.Join("testdata", "hardening", "good.golden"), good.String())
	// direct is only called directly: it is no indirect entry.
	for _, e := range good.Entries {
		if strings.HasPrefix(e, "direct:") {
			t.Errorf("a function only called directly listed as an indirect entry: %s", e)
		}
	}

	cases := []struct {
		name, with, want string
	}{
		{"endbr", "nop; nop; nop; nop", "helper can be entered indirectly (address taken in .text.replacement) but does not start with ENDBR64"},
		{"bare-ret", "ret", "replacement+0x12: a bare return"},
		{"return-site", ".long 2b - .", "replacement+0x12: a jump to __x86_return_thunk that .return_sites does not list"},
	}
	// A replacement function is entered by the ftrace trampoline's
	// return: without ENDBR64 it is listed, not refused.
	h, err := module.CheckHardening(assemble(t, breakLine(t, "replacement-endbr", "nop; nop; nop; nop")))
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Problems) > 0 || !strings.Contains(strings.Join(h.Entries, "\n"), "replacement: no ENDBR64, not needed") {
		t.Errorf("a replacement without ENDBR64: problems %q, entries %q", h.Problems, h.Entries)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := assemble(t, breakLine(t, c.name, c.with))
			h, err := module.CheckHardening(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(h.Problems, "\n"), c.want) {
				t.Errorf("problems %q, want one containing %q", h.Problems, c.want)
			}
			// inspect says the module is malformed.
			if l := module.Inspect(f); !strings.Contains(strings.Join(l.Problems, "\n"), c.want) {
				t.Errorf("Inspect's problems %q lack %q", l.Problems, c.want)
			}
		})
	}
}
