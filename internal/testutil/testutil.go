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

// InCI reports whether the tests run in CI (the environment variable CI is
// "true"), where everything the tests need is installed.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing reports that something the test needs (the corpus under
// ../shared, a tool, an installed package) is absent: it skips the test
// with the message, or fails it when InCI, since CI has everything.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true but "+format, args...)
	}
	t.Skipf(format, args...)
}

// CorpusDir returns the x86_64 kpatch unit-object corpus directory, or
// reports it Missing.
func CorpusDir(t testing.TB) string {
	t.Helper()
	dir, ok := CorpusPath()
	if !ok {
		Missing(t, "kpatch unit-object corpus not found at %s (set KPATCH_UNIT_OBJS or place ../shared beside the repo)", dir)
	}
	return dir
}

// OptionalCorpus returns the x86_64 corpus directory and true when it is
// there, for a test that uses the corpus as extra input but also runs
// without it; when it is absent the test fails under InCI, else goes on
// without it (false).
func OptionalCorpus(t testing.TB) (string, bool) {
	t.Helper()
	dir, ok := CorpusPath()
	if !ok && InCI() {
		t.Fatalf("CI=true but the kpatch unit-object corpus is not at %s", dir)
	}
	return dir, ok
}

// CorpusFile returns the path of the named file of the x86_64 corpus, or
// reports it Missing.
func CorpusFile(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(CorpusDir(t), name)
	if _, err := os.Stat(p); err != nil {
		Missing(t, "%s not in the kpatch unit-object corpus: %v", name, err)
	}
	return p
}

// KernelBuildDir returns an installed kernel's build directory (the
// headers package's /lib/modules/KVER/build, or KPATCH_KERNEL_BUILD), in
// which external modules can be built, or reports it Missing.
func KernelBuildDir(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KPATCH_KERNEL_BUILD"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, "Makefile")); err != nil {
			Missing(t, "KPATCH_KERNEL_BUILD=%s is not a kernel build directory: %v", dir, err)
		}
		return dir
	}
	dirs, _ := filepath.Glob("/lib/modules/*/build/Makefile")
	if len(dirs) == 0 {
		Missing(t, "no kernel headers installed (/lib/modules/KVER/build; tools/realkernel-setup.sh installs them)")
		return ""
	}
	return filepath.Dir(dirs[len(dirs)-1])
}

// NeedTool returns the path of the named program, or reports it Missing.
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed", name)
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
