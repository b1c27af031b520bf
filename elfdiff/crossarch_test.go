package elfdiff_test

import (
	"bufio"
	"bytes"
	"debug/elf"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/patch"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/module"
)

// crossArch is one architecture whose linux-source-6.1 objects are built
// with Debian's cross compiler (tools/cross-setup.sh).
type crossArch struct {
	name      string      // subtest and testdata/crosspatches folder: kpatch's name
	karch     string      // the kernel's ARCH=
	prefix    string      // CROSS_COMPILE=
	defconfig string      // the upstream defconfig target
	machine   elf.Machine // e_machine of its objects
	// config lines the prepared .config must hold (the patchable entry
	// the architecture's livepatch or ftrace uses).
	config []string
	// recordmcount: kbuild runs scripts/recordmcount on each object after
	// compiling it (CONFIG_FTRACE_MCOUNT_USE_RECORDMCOUNT).
	recordmcount bool
	// env holds the entry sizes that no header gives (the rest are
	// measured from the prepared tree by testdata/crosspatches/sizes.c).
	env map[string]string
}

var crossArches = []crossArch{
	{
		name: "ppc64le", karch: "powerpc", prefix: "powerpc64le-linux-gnu-", defconfig: "ppc64le_defconfig",
		machine: elf.EM_PPC64, recordmcount: true,
		config: []string{"CONFIG_LIVEPATCH=y", "CONFIG_DYNAMIC_FTRACE_WITH_REGS=y", "CONFIG_FTRACE_MCOUNT_USE_RECORDMCOUNT=y"},
		// struct fixup_entry is private to arch/powerpc/lib/feature-fixups.c:
		// two unsigned longs and four longs.
		env: map[string]string{"FIXUP_STRUCT_SIZE": "48"},
	},
	{
		name: "s390x", karch: "s390", prefix: "s390x-linux-gnu-", defconfig: "defconfig",
		machine: elf.EM_S390,
		config:  []string{"CONFIG_LIVEPATCH=y", "CONFIG_DYNAMIC_FTRACE_WITH_REGS=y", "CONFIG_FTRACE_MCOUNT_USE_CC=y"},
	},
	{
		// arm64 has no HAVE_LIVEPATCH in 6.1: the defconfig with dynamic
		// ftrace, whose entry is -fpatchable-function-entry=2.
		name: "aarch64", karch: "arm64", prefix: "aarch64-linux-gnu-", defconfig: "defconfig",
		machine: elf.EM_AARCH64,
		config:  []string{"CONFIG_DYNAMIC_FTRACE_WITH_REGS=y", "CONFIG_FTRACE_MCOUNT_USE_PATCHABLE_FUNCTION_ENTRY=y"},
	},
}

// crossKCFLAGS are the flags kpatch-build adds to every kernel object.
const crossKCFLAGS = "KCFLAGS=-ffunction-sections -fdata-sections"

// needCross returns the path of the cross tool TOOL of the architecture,
// skipping the test when it is missing (failing under CI=true when
// .ci/run installs the cross compilers).
func needCross(t *testing.T, a crossArch, tool string) string {
	t.Helper()
	p, err := exec.LookPath(a.prefix + tool)
	if err == nil {
		return p
	}
	msg := fmt.Sprintf("%s%s not installed; run tools/cross-setup.sh", a.prefix, tool)
	if ci, _ := os.ReadFile(filepath.Join("..", ".ci", "run")); bytes.Contains(ci, []byte("tools/cross-setup.sh")) {
		testutil.Missing(t, "%s", msg)
	}
	t.Skip(msg)
	return ""
}

// crossTree is a linux-source-6.1 out-of-tree build (make O=) for one
// architecture, prepared once and cached; the source stays read-only.
type crossTree struct {
	arch crossArch
	src  string // the shared read-only source
	out  string // the O= directory
	make string
	env  map[string]string // special-section entry sizes
}

func (c *crossTree) makeArgs(args ...string) []string {
	return append([]string{"-s", "-C", c.src, "O=" + c.out, "ARCH=" + c.arch.karch,
		"CROSS_COMPILE=" + c.arch.prefix, "CC=" + c.arch.prefix + "gcc-12"}, args...)
}

func (c *crossTree) run(args ...string) error {
	cmd := exec.Command(c.make, c.makeArgs(args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make %s: %w\n%s", strings.Join(args, " "), err, b)
	}
	return nil
}

// prepareCross returns the architecture's prepared tree: defconfig, the
// livepatch options (scripts/config), olddefconfig, modules_prepare, and
// the entry sizes measured from it, all cached in testutil.CacheDir.
func prepareCross(t *testing.T, a crossArch) *crossTree {
	t.Helper()
	src := testutil.LinuxSource(t)
	c := &crossTree{arch: a, src: src, make: testutil.NeedTool(t, "make")}
	sizesSrc, err := filepath.Abs(filepath.Join("..", "testdata", "crosspatches", "sizes.c"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// An entry changed in place (kbuild writes into the O= tree as
	// tests build objects in it), held until the test ends. Bump the
	// version when the preparation changes.
	name := "cross-" + a.name + "-" + cache.Key(cache.Parts{"cross": "1", "arch": a.name, "source": src})
	entry, err := cache.LockEntry(testutil.CacheDir(t), name, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(entry.Unlock)
	dir := entry.Dir
	hit, err := entry.Fill(func(tmp string) error {
		c.out = filepath.Join(tmp, "out")
		if err := c.run(a.defconfig); err != nil {
			return err
		}
		cfg := exec.Command(filepath.Join(src, "scripts", "config"), "--file", filepath.Join(c.out, ".config"),
			"--enable", "FTRACE", "--enable", "FUNCTION_TRACER", "--enable", "DYNAMIC_FTRACE",
			"--enable", "KALLSYMS_ALL", "--enable", "LIVEPATCH")
		if b, err := cfg.CombinedOutput(); err != nil {
			return fmt.Errorf("scripts/config: %w\n%s", err, b)
		}
		if err := c.run("olddefconfig"); err != nil {
			return err
		}
		config, err := os.ReadFile(filepath.Join(c.out, ".config"))
		if err != nil {
			return err
		}
		for _, l := range a.config {
			if !bytes.Contains(config, []byte("\n"+l+"\n")) {
				return fmt.Errorf("%s: olddefconfig dropped %s", a.defconfig, l)
			}
		}
		if err := c.run("-j2", "modules_prepare"); err != nil {
			return err
		}
		return measureSizes(c, sizesSrc, filepath.Join(tmp, "ENV"))
	})
	if err != nil {
		t.Fatalf("prepare %s tree: %v", a.name, err)
	}
	if !hit {
		t.Logf("%s: defconfig + modules_prepare took %v", a.name, time.Since(start).Round(time.Second))
	}
	c.out = filepath.Join(dir, "out")
	c.env = map[string]string{}
	b, err := os.ReadFile(filepath.Join(dir, "ENV"))
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range strings.Fields(string(b)) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			c.env[k] = v
		}
	}
	for k, v := range a.env {
		c.env[k] = v
	}
	return c
}

// measureSizes compiles sizes.c as an external module file against the
// prepared tree (make M= sizes.s) and writes the special-section entry
// sizes it prints (kbuild's "->NAME VALUE" lines) to envPath.
func measureSizes(c *crossTree, sizesSrc, envPath string) error {
	m := filepath.Join(filepath.Dir(envPath), "sizes")
	if err := os.MkdirAll(m, 0o755); err != nil {
		return err
	}
	b, err := os.ReadFile(sizesSrc)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m, "sizes.c"), b, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(m, "Kbuild"), []byte("obj-m := sizes.o\n"), 0o644); err != nil {
		return err
	}
	if err := c.run("M="+m, "sizes.s"); err != nil {
		return err
	}
	s, err := os.ReadFile(filepath.Join(m, "sizes.s"))
	if err != nil {
		return err
	}
	var env []string
	for _, l := range strings.Split(string(s), "\n") {
		if _, def, ok := strings.Cut(l, `"->`); ok {
			if f := strings.Fields(def); len(f) >= 2 {
				env = append(env, f[0]+"="+f[1])
			}
		}
	}
	if len(env) == 0 {
		return fmt.Errorf("%s: no sizes in sizes.s", c.arch.name)
	}
	return os.WriteFile(envPath, []byte(strings.Join(env, " ")+"\n"), 0o644)
}

// buildPair builds the object of the one C file the patch changes, from
// the read-only source (kbuild, into the O= tree) and from a copy of the
// file with the patch applied (the same compiler command, kbuild's saved
// one, with only the source file replaced; __FILE__ and "" includes
// resolve as in the tree). It returns the paths of the two objects.
func (c *crossTree) buildPair(t *testing.T, patchPath string) (orig, patched string) {
	t.Helper()
	p, err := patch.Read(patchPath)
	if err != nil {
		t.Fatal(err)
	}
	touched := p.Touched()
	if len(touched) != 1 || !strings.HasSuffix(touched[0], ".c") {
		t.Fatalf("%s: want a patch of one C file, it changes %v", patchPath, touched)
	}
	rel := touched[0]
	obj := strings.TrimSuffix(rel, ".c") + ".o"
	work := t.TempDir()
	copyDir := filepath.Join(work, "src")
	if err := os.MkdirAll(filepath.Join(copyDir, filepath.Dir(rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(c.src, rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(copyDir, rel), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(copyDir); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	if err := c.run(crossKCFLAGS, obj); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: kbuild %s took %v", c.arch.name, obj, time.Since(start).Round(time.Millisecond))
	objPath := filepath.Join(c.out, obj)
	origBytes, err := os.ReadFile(objPath)
	if err != nil {
		t.Fatal(err)
	}
	orig = filepath.Join(work, "orig.o")
	if err := os.WriteFile(orig, origBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	cmdline := c.savedCommand(t, obj)
	srcPath := filepath.Join(c.src, rel)
	if !strings.Contains(cmdline, " "+srcPath) {
		t.Fatalf("%s: kbuild's command does not name %s", obj, srcPath)
	}
	// The patch-author headers (kpatch-macros.h, kpatch-syscall.h) are on
	// the include path, as kpatch-build puts them.
	include := filepath.Join(work, "include")
	if err := module.WriteHeaders(include); err != nil {
		t.Fatal(err)
	}
	cmdline = strings.Replace(cmdline, " "+srcPath, fmt.Sprintf(" -fmacro-prefix-map=%s/= -iquote %s -I %s %s",
		copyDir, filepath.Dir(srcPath), include, filepath.Join(copyDir, rel)), 1)
	if c.arch.recordmcount {
		cmdline += fmt.Sprintf(" && ./scripts/recordmcount %q", obj)
	}
	start = time.Now()
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = c.out
	out, err := cmd.CombinedOutput()
	patchedBytes, rerr := os.ReadFile(objPath)
	// Leave kbuild's object as kbuild built it (newer than its source).
	if werr := os.WriteFile(objPath, origBytes, 0o644); werr != nil {
		t.Fatal(werr)
	}
	if err != nil || rerr != nil {
		t.Fatalf("build patched %s: %v %v\n%s", obj, err, rerr, out)
	}
	t.Logf("%s: patched %s took %v", c.arch.name, obj, time.Since(start).Round(time.Millisecond))
	patched = filepath.Join(work, "patched.o")
	if err := os.WriteFile(patched, patchedBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return orig, patched
}

// savedCommand returns kbuild's command for obj from its .cmd file.
func (c *crossTree) savedCommand(t *testing.T, obj string) string {
	t.Helper()
	cmdFile := filepath.Join(c.out, filepath.Dir(obj), "."+filepath.Base(obj)+".cmd")
	f, err := os.Open(cmdFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if cmd, ok := strings.CutPrefix(sc.Text(), "cmd_"+obj+" := "); ok {
			return cmd
		}
	}
	t.Fatalf("%s: no cmd_%s line (%v)", cmdFile, obj, sc.Err())
	return ""
}

// crossPatches lists the patches for an architecture: those of
// testdata/crosspatches/common and of its own folder.
func crossPatches(t *testing.T, a crossArch) []string {
	t.Helper()
	var out []string
	for _, d := range []string{"common", a.name} {
		ps, err := filepath.Glob(filepath.Join("..", "testdata", "crosspatches", d, "*.patch"))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ps...)
	}
	if len(out) < 5 {
		t.Fatalf("%s: %d patches, want at least 5", a.name, len(out))
	}
	return out
}

// crossExpect is what NAME.expect says the diff of a patch must give.
type crossExpect struct {
	changes  []elfdiff.Change // the functions reported changed or new, sorted
	sections []string         // sections the output must hold
	exit     int              // the diff's exit code
	key      string           // the refusal's key (package refusal), when exit != 0
	element  string           // the symbol or section the refusal names
}

// readCrossExpect reads NAME.expect for an architecture: "changed FUNC"
// and "new FUNC" lines (the functions the diff must report), "section
// NAME" lines (sections the output must hold), and "refuse EXIT KEY
// ELEMENT" (the diff must refuse with that exit code, the refusal KEY of
// package refusal, naming ELEMENT). A line
// that starts with "ARCH:" holds for that architecture only (a syscall's
// entry function is named by the architecture's syscall wrapper).
func readCrossExpect(t *testing.T, patchPath, arch string) crossExpect {
	t.Helper()
	p := strings.TrimSuffix(patchPath, ".patch") + ".expect"
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var e crossExpect
	for i, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.HasSuffix(f[0], ":") {
			if f[0] != arch+":" {
				continue
			}
			f = f[1:]
		}
		switch {
		case len(f) == 2 && (f[0] == "changed" || f[0] == "new"):
			e.changes = append(e.changes, elfdiff.Change{Kind: f[0], Function: f[1]})
		case len(f) == 2 && f[0] == "section":
			e.sections = append(e.sections, f[1])
		case len(f) == 4 && f[0] == "refuse" && (f[1] == "1" || f[1] == "2"):
			e.exit, e.key, e.element = int(f[1][0]-'0'), f[2], f[3]
		default:
			t.Fatalf("%s:%d: want \"changed FUNC\", \"new FUNC\", \"section NAME\" or \"refuse EXIT KEY ELEMENT\", got %q", p, i+1, l)
		}
	}
	e.changes = sortChanges(e.changes)
	return e
}

func sortChanges(cs []elfdiff.Change) []elfdiff.Change {
	out := make([]elfdiff.Change, len(cs))
	for i, c := range cs {
		out[i] = elfdiff.Change{Kind: c.Kind, Function: c.Function}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Function < out[j].Function
	})
	return out
}

// checkCrossOutput checks an output object with the architecture's own
// binutils: readelf -a prints no warning and ld -r links it.
func checkCrossOutput(t *testing.T, a crossArch, out []byte) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "out.o")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(needCross(t, a, "readelf"), "-a", "--wide", p)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Errorf("%sreadelf -a: %v: %s", a.prefix, err, stderr.String())
	}
	for _, l := range strings.Split(stdout.String(), "\n") {
		if strings.Contains(l, "Warning") || strings.Contains(l, "Error") {
			t.Errorf("%sreadelf -a: %s", a.prefix, l)
		}
	}
	if b, err := exec.Command(needCross(t, a, "ld"), "-r", "-o", filepath.Join(dir, "linked.o"), p).CombinedOutput(); err != nil || len(b) > 0 {
		t.Errorf("%sld -r: %v: %s", a.prefix, err, b)
	}
}

// TestCrossArchRealObjects builds linux-source-6.1 objects for ppc64le,
// s390x and aarch64 with Debian's cross compilers, each architecture's
// livepatch-capable config and kpatch-build's flags, for each patch of
// testdata/crosspatches (common and per architecture): the diff must
// report exactly the functions the patch changes, each object diffed
// against itself must report no change, and the output must pass the
// architecture's readelf -a and ld -r. Debian 12 has no loongarch64
// cross compiler; that architecture is covered by the unit corpus only.
func TestCrossArchRealObjects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds linux-source-6.1 objects with cross compilers")
	}
	for _, a := range crossArches {
		t.Run(a.name, func(t *testing.T) {
			for _, tool := range []string{"gcc-12", "readelf", "ld"} {
				needCross(t, a, tool)
			}
			c := prepareCross(t, a)
			for _, pp := range crossPatches(t, a) {
				t.Run(strings.TrimSuffix(filepath.Base(pp), ".patch"), func(t *testing.T) {
					want := readCrossExpect(t, pp, a.name)
					orig, patched := c.buildPair(t, pp)
					for _, o := range []string{orig, patched} {
						f, err := elfobj.Open(o)
						if err != nil {
							t.Fatal(err)
						}
						if f.Machine != a.machine {
							t.Fatalf("%s: machine %v, want %v", o, f.Machine, a.machine)
						}
						// Both objects carry the architecture's ftrace
						// call-site table (the patched one is built outside
						// kbuild's rules).
						if f.SectionByName("__mcount_loc") == nil && f.SectionByName("__patchable_function_entries") == nil {
							t.Errorf("%s: no __mcount_loc or __patchable_function_entries section", filepath.Base(o))
						}
						if _, err := diffPaths(t, o, o, nil, nil, c.env); elfdiff.ExitCode(err) != elfdiff.ExitNoChange {
							t.Errorf("%s against itself: exit %d (%v), want %d", filepath.Base(o), elfdiff.ExitCode(err), err, elfdiff.ExitNoChange)
						}
					}
					res, err := diffPaths(t, orig, patched, nil, nil, c.env)
					if d := cmp.Diff(want.changes, sortChanges(res.Report.Changes)); d != "" {
						t.Errorf("changed functions (-want +got):\n%s", d)
					}
					if code := elfdiff.ExitCode(err); code != want.exit {
						t.Fatalf("diff: exit %d (%v), want %d", code, err, want.exit)
					}
					if r := res.Report.Refusal; err != nil && (r == nil || string(r.Key) != want.key || r.Element != want.element) {
						t.Fatalf("diff refused with %+v, want key %s naming %s", r, want.key, want.element)
					}
					if err != nil {
						return
					}
					out, err := res.Output.Write()
					if err != nil {
						t.Fatal(err)
					}
					g, err := elfobj.Read("out", out)
					if err != nil {
						t.Fatalf("output does not read back: %v", err)
					}
					if g.Machine != a.machine {
						t.Errorf("output machine %v, want %v", g.Machine, a.machine)
					}
					for _, n := range want.sections {
						if g.SectionByName(n) == nil {
							t.Errorf("output has no section %s (it has %v)", n, sectionNames(g))
						}
					}
					checkCrossOutput(t, a, out)
				})
			}
		})
	}
}
