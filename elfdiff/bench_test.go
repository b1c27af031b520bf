package elfdiff_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// BenchmarkDiffLargest diffs the largest pair of each architecture's
// corpus folder (by the size of both objects; x86_64: unique-id-pr-1314,
// 3251 sections, 4601 symbols), one sub-benchmark per architecture,
// reading the objects and the symbol table each time as the command does.
// An architecture whose tables are not filled in yet is skipped.
func BenchmarkDiffLargest(b *testing.B) {
	for _, arch := range corpusArches {
		b.Run(arch, func(b *testing.B) {
			var c corpusCase
			var largest int64
			for _, cc := range loadCorpusDir(b, archCorpusDir(b, arch)) {
				if n := fileSize(b, cc.orig) + fileSize(b, cc.patched); n > largest {
					c, largest = cc, n
				}
			}
			if c.name == "" {
				b.Fatalf("no cases in the %s corpus", arch)
			}
			want := c.expect["exit"][0]
			if _, err := runCase(b, c); fmt.Sprint(elfdiff.ExitCode(err)) != want {
				if strings.Contains(fmt.Sprint(err), "not supported yet") {
					b.Skipf("%s: %v", arch, err)
				}
				b.Fatalf("%s: exit %d (%v), want %s", c.name, elfdiff.ExitCode(err), err, want)
			}
			b.Logf("%s: %s (%d bytes)", arch, c.name, largest)
			for b.Loop() {
				runCase(b, c)
			}
		})
	}
}

func fileSize(b *testing.B, path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkDiffCorpus diffs every corpus case once per iteration.
func BenchmarkDiffCorpus(b *testing.B) {
	cases := loadCorpus(b)
	for b.Loop() {
		for _, c := range cases {
			runCase(b, c)
		}
	}
}

// genSource writes a translation unit with n functions of the shapes the
// kernel has (statics, globals, string literals, calls, static locals);
// when patched is set one function body differs.
func genSource(n int, patched bool) string {
	var s strings.Builder
	s.WriteString("extern int printk(const char *, ...);\nextern int ext_state;\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "static int table_%d[4] = {%d, %d, %d, %d};\n", i, i, i+1, i+2, i+3)
		fmt.Fprintf(&s, "static __attribute__((noinline)) int helper_%d(int x) { static int calls; calls++; return x * %d + table_%d[x & 3] + calls; }\n", i, i+3, i)
		body := fmt.Sprintf("helper_%d(x) + ext_state", i)
		if patched && i == n/2 {
			body = fmt.Sprintf("helper_%d(x) - ext_state", i)
		}
		fmt.Fprintf(&s, "int func_%d(int x) { if (x > %d) printk(\"func_%d: %%d\\n\", x); return %s; }\n", i, i, i, body)
	}
	return s.String()
}

func buildGenerated(b *testing.B, dir string, n int) (orig, patched string) {
	gcc := testutil.NeedTool(b, "gcc")
	flags := []string{"-O2", "-pg", "-mfentry", "-mrecord-mcount", "-ffunction-sections", "-fdata-sections",
		"-mcmodel=kernel", "-mno-red-zone", "-mgeneral-regs-only", "-fno-pic", "-fno-asynchronous-unwind-tables", "-c"}
	for _, v := range []struct {
		name    string
		patched bool
	}{{"orig", false}, {"patched", true}} {
		src := filepath.Join(dir, fmt.Sprintf("gen%d.c", n))
		if err := os.WriteFile(src, []byte(genSource(n, v.patched)), 0o644); err != nil {
			b.Fatal(err)
		}
		out := filepath.Join(dir, fmt.Sprintf("gen%d.%s.o", n, v.name))
		cmd := exec.Command(gcc, append(flags, "-o", out, src)...)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("gcc: %v\n%s", err, msg)
		}
		if v.patched {
			patched = out
		} else {
			orig = out
		}
	}
	return orig, patched
}

// BenchmarkDiffScaling diffs generated objects of 1x, 2x and 4x the size;
// near-linear growth shows as ns/op roughly doubling per step.
func BenchmarkDiffScaling(b *testing.B) {
	dir := b.TempDir()
	for _, n := range []int{500, 1000, 2000} {
		orig, patched := buildGenerated(b, dir, n)
		b.Run(fmt.Sprintf("funcs=%d", n), func(b *testing.B) {
			for b.Loop() {
				res, err := diffPaths(b, orig, patched, nil, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Report.Changed) != 1 {
					b.Fatalf("changed %v", res.Report.Changed)
				}
				if _, err := res.Output.Write(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
