// Package testutil holds helpers shared by the project's tests: locating
// the kpatch unit-object corpus, golden files and tool checks.
package testutil

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Update is the -update flag: rewrite golden files instead of comparing.
var Update = flag.Bool("update", false, "rewrite golden files")

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// CorpusPath returns the x86_64 kpatch unit-object corpus directory and
// whether it exists.
func CorpusPath() (string, bool) {
	dir := os.Getenv("KPATCH_UNIT_OBJS")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared", "kpatch-unit-objs", "x86_64")
	}
	_, err := os.Stat(dir)
	return dir, err == nil
}

// CorpusDir returns the x86_64 kpatch unit-object corpus directory, or
// skips the test with a message when it is absent.
func CorpusDir(t testing.TB) string {
	t.Helper()
	dir, ok := CorpusPath()
	if !ok {
		t.Skipf("kpatch unit-object corpus not found at %s (set KPATCH_UNIT_OBJS or place ../shared beside the repo)", dir)
	}
	return dir
}

// NeedTool skips the test when the named program is not installed.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not installed", name)
	}
	return p
}

// Golden compares got with the golden file at path, or rewrites it with
// -update.
func Golden(t testing.TB, path string, got string) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}
