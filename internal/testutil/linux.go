package testutil

import (
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/kpatchgo/kpatch-build/debian"
)

// TestSeries is the kernel line the real-kernel tier tests: Debian 12's
// 6.1. Another series installed beside it (a 6.12 from
// bookworm-backports) is never picked by accident.
const TestSeries = "6.1"

// Series612 is the second tier's kernel line: Debian 12's backports
// (and Debian 13's) 6.12, built with IBT, call padding, call depth
// tracking and return thunks.
const Series612 = "6.12"

// DebianSourceTarball is linux-source-6.1's tarball.
var DebianSourceTarball = debian.SourceTarball("/", TestSeries)

var (
	kernelMu sync.Mutex
	kernels  = map[string]debian.Kernel{}
	kernErrs = map[string]error{}
)

// FindDebianKernel returns the Debian kernel the real-kernel tests use,
// found the way tools/realkernel-setup.sh and the tool find it: the
// release named by $KPATCH_TEST_KVER, else the newest installed release
// of TestSeries with its headers and debug vmlinux. It never names a
// release of its own: Debian replaces its kernel every few weeks.
func FindDebianKernel() (debian.Kernel, error) { return FindSeriesKernel(TestSeries) }

// FindSeriesKernel is FindDebianKernel for the kernel line series:
// $KPATCH_TEST_KVER counts when its release is of that series.
func FindSeriesKernel(series string) (debian.Kernel, error) {
	kernelMu.Lock()
	defer kernelMu.Unlock()
	if k, ok := kernels[series]; ok || kernErrs[series] != nil {
		return k, kernErrs[series]
	}
	var k debian.Kernel
	var err error
	if rel := os.Getenv("KPATCH_TEST_KVER"); rel != "" && debian.Series(rel) == series {
		k = debian.At("/", rel)
	} else {
		k, err = debian.Newest("/", series)
	}
	kernels[series], kernErrs[series] = k, err
	return k, err
}

// DebianKernel returns the installed Debian kernel the real-kernel tests
// use (FindDebianKernel) and logs which, or skips the test (fails it when
// CI=true) when it, linux-source or gcc-12 is not installed.
func DebianKernel(t testing.TB) debian.Kernel {
	t.Helper()
	return SeriesKernel(t, TestSeries)
}

// SeriesKernel is DebianKernel for the kernel line series (TestSeries or
// Series612).
func SeriesKernel(t testing.TB, series string) debian.Kernel {
	t.Helper()
	k, err := FindSeriesKernel(series)
	if err != nil {
		Missing(t, "%v; run tools/realkernel-setup.sh %s", err, series)
	}
	if m := k.Missing(); len(m) != 0 {
		Missing(t, "Debian kernel %s incomplete, missing %s; run tools/realkernel-setup.sh %s", k.Release, strings.Join(m, ", "), series)
	}
	if _, err := os.Stat(debian.SourceTarball("/", series)); err != nil {
		Missing(t, "Debian's linux-source-%s missing (%v); run tools/realkernel-setup.sh %s", series, err, series)
	}
	if _, err := exec.LookPath("gcc-12"); err != nil {
		Missing(t, "gcc-12 not installed")
	}
	t.Logf("real kernel: %s (series %s)", k.Release, series)
	return k
}

// NeedDebianKernel skips the test (fails it when CI=true) unless every
// file of Debian's kernel packages the real-kernel tests use is present.
func NeedDebianKernel(t testing.TB) {
	t.Helper()
	DebianKernel(t)
}

// NormalizeKernel replaces, in a golden's text, what belongs to the
// installed kernel build rather than to the behaviour under test: its
// release (KVER), its Debian version and build date from uname -v, and
// kernel text addresses (0xffffffff8XXXXXXX, which move with every
// build). Goldens then hold for whichever kernel is current.
func NormalizeKernel(s, release string) string {
	if release != "" {
		s = strings.ReplaceAll(s, release, "KVER")
	}
	s = debianVersion.ReplaceAllString(s, "Debian DEBVER (DATE)")
	return kernelAddr.ReplaceAllString(s, "0xffffffffADDR")
}

var (
	debianVersion = regexp.MustCompile(`Debian [0-9][0-9A-Za-z.+~-]* \([0-9]{4}-[0-9]{2}-[0-9]{2}\)`)
	kernelAddr    = regexp.MustCompile(`0xffffffff[89a-f][0-9a-f]{7}`)
)

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
	return SeriesSource(t, TestSeries)
}

// SeriesSource is LinuxSource for the kernel line series: an extracted,
// read-only linux-source-SERIES.
func SeriesSource(t testing.TB, series string) string {
	t.Helper()
	SeriesKernel(t, series)
	tarball := debian.SourceTarball("/", series)
	info, err := os.Stat(tarball)
	if err != nil {
		t.Fatal(err)
	}
	name := "linux-source-" + cache.Key(cache.Parts{"tarball": tarball, "size": fmt.Sprint(info.Size()), "mtime": fmt.Sprint(info.ModTime().Unix())})
	dir, _, err := cache.Cached(CacheDir(t), name, func(tmp string) error {
		out, err := exec.Command("tar", "-xf", tarball, "-C", tmp).CombinedOutput()
		if err == nil {
			out, err = exec.Command("chmod", "-R", "a-w", filepath.Join(tmp, "linux-source-"+series)).CombinedOutput()
		}
		if err != nil {
			return fmt.Errorf("extract %s: %w\n%s", tarball, err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "linux-source-"+series)
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
