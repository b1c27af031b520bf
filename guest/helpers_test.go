package guest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// testRelease is the release of the installed Debian kernel the
// real-kernel tests boot, found as the tool finds it
// (testutil.FindDebianKernel); it skips (fails under CI) when none is.
func testRelease(t *testing.T) string {
	t.Helper()
	k, err := testutil.FindDebianKernel()
	if err != nil {
		absent(t, err.Error()+" (run tools/realkernel-setup.sh)")
	}
	return k.Release
}

// absent skips the test with why, or fails it when CI=true, where every
// prerequisite is installed.
func absent(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s", why)
	}
	t.Skip(why)
}

// needKernel returns Options for the installed Debian kernel, or skips
// (fails under CI) when the kernel, its modules, qemu or busybox is
// missing.
func needKernel(t *testing.T) Options {
	t.Helper()
	if testing.Short() {
		t.Skip("real-kernel boot skipped in -short mode")
	}
	rel := testRelease(t)
	t.Logf("real kernel: %s (series %s)", rel, testutil.TestSeries)
	o := Options{Release: rel, Log: t.Logf}
	if _, err := exec.LookPath(qemuBinary); err != nil {
		absent(t, qemuBinary+" not installed (apt install qemu-system-x86)")
	}
	for _, p := range []string{"/boot/vmlinuz-" + rel, filepath.Join("/lib/modules", rel, "modules.dep")} {
		if _, err := os.Stat(p); err != nil {
			absent(t, p+" missing (run tools/realkernel-setup.sh)")
		}
	}
	full, err := o.withDefaults()
	if err != nil {
		absent(t, err.Error())
	}
	_ = full
	return o
}
