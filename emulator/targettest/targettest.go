// Package targettest gives the target's tests one kernel build per test
// binary: the bundled kernel plus the test modules under
// emulator/targettest/modules, built into the build cache with gcc.
package targettest

import (
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

var (
	once   sync.Once
	build  *boot.Build
	errBld error
)

// ModulesDir is the directory of the test modules' sources.
func ModulesDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "modules")
}

// Build returns the test kernel build, building it on first use; the test
// is skipped when gcc, ld or make are missing.
func Build(t testing.TB) *boot.Build {
	t.Helper()
	if !boot.HaveToolchain() {
		testutil.Missing(t, "gcc, ld or make not installed: cannot build the target kernel")
	}
	once.Do(func() {
		var extra []string
		ents, _ := os.ReadDir(ModulesDir())
		for _, e := range ents {
			if e.IsDir() {
				extra = append(extra, filepath.Join(ModulesDir(), e.Name()))
			}
		}
		build, errBld = boot.BuildKernel(boot.BuildOptions{ExtraModules: extra})
	})
	if errBld != nil {
		t.Fatal(errBld)
	}
	return build
}

// Boot builds (once) and boots the test kernel.
func Boot(t testing.TB, opts boot.Options) *boot.Kernel {
	t.Helper()
	b := Build(t)
	k, err := boot.Boot(b, opts)
	if err != nil {
		if k != nil {
			t.Logf("console:\n%s", k.M.Console())
		}
		t.Fatal(err)
	}
	return k
}
