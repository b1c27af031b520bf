package elfdiff_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
	"github.com/kpatchgo/kpatch-build/relocs"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// corpusEnv is the environment kpatch's unit tests give create-diff-object.
var corpusEnv = map[string]string{
	"PARA_STRUCT_SIZE": "16", "EX_STRUCT_SIZE": "12", "BUG_STRUCT_SIZE": "12", "ALT_STRUCT_SIZE": "13",
	"JUMP_STRUCT_SIZE": "24", "ORC_STRUCT_SIZE": "6", "STATIC_CALL_STRUCT_SIZE": "8", "PRINTK_INDEX_STRUCT_SIZE": "44",
}

// corpusCase is one case of the kpatch unit-object corpus.
type corpusCase struct {
	name, orig, patched string
	env                 map[string]string
	symvers             string
	expect              map[string][]string // record kind -> lines (without the kind)
}

// loadCorpus loads the x86_64 corpus.
func loadCorpus(t testing.TB) []corpusCase {
	return loadCorpusDir(t, testutil.CorpusDir(t))
}

// corpusArches are the architecture folders of the corpus, beside the
// x86_64 one.
var corpusArches = []string{"x86_64", "ppc64le", "s390x", "aarch64", "loongarch64"}

// archCorpusDir returns the corpus folder of arch (a sibling of the x86_64
// folder), or reports it Missing.
func archCorpusDir(t testing.TB, arch string) string {
	t.Helper()
	x86, _ := testutil.CorpusPath()
	dir := x86
	if arch != "x86_64" {
		dir = filepath.Join(filepath.Dir(x86), arch)
	}
	if _, err := os.Stat(dir); err != nil {
		testutil.Missing(t, "kpatch unit-object corpus for %s not found at %s (set KPATCH_UNIT_OBJS or place ../shared beside the repo)", arch, dir)
	}
	return dir
}

// loadCorpusDir loads the cases of one architecture folder of the corpus.
func loadCorpusDir(t testing.TB, dir string) []corpusCase {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.expect"))
	// The x86_64 folder uses corpusEnv; the other architectures' folders
	// (KPATCH_UNIT_OBJS pointing at them) carry theirs in a one-line ENV.
	base := corpusEnv
	if b, err := os.ReadFile(filepath.Join(dir, "ENV")); err == nil {
		base = map[string]string{}
		for _, kv := range strings.Fields(string(b)) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				base[k] = v
			}
		}
	}
	var cases []corpusCase
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".expect")
		c := corpusCase{name: name, orig: filepath.Join(dir, name+".ORIG.o"), env: map[string]string{}, expect: map[string][]string{}}
		c.patched = filepath.Join(dir, name+".PATCHED.o")
		if _, err := os.Stat(c.patched); err != nil {
			c.patched = filepath.Join(dir, name+".PATCHED.FAIL.o")
		}
		for k, v := range base {
			c.env[k] = v
		}
		if b, err := os.ReadFile(filepath.Join(dir, name+".env")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok {
					c.env[k] = v
				}
			}
		}
		if _, err := os.Stat(filepath.Join(dir, name+".symvers")); err == nil {
			c.symvers = filepath.Join(dir, name+".symvers")
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			kind, rest, _ := strings.Cut(sc.Text(), " ")
			c.expect[kind] = append(c.expect[kind], rest)
		}
		f.Close()
		cases = append(cases, c)
	}
	return cases
}

// diffPaths diffs two object files against the parent symbol table tab
// (nil: the original object's own symbols, as kpatch's unit tests run) and
// the exports sv, with env giving the struct sizes. A file that cannot be
// read fails the test; the diff's own result is returned.
func diffPaths(t testing.TB, origPath, patchedPath string, tab *symtab.Table, sv *symtab.Symvers, env map[string]string) (*elfdiff.Result, error) {
	t.Helper()
	orig, err := elfobj.Open(origPath)
	if err != nil {
		t.Fatal(err)
	}
	patched, err := elfobj.Open(patchedPath)
	if err != nil {
		t.Fatal(err)
	}
	if tab == nil {
		if tab, err = symtab.Load(origPath); err != nil {
			t.Fatal(err)
		}
	}
	return elfdiff.Diff(orig, patched, elfdiff.Options{
		Parent: "vmlinux", Table: tab, Symvers: sv,
		Getenv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
}

// runCase diffs one corpus case the way kpatch's unit tests run
// create-diff-object.
func runCase(t testing.TB, c corpusCase) (*elfdiff.Result, error) {
	t.Helper()
	var sv *symtab.Symvers
	if c.symvers != "" {
		var err error
		if sv, err = symtab.LoadSymvers(c.symvers); err != nil {
			t.Fatal(err)
		}
	}
	return diffPaths(t, c.orig, c.patched, nil, sv, c.env)
}

// sectionNames lists the sections of f by name, sorted, as the corpus's
// "section" records do.
func sectionNames(f *elfobj.File) []string {
	var names []string
	for _, s := range f.Sections {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	sort.Strings(names)
	return names
}

// checkModinfo checks the output's .modinfo: one "import_ns=NS" record
// for each record of the patched object's .modinfo that names an import
// ("import_ns=NS", or "MODNAME.import_ns=NS" in an object built into
// vmlinux), in order, and nothing else.
func checkModinfo(t *testing.T, patchedPath string, out *elfobj.File) {
	t.Helper()
	patched, err := elfobj.Open(patchedPath)
	if err != nil {
		t.Fatal(err)
	}
	records := func(f *elfobj.File) []string {
		s := f.SectionByName(".modinfo")
		if s == nil {
			return nil
		}
		var recs []string
		for _, r := range strings.Split(string(s.Data), "\x00") {
			if r != "" {
				recs = append(recs, r)
			}
		}
		return recs
	}
	var want []string
	for _, r := range records(patched) {
		if i := strings.Index(r, "import_ns="); i >= 0 && !strings.Contains(r[:i], "=") {
			want = append(want, r[i:])
		}
	}
	if diff := cmp.Diff(want, records(out)); diff != "" {
		t.Errorf(".modinfo records (-want +got):\n%s", diff)
	}
}

// TestCorpus runs every architecture folder of the corpus, one subtest
// per architecture and case.
func TestCorpus(t *testing.T) {
	for _, arch := range corpusArches {
		t.Run(arch, func(t *testing.T) {
			dir := archCorpusDir(t, arch)
			cases := loadCorpusDir(t, dir)
			if len(cases) == 0 {
				t.Fatalf("no *.expect cases in %s", dir)
			}
			if err := archSupported(t, cases[0].orig); err != nil {
				t.Skipf("%s: %v", arch, err)
			}
			for _, c := range cases {
				t.Run(c.name, func(t *testing.T) { runCorpusCase(t, c) })
			}
		})
	}
}

// archSupported returns the error relocs.ForMachine gives for the
// machine of the object at path: the corpus of an architecture whose
// tables are not filled in yet is skipped with that message.
func archSupported(t *testing.T, path string) error {
	t.Helper()
	f, err := elfobj.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = relocs.ForMachine(f.Machine)
	return err
}

// runCorpusCase diffs one case and compares exit code, functions, changes,
// records and section names with its .expect.
func runCorpusCase(t *testing.T, c corpusCase) {
	res, err := runCase(t, c)
	code := elfdiff.ExitCode(err)
	want := c.expect["exit"][0]
	if fmt.Sprint(code) != want {
		t.Fatalf("exit %d (%v), want %s", code, err, want)
	}
	if code != 0 {
		return
	}
	out, werr := res.Output.Write()
	if werr != nil {
		t.Fatalf("write: %v", werr)
	}
	checkWellFormed(t, out)
	checkDebugInfo(t, c.patched, out)
	g, rerr := elfobj.Read("out", out)
	if rerr != nil {
		t.Fatalf("re-read output: %v", rerr)
	}
	var funcs []string
	for _, f := range elfdiff.FuncSymbols(g) {
		funcs = append(funcs, f)
	}
	if diff := cmp.Diff(c.expect["func"], funcs); diff != "" {
		t.Errorf("function symbols (-want +got):\n%s", diff)
	}
	var changes []string
	for _, ch := range res.Report.Changes {
		changes = append(changes, ch.Kind+" "+ch.Function)
	}
	if diff := cmp.Diff(c.expect["change"], changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}
	got := map[string][]string{}
	for _, l := range kpatchfmt.Describe(g) {
		kind, rest, _ := strings.Cut(l, " ")
		got[kind] = append(got[kind], rest)
	}
	checkModinfo(t, c.patched, g)
	got["section"] = sectionNames(g)
	kinds := []string{"kfunc", "krela", "callback", "section"}
	if len(c.expect["kfunc"]) == 0 {
		// Every output patches at least one function, so an expect with
		// no kfunc record had none captured: the records were read from
		// the reference's output by a tool that reads little-endian
		// objects only (the s390x folder).
		t.Logf("%s: no kfunc/krela/callback records in the .expect (big-endian reference output); comparing sections only", c.name)
		kinds = []string{"section"}
	}
	for _, kind := range kinds {
		if diff := cmp.Diff(c.expect[kind], got[kind]); diff != "" {
			t.Errorf("%s records (-want +got):\n%s", kind, diff)
		}
	}
}
