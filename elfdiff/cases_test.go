package elfdiff_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// caseEnv holds the struct sizes of the headers in testdata/diffcases/include.
var caseEnv = map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "14", "STATIC_CALL_STRUCT_SIZE": "8"}

type ownCase struct {
	dir  string
	keys map[string][]string
	// objDir holds the case's built objects (orig.o, patched.o and, for
	// a case with other.c, symtab.txt); empty: dir, the checked-in ones.
	objDir string
}

// objects returns the directory of the case's built objects.
func (c ownCase) objects() string {
	if c.objDir != "" {
		return c.objDir
	}
	return c.dir
}

func loadOwnCases(t *testing.T) []ownCase {
	root := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases")
	files, _ := filepath.Glob(filepath.Join(root, "*", "case.txt"))
	if len(files) < 25 {
		t.Fatalf("found %d cases in %s, want at least 25", len(files), root)
	}
	var cases []ownCase
	for _, f := range files {
		c := ownCase{dir: filepath.Dir(f), keys: map[string][]string{}}
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
			if k != "" {
				c.keys[k] = append(c.keys[k], v)
			}
		}
		fh.Close()
		cases = append(cases, c)
	}
	return cases
}

func (c ownCase) run() (*elfdiff.Result, error, []string) {
	var log []string
	orig, err := elfobj.Open(filepath.Join(c.objects(), "orig.o"))
	if err != nil {
		return nil, err, nil
	}
	patched, err := elfobj.Open(filepath.Join(c.objects(), "patched.o"))
	if err != nil {
		return nil, err, nil
	}
	// Name the objects the same on every checkout, for the golden files.
	orig.Name = "diffcases/" + filepath.Base(c.dir) + "/orig.o"
	patched.Name = "diffcases/" + filepath.Base(c.dir) + "/patched.o"
	stPath := filepath.Join(c.objects(), "symtab.txt")
	if _, err := os.Stat(stPath); err != nil {
		stPath = filepath.Join(c.objects(), "orig.o")
	}
	tab, err := symtab.Load(stPath)
	if err != nil {
		return nil, err, nil
	}
	var sv *symtab.Symvers
	if p := filepath.Join(c.dir, "symvers"); fileExists(p) {
		if sv, err = symtab.LoadSymvers(p); err != nil {
			return nil, err, nil
		}
	}
	res, err := elfdiff.Diff(orig, patched, elfdiff.Options{
		Parent: "vmlinux", Table: tab, Symvers: sv,
		Getenv: func(k string) (string, bool) { v, ok := caseEnv[k]; return v, ok },
		Logf:   func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) },
	})
	return res, err, log
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestOwnCases(t *testing.T) {
	for _, c := range loadOwnCases(t) {
		name := filepath.Base(c.dir)
		t.Run(name, func(t *testing.T) {
			res, err, log := c.run()
			if res == nil {
				t.Fatal(err)
			}
			code := elfdiff.ExitCode(err)
			if want := c.keys["exit"]; len(want) != 1 || fmt.Sprint(code) != want[0] {
				t.Fatalf("exit %d (%v), want %v", code, err, want)
			}
			var changed, added []string
			for _, ch := range res.Report.Changes {
				if ch.Kind == "new" {
					added = append(added, ch.Function)
				} else {
					changed = append(changed, ch.Function)
				}
			}
			if !slices.Equal(changed, c.keys["changed"]) {
				t.Errorf("changed functions %q, want %q", changed, c.keys["changed"])
			}
			if !slices.Equal(added, c.keys["new"]) {
				t.Errorf("new functions %q, want %q", added, c.keys["new"])
			}
			for _, r := range c.keys["refuse"] {
				text := ""
				if err != nil {
					text = err.Error()
				}
				text += "\n" + strings.Join(log, "\n")
				if !strings.Contains(text, r) {
					t.Errorf("refusal %q does not contain %q", text, r)
				}
			}
			if code != 0 && code != 3 && (res.Report.Refusal == nil || res.Report.Refusal.Message == "") {
				t.Errorf("refusal not recorded in the report")
			}
			if code == 0 {
				checkKLP(t, c, res)
				out, err := res.Output.Write()
				if err != nil {
					t.Fatal(err)
				}
				checkDebugInfo(t, filepath.Join(c.dir, "patched.o"), out)
			}
			testutil.Golden(t, filepath.Join(c.dir, "report.golden"), string(res.Report.JSON()))
		})
	}
}

func checkKLP(t *testing.T, c ownCase, res *elfdiff.Result) {
	t.Helper()
	klp := map[string]uint64{}
	for _, k := range res.Report.KLP {
		klp[k.Symbol] = k.Sympos
	}
	for _, kv := range c.keys["klp"] {
		var name string
		var pos uint64
		fmt.Sscan(kv, &name, &pos)
		got, ok := klp[name]
		if !ok {
			t.Errorf("no klp relocation to %s", name)
		} else if got != pos {
			t.Errorf("klp relocation to %s has sympos %d, want %d", name, got, pos)
		}
	}
	out, err := res.Output.Write()
	if err != nil {
		t.Fatal(err)
	}
	g, err := elfobj.Read("out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range c.keys["normal"] {
		if _, ok := klp[name]; ok {
			t.Errorf("relocation to %s became a klp relocation, want normal", name)
		}
		found := false
		for _, s := range g.Sections {
			for _, r := range s.Relocs {
				if r.Sym.Name == name {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("no normal relocation to %s in the output", name)
		}
	}
	checkWellFormed(t, out)
}

// checkWellFormed runs readelf -a (no warnings allowed) and ld -r on an
// output object, and reads its DWARF, if any, with readelf and objdump:
// neither may warn or report an error.
func checkWellFormed(t *testing.T, out []byte) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "out.o")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	readelf, ld, objdump := binutilsFor(t, out)
	var stderr bytes.Buffer
	cmd := exec.Command(readelf, "-a", "--wide", p)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("readelf -a: %v: %s", err, stderr.String())
	}
	if ld != "" {
		if b, err := exec.Command(ld, "-r", "-o", filepath.Join(dir, "linked.o"), p).CombinedOutput(); err != nil || len(b) > 0 {
			t.Errorf("ld -r: %v: %s", err, b)
		}
	}
	for _, args := range [][]string{
		{readelf, "--debug-dump=info,line,abbrev,str,Ranges,loc,aranges,frames"},
		{objdump, "--dwarf=info"},
	} {
		b, err := exec.Command(args[0], append(args[1:], p)...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, b)
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, "Warning") || strings.Contains(l, "Error") {
				t.Errorf("%s %s: %s", filepath.Base(args[0]), args[1], l)
			}
		}
	}
}

// crossPrefix is the Debian binutils prefix of each non-x86 machine.
var crossPrefix = map[elf.Machine]string{
	elf.EM_AARCH64:   "aarch64-linux-gnu-",
	elf.EM_PPC64:     "powerpc64le-linux-gnu-",
	elf.EM_S390:      "s390x-linux-gnu-",
	elf.EM_LOONGARCH: "loongarch64-linux-gnu-",
}

// noCrossBinutils are the machines Debian 12 ships no cross binutils for:
// their outputs are read by the host's (multi-target) readelf and objdump
// and not linked.
var noCrossBinutils = map[elf.Machine]bool{elf.EM_LOONGARCH: true}

// binutilsFor returns the readelf, ld and objdump for the machine of the
// object out: the host's for x86-64, the cross binutils otherwise (ld is
// "" when the machine has no cross binutils package).
func binutilsFor(t *testing.T, out []byte) (readelf, ld, objdump string) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(out))
	if err != nil {
		t.Fatalf("output is not ELF: %v", err)
	}
	prefix, ok := crossPrefix[f.Machine]
	if !ok || noCrossBinutils[f.Machine] {
		if ok {
			t.Logf("%s: no cross binutils in Debian 12; ld -r not run, host readelf/objdump used", f.Machine)
			return testutil.NeedTool(t, "readelf"), "", testutil.NeedTool(t, "objdump")
		}
		prefix = ""
	}
	return testutil.NeedTool(t, prefix+"readelf"), testutil.NeedTool(t, prefix+"ld"), testutil.NeedTool(t, prefix+"objdump")
}

// dwarfDump runs readelf --debug-dump=WHAT on an object file.
func dwarfDump(t *testing.T, what, path string) []string {
	t.Helper()
	b, err := exec.Command(testutil.NeedTool(t, "readelf"), "--debug-dump="+what, path).Output()
	if err != nil {
		t.Fatalf("readelf --debug-dump=%s %s: %v", what, path, err)
	}
	return strings.Split(string(b), "\n")
}

// addressAttr matches the dump lines whose value is an address, which a
// relocation to code or data left out of the output sets to the
// tombstone.
var addressAttr = regexp.MustCompile(`(DW_AT_low_pc|DW_AT_entry_pc|DW_AT_call_return_pc|DW_AT_call_pc|DW_AT_location)\b.*DW_OP_addr.*|(DW_AT_low_pc|DW_AT_entry_pc|DW_AT_call_return_pc|DW_AT_call_pc)\b.*`)

// checkDebugInfo compares the DWARF of the output with the patched
// object's: the debug information entries (names, types, line and string
// references) must be the same, addresses aside; and every range and
// location list must keep its length (a tombstone that reads as an end of
// list would hide the entries after it).
func checkDebugInfo(t *testing.T, patchedPath string, out []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.o")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	mask := func(lines []string) []string {
		var m []string
		for _, l := range lines {
			if strings.Contains(l, "File:") || strings.HasPrefix(l, "Contents of") {
				continue
			}
			m = append(m, addressAttr.ReplaceAllString(l, "$1$2 ADDR"))
		}
		return m
	}
	if diff := cmp.Diff(mask(dwarfDump(t, "info", patchedPath)), mask(dwarfDump(t, "info", p))); diff != "" {
		t.Errorf("debug information entries differ from the patched object's (-patched +output):\n%s", diff)
	}
	// A list dump gives one line per entry and one for the end of the
	// list, each starting with the entry's 8-digit offset (a location's
	// 16-digit addresses may follow on a line of their own).
	offsets := func(lines []string) []string {
		var o []string
		for _, l := range lines {
			if f := strings.Fields(l); len(f) > 1 && len(f[0]) == 8 && strings.Trim(f[0], "0123456789abcdef") == "" {
				o = append(o, f[0])
			}
		}
		return o
	}
	for _, what := range []string{"Ranges", "loc"} {
		if diff := cmp.Diff(offsets(dwarfDump(t, what, patchedPath)), offsets(dwarfDump(t, what, p))); diff != "" {
			t.Errorf("%s lists differ in length from the patched object's (-patched +output):\n%s", what, diff)
		}
	}
}

// TestOwnCasesWithDWARF builds every case again with -g (DWARF 5) and
// -gdwarf-4, the way kernels are built for livepatching, and checks that
// each diff output keeps DWARF that readelf and objdump read cleanly and
// that matches the patched object's.
func TestOwnCasesWithDWARF(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles every case twice")
	}
	mk := testutil.NeedTool(t, "make")
	testutil.NeedTool(t, "gcc")
	cases := loadOwnCases(t)
	src := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases")
	for _, g := range []string{"-g", "-gdwarf-4"} {
		out := t.TempDir()
		cmd := exec.Command(mk, "-s", "-j2", "-C", src, "O="+out+"/", "CC=gcc "+g, "all")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
		}
		for _, c := range cases {
			c.objDir = filepath.Join(out, filepath.Base(c.dir))
			t.Run(g+"/"+filepath.Base(c.dir), func(t *testing.T) {
				res, err, _ := c.run()
				if code := elfdiff.ExitCode(err); fmt.Sprint(code) != c.keys["exit"][0] {
					t.Fatalf("exit %d (%v), want %s", code, err, c.keys["exit"][0])
				}
				if err != nil {
					return
				}
				b, err := res.Output.Write()
				if err != nil {
					t.Fatal(err)
				}
				checkWellFormed(t, b)
				checkDebugInfo(t, filepath.Join(c.objDir, "patched.o"), b)
			})
		}
	}
}

// TestDeterministic diffs every case twice and compares the bytes.
func TestDeterministic(t *testing.T) {
	for _, c := range loadOwnCases(t) {
		r1, err1, _ := c.run()
		r2, err2, _ := c.run()
		if elfdiff.ExitCode(err1) != 0 || elfdiff.ExitCode(err2) != 0 {
			continue
		}
		b1, _ := r1.Output.Write()
		b2, _ := r2.Output.Write()
		if !bytes.Equal(b1, b2) {
			t.Errorf("%s: two runs gave different outputs", filepath.Base(c.dir))
		}
	}
}
