package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/build"
)

// Debian 12's kernel as installed by tools/realkernel-setup.sh.
const (
	// DebianKVER is the release of the installed Debian kernel.
	DebianKVER = "6.1.0-56-amd64"
	// DebianSourceTarball is linux-source-6.1's tarball.
	DebianSourceTarball = "/usr/src/linux-source-6.1.tar.xz"
)

// DebianVmlinux is the -dbg package's vmlinux of the installed kernel.
var DebianVmlinux = "/usr/lib/debug/boot/vmlinux-" + DebianKVER

// NeedDebianKernel skips the test (fails it when CI=true) unless every
// file of Debian's kernel packages the real-kernel tests use is present.
func NeedDebianKernel(t testing.TB) {
	t.Helper()
	for _, p := range []string{DebianVmlinux, DebianSourceTarball, "/lib/modules/" + DebianKVER + "/build/.config",
		"/usr/lib/debug/lib/modules/" + DebianKVER + "/kernel"} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("Debian kernel packages missing (%v); run tools/realkernel-setup.sh", err)
			}
			t.Skipf("Debian kernel packages missing (%v); run tools/realkernel-setup.sh", err)
		}
	}
	if _, err := exec.LookPath("gcc-12"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("gcc-12 not installed")
		}
		t.Skip("gcc-12 not installed")
	}
}

// CacheDir is the persistent cache the real-kernel tests share between
// runs: $KPATCH_CACHEDIR, or kpatch-build-go-test in the user cache.
func CacheDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("KPATCH_CACHEDIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(d, "kpatch-build-go-test")
}

// LinuxSource returns an extracted linux-source-6.1 tree, extracted once
// into CacheDir (about 10 s) and shared by the tests, read-only (chmod -R
// a-w, as a user's tree may be; root still can write, so tests check it
// with TreeDigest).
func LinuxSource(t testing.TB) string {
	t.Helper()
	NeedDebianKernel(t)
	info, err := os.Stat(DebianSourceTarball)
	if err != nil {
		t.Fatal(err)
	}
	cache := CacheDir(t)
	dir := filepath.Join(cache, fmt.Sprintf("linux-source-%d-%d", info.Size(), info.ModTime().Unix()))
	src := filepath.Join(dir, "linux-source-6.1")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return src
	}
	// The cache's lock, held while extracting: a kpatch-build run sharing
	// the cache sweeps tmp-* only when no one holds it.
	unlock, err := build.LockCache(cache, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	tmp, err := os.MkdirTemp(cache, "tmp-linux-source-")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("tar", "-xf", DebianSourceTarball, "-C", tmp).CombinedOutput()
	if err == nil {
		out, err = exec.Command("chmod", "-R", "a-w", filepath.Join(tmp, "linux-source-6.1")).CombinedOutput()
	}
	if err != nil {
		os.RemoveAll(tmp)
		t.Fatalf("extract %s: %v\n%s", DebianSourceTarball, err, out)
	}
	if err := build.Publish(tmp, dir, ".complete"); err != nil {
		t.Fatal(err)
	}
	return src
}

// LinuxMeminfoPatch changes a /proc/meminfo label of linux-source-6.1
// (meminfo_proc_show in fs/proc/meminfo.c): the real-kernel tests' one-file
// patch.
const LinuxMeminfoPatch = `--- a/fs/proc/meminfo.c
+++ b/fs/proc/meminfo.c
@@ -55,7 +55,7 @@ static int meminfo_proc_show(struct seq_file *m, void *v)
 	sreclaimable = global_node_page_state_pages(NR_SLAB_RECLAIMABLE_B);
 	sunreclaim = global_node_page_state_pages(NR_SLAB_UNRECLAIMABLE_B);
 
-	show_val_kb(m, "MemTotal:       ", i.totalram);
+	show_val_kb(m, "MemTotal (kpatched): ", i.totalram);
 	show_val_kb(m, "MemFree:        ", i.freeram);
 	show_val_kb(m, "MemAvailable:   ", available);
 	show_val_kb(m, "Buffers:        ", i.bufferram);
`
