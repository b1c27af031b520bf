package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// BenchmarkCorpusExec runs the built command once per corpus case, in
// create-diff-object's calling convention with a readelf text symbol table,
// the way kpatch's unit tests drive the reference: process start included.
func BenchmarkCorpusExec(b *testing.B) {
	dir := testutil.CorpusDir(b)
	readelf := testutil.NeedTool(b, "readelf")
	tmp := b.TempDir()
	bin := filepath.Join(tmp, "kpatch-build")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	env := append(os.Environ(), "PARA_STRUCT_SIZE=16", "EX_STRUCT_SIZE=12", "BUG_STRUCT_SIZE=12", "ALT_STRUCT_SIZE=13",
		"JUMP_STRUCT_SIZE=24", "ORC_STRUCT_SIZE=6", "STATIC_CALL_STRUCT_SIZE=8", "PRINTK_INDEX_STRUCT_SIZE=44")
	type job struct {
		args []string
		env  []string
	}
	var jobs []job
	expects, _ := filepath.Glob(filepath.Join(dir, "*.expect"))
	for _, e := range expects {
		name := strings.TrimSuffix(filepath.Base(e), ".expect")
		orig := filepath.Join(dir, name+".ORIG.o")
		patched := filepath.Join(dir, name+".PATCHED.o")
		if _, err := os.Stat(patched); err != nil {
			patched = filepath.Join(dir, name+".PATCHED.FAIL.o")
		}
		st := filepath.Join(tmp, name+".symtab")
		out, err := exec.Command(readelf, "-s", "--wide", orig).Output()
		if err != nil {
			b.Fatal(err)
		}
		os.WriteFile(st, out, 0o644)
		jenv := env
		if extra, err := os.ReadFile(filepath.Join(dir, name+".env")); err == nil {
			jenv = append(append([]string{}, env...), strings.Fields(string(extra))...)
		}
		jobs = append(jobs, job{[]string{"diff", orig, patched, "vmlinux", st, "/dev/null", "livepatch-test", filepath.Join(tmp, name+".OUT.o")}, jenv})
	}
	for b.Loop() {
		for _, j := range jobs {
			cmd := exec.Command(bin, j.args...)
			cmd.Env = j.env
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() > 3 {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(len(jobs)), "cases")
}
