package kerneltree

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// directivesSource has macros expanded at columns that the expansion
// moves (tabs, runs of spaces, nested macros, a function-like macro
// across lines), a static inline and a command-line macro (VAL) and a
// forced include (ADD), as the kernel's commands have.
const directivesSource = `#define TWICE(x)	((x)  +   (x))
#define CLAMP(v, lo, hi) ((v) < (lo) ? (lo) : \
                          (v) > (hi) ? (hi) : (v))
struct s { int a;	long b; };

static inline int scaled(const struct s *p)
{
	return   TWICE(p->a) *	VAL + ADD(p->b);
}

int directives_user(struct s *p, int n)
{
	int i, sum = 0;
	for (i = 0;   i < n; i++)
		sum +=	CLAMP(scaled(&p[i]),  -TWICE(VAL), TWICE(100));
	return sum;
}
`

// TestDirectivesOnly: an object compiled the way distcc compiles it
// (all options and -E here; the compile of the .i, without -D, -I and
// -include, elsewhere) is byte-identical to one compiled in one step
// when both carry DirectivesOnly; and DirectivesOnly changes nothing in
// a one-step compile but the producer string in .debug_str (and the
// relocations' offsets into it).
func TestDirectivesOnly(t *testing.T) {
	if !strings.Contains(KCFLAGS, DirectivesOnly) {
		t.Errorf("KCFLAGS %q lack %s", KCFLAGS, DirectivesOnly)
	}
	gcc := testutil.NeedTool(t, "gcc")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.c"), []byte(directivesSource), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "add.h"), []byte("#define ADD(x) ((int)(x) << 1)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	flags := []string{"-O2", "-g", "-ffunction-sections", "-fdata-sections"}
	local := []string{"-DVAL=3", "-include", "add.h", "-I."} // what distcc keeps for its local preprocessor
	run := func(args ...string) {
		t.Helper()
		c := exec.Command(gcc, args...)
		c.Dir = dir
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	oneStep := func(out string, extra ...string) []byte {
		run(append(append(append(append([]string{}, flags...), extra...), local...), "-c", "-o", out, "a.c")...)
		return readFile(t, filepath.Join(dir, out))
	}
	twoSteps := func(out string, extra ...string) []byte {
		run(append(append(append(append([]string{}, flags...), extra...), local...), "-E", "-o", out+".i", "a.c")...)
		run(append(append(append([]string{}, flags...), extra...), "-c", "-o", out, out+".i")...)
		return readFile(t, filepath.Join(dir, out))
	}

	plain := oneStep("plain.o")
	with := oneStep("with.o", DirectivesOnly)
	split := twoSteps("split.o", DirectivesOnly)
	if !bytes.Equal(with, split) {
		t.Errorf("with %s, the object compiled in two steps differs from the one-step object: sections %v", DirectivesOnly, testutil.DifferingSections(t, with, split))
	}
	diff := testutil.DifferingSections(t, plain, with)
	for _, name := range diff {
		if name != ".debug_str" && name != ".rela.debug_info" {
			t.Errorf("%s changes section %s of a one-step compile (differing: %v)", DirectivesOnly, name, diff)
		}
	}
	ps, ws := section(t, plain, ".debug_str"), section(t, with, ".debug_str")
	if !bytes.Contains(ws, []byte(" "+DirectivesOnly)) {
		t.Errorf("the producer string does not record %s: %q", DirectivesOnly, ws)
	} else if got := bytes.Replace(ws, []byte(" "+DirectivesOnly), nil, 1); !bytes.Equal(got, ps) {
		t.Errorf(".debug_str differs by more than %s:\nwithout: %q\nwith:    %q", DirectivesOnly, ps, ws)
	}
	// Why the flag is there: without it, the two-step object's DWARF
	// counts columns in the expanded text.
	t.Logf("without %s, a two-step compile differs from a one-step one in %v", DirectivesOnly, testutil.DifferingSections(t, plain, twoSteps("plainsplit.o")))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// section is the contents of the section called name.
func section(t *testing.T, obj []byte, name string) []byte {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(obj))
	if err != nil {
		t.Fatal(err)
	}
	s := f.Section(name)
	if s == nil {
		t.Fatalf("no section %s", name)
	}
	b, err := s.Data()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
