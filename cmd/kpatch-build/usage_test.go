package main

import (
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// usageCase is one wrong command line: its exit status and the words its
// one-line message must hold.
type usageCase struct {
	name string
	args []string
	code int
	want []string
}

// checkUsage runs each case in process and checks the exit status, the
// message (one line, naming what is wrong) and that nothing was written
// anywhere under root.
func checkUsage(t *testing.T, root string, cases []usageCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := listTree(t, root)
			code, msg := runCaptured(t, c.args)
			if code != c.code {
				t.Errorf("exit status %d, want %d; stderr:\n%s", code, c.code, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message lacks %q:\n%s", w, msg)
				}
			}
			// One line naming the problem, and at most a hint line after it.
			lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
			if len(lines) > 2 || len(lines) == 2 && !strings.HasPrefix(lines[1], "hint: ") {
				t.Errorf("want one line (and an optional hint line), got %d:\n%s", len(lines), msg)
			}
			if after := listTree(t, root); after != before {
				t.Errorf("the command left files behind:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// listTree lists every path under root with its size and modification
// time.
func listTree(t *testing.T, root string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fmt.Fprintf(&b, "%s %v %d %d\n", rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestBuildUsageErrors: wrong command lines of the main command exit 2
// with one line naming the flag, before anything is built or written.
func TestBuildUsageErrors(t *testing.T) {
	root := t.TempDir()
	patch := filepath.Join(testutil.RepoRoot(), "emulator", "kernel", "patches", "meminfo-string.patch")
	out := filepath.Join(root, "out", "sub")
	cache := filepath.Join(root, "cache")
	file := filepath.Join(root, "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--cachedir", cache, "-o", out}
	with := func(args ...string) []string { return append(append(append([]string{}, common...), args...), patch) }
	long := strings.Repeat("a", 56)
	checkUsage(t, root, []usageCase{
		{"no PATCH", common, 2, []string{"no PATCH given"}},
		{"-j 0", with("-j", "0"), 2, []string{"-j/--jobs 0: must be at least 1"}},
		{"-j -3", with("-j", "-3"), 2, []string{"-j/--jobs -3: must be at least 1"}},
		{"-j not a number", with("-j", "two"), 2, []string{`invalid argument "two" for "-j, --jobs" flag`}},
		{"--fuzz -1", with("--fuzz", "-1"), 2, []string{"--fuzz -1: must not be negative"}},
		{"--fuzz not a number", with("--fuzz", "some"), 2, []string{`invalid argument "some" for "--fuzz" flag`}},
		{"unknown flag", with("--bogus"), 2, []string{"unknown flag: --bogus"}},
		{"-n with a path", with("-n", "../../escape"), 2, []string{`-n/--name "../../escape"`, `character '.' is not allowed`}},
		{"-n with a slash", with("-n", "a/b"), 2, []string{`-n/--name "a/b"`, `character '/'`}},
		{"-n too long", with("-n", long), 2, []string{"-n/--name", "at most 55 characters, this one 56"}},
		{"-n with a space", with("-n", "x y"), 2, []string{`character ' '`}},
		{"--report in a missing directory", with("--report", filepath.Join(root, "missing", "r.json")), 2,
			[]string{"--report " + filepath.Join(root, "missing", "r.json") + ": directory " + filepath.Join(root, "missing") + ": no such file or directory"}},
		{"--report is a directory", with("--report", root), 2, []string{"--report " + root + ": is a directory"}},
		{"--report under a file", with("--report", filepath.Join(file, "r.json")), 2, []string{"--report " + filepath.Join(file, "r.json") + ": " + file + " is not a directory"}},
		{"-o is a file", []string{"--cachedir", cache, "-o", file, patch}, 2, []string{"-o/--output " + file + ": not a directory"}},
		{"--config with the bundled kernel", with("--config", file), 2, []string{"--config: the bundled kernel has no configuration"}},
		{"--verify with a source tree", with("--verify", "-s", root), 2, []string{"--verify works with the bundled kernel and with Linux trees"}},
	})
	// The longest name the kernel takes passes the check (the run then
	// fails later, on the tree given).
	if code, msg := runCaptured(t, with("-n", long[:55], "-s", filepath.Join(root, "no-tree"))); code == 2 || strings.Contains(msg, "--name") {
		t.Errorf("a 55-character name was refused: exit %d\n%s", code, msg)
	}
}

// TestDiffUsageErrors: wrong command lines and inputs of the diff command
// exit 1 (its 2 means an unreconcilable difference), naming the flag or
// the file, and never write the output or touch the inputs.
func TestDiffUsageErrors(t *testing.T) {
	for k, v := range map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "14"} {
		t.Setenv(k, v)
	}
	src := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "changed-func")
	root := t.TempDir()
	orig, patched := filepath.Join(root, "orig.o"), filepath.Join(root, "patched.o")
	copyFileT(t, filepath.Join(src, "orig.o"), orig)
	copyFileT(t, filepath.Join(src, "patched.o"), patched)
	link := filepath.Join(root, "patched-link.o")
	if err := os.Link(patched, link); err != nil {
		t.Fatal(err)
	}
	random := filepath.Join(root, "random.bin")
	data := make([]byte, 8192)
	for i := range data {
		data[i] = byte(i*131 + i>>5)
	}
	os.WriteFile(random, data, 0o644)
	archive := filepath.Join(root, "parent.a")
	if ar, err := exec.LookPath("ar"); err == nil {
		if msg, err := exec.Command(ar, "rcs", archive, orig).CombinedOutput(); err != nil {
			t.Fatalf("ar: %v\n%s", err, msg)
		}
	} else {
		t.Skip("ar not installed")
	}
	symvers := filepath.Join(root, "Module.symvers")
	os.WriteFile(symvers, []byte("0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\nprintk vmlinux EXPORT_SYMBOL\n"), 0o644)
	// Two objects of a machine the engine does not know.
	mipsOrig, mipsPatched := filepath.Join(root, "mips-orig.o"), filepath.Join(root, "mips-patched.o")
	for _, p := range [][2]string{{orig, mipsOrig}, {patched, mipsPatched}} {
		b, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		le.PutUint16(b[ehMachine:], uint16(elf.EM_MIPS))
		os.WriteFile(p[1], b, 0o644)
	}
	out := filepath.Join(root, "out.o")
	checkUsage(t, root, []usageCase{
		{"flag form without --symtab", []string{"diff", "-o", out, orig, patched}, 1, []string{"diff: --symtab PARENT_SYMTAB is required"}},
		{"flag form without -o", []string{"diff", "--symtab", orig, orig, patched}, 1, []string{"diff: -o/--output OUTPUT is required"}},
		{"three arguments", []string{"diff", orig, patched, out}, 1, []string{"diff: takes 2 arguments (with -o) or create-diff-object's 7, got 3"}},
		{"unknown flag", []string{"diff", "--bogus", orig, patched}, 1, []string{"unknown flag: --bogus"}},
		{"-o is ORIG", []string{"diff", "--symtab", orig, "-o", orig, orig, patched}, 1,
			[]string{"diff: -o/--output " + orig + " is the input object " + orig + ": it would be overwritten"}},
		{"OUTPUT is ORIG, spelt otherwise", []string{"diff", orig, patched, "vmlinux", orig, "/dev/null", "livepatch-x", root + "/./orig.o"}, 1,
			[]string{"diff: OUTPUT (7th argument) " + root + "/./orig.o is the input object " + orig}},
		{"OUTPUT is a hard link to PATCHED", []string{"diff", orig, patched, "vmlinux", orig, "/dev/null", "livepatch-x", link}, 1,
			[]string{"diff: OUTPUT (7th argument) " + link + " is the input object " + patched}},
		{"--symtab random bytes", []string{"diff", "--symtab", random, "-o", out, orig, patched}, 1,
			[]string{random + ": neither an ELF file nor 'readelf -s --wide' text"}},
		{"--symtab an ar archive", []string{"diff", "--symtab", archive, "-o", out, orig, patched}, 1,
			[]string{archive + ": an ar archive is not a symbol table"}},
		{"Module.symvers line that does not parse", []string{"diff", orig, patched, "vmlinux", orig, symvers, "livepatch-x", out}, 1,
			[]string{symvers + ":2: not a Module.symvers line (1 tab-separated fields, want at least 3): \"printk vmlinux EXPORT_SYMBOL\""}},
		{"two EM_MIPS objects", []string{"diff", "--symtab", orig, "-o", out, mipsOrig, mipsPatched}, 1,
			[]string{"ERROR: " + strings.TrimPrefix(mipsOrig, "/") + ": machine EM_MIPS (e_machine 8) is not one the diff engine knows (x86_64, aarch64, loongarch64, ppc64le, s390x)"}},
	})
}

// TestTargetUsageErrors: target run's flags are checked before the
// kernel is built or booted.
func TestTargetUsageErrors(t *testing.T) {
	root := t.TempDir()
	checkUsage(t, root, []usageCase{
		{"--cpus 0", []string{"target", "run", "--cpus", "0"}, 2, []string{"--cpus 0: must be 1 to 16"}},
		{"--cpus -3", []string{"target", "run", "--cpus", "-3"}, 2, []string{"--cpus -3: must be 1 to 16"}},
		{"--cpus 17", []string{"target", "run", "--cpus", "17"}, 2, []string{"--cpus 17: must be 1 to 16"}},
		{"--quantum 1", []string{"target", "run", "--quantum", "1"}, 2, []string{"--quantum 1: must be at least 10 instructions"}},
		{"--quantum 9", []string{"target", "run", "--quantum", "9"}, 2, []string{"--quantum 9: must be at least 10 instructions"}},
		{"--quantum -1", []string{"target", "run", "--quantum", "-1"}, 2, []string{`invalid argument "-1" for "--quantum" flag`}},
		{"unknown workload", []string{"target", "run", "-w", "nosuch"}, 2, []string{"-w/--workload:", "nosuch"}},
		{"unknown feature", []string{"target", "run", "--features", "avx9"}, 2, []string{`--features: unknown CPU feature "avx9"`}},
		{"an argument", []string{"target", "run", "extra"}, 2, []string{"run: unknown command \"extra\""}},
		{"inspect without a module", []string{"inspect"}, 2, []string{"inspect: accepts 1 arg(s), received 0"}},
	})
}

func copyFileT(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
