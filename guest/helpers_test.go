package guest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// testRelease is the Debian 12 kernel the real-kernel tests boot.
const testRelease = "6.1.0-56-amd64"

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
	o := Options{Release: testRelease, Log: t.Logf}
	if _, err := exec.LookPath(qemuBinary); err != nil {
		absent(t, qemuBinary+" not installed (apt install qemu-system-x86)")
	}
	for _, p := range []string{"/boot/vmlinuz-" + testRelease, filepath.Join("/lib/modules", testRelease, "modules.dep")} {
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
