package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestRealDistcc builds patches of the catalogues twice, with the
// compiler run locally and through distcc (a distccd started here on
// the loopback address only, killed at the end), and checks that the
// modules are byte-identical and that distccd compiled the patched
// objects (DISTCC_FALLBACK=0: no silent local compile): a header patch
// on 6.1 (two objects) and a patch on 6.12, whose kernels are built with
// IBT, call padding and return thunks (a line whose packages are not
// installed is skipped).
func TestRealDistcc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernel objects: skipped with -short")
	}
	testutil.NeedTool(t, "distcc")
	distccd := testutil.NeedTool(t, "distccd")
	bin := buildBinary(t)
	cache := testutil.CacheDir(t)

	// A free port on the loopback address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dlog, err := os.Create(filepath.Join(t.TempDir(), "distccd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer dlog.Close()
	d := exec.Command(distccd, "--daemon", "--no-detach", "--listen", "127.0.0.1", "--port", fmt.Sprint(port),
		"--allow", "127.0.0.1", "--jobs", "2", "--log-stderr", "--log-level", "info")
	d.Stderr = dlog
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-d.Process.Pid, syscall.SIGTERM) // distccd and its workers: the group it leads
		d.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("distccd does not listen on 127.0.0.1:%d: %v", port, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	dlogText := func() string {
		b, err := os.ReadFile(dlog.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, c := range []struct {
		series, dir, patch string
		sources            []string // the .c files distccd must compile
	}{
		{testutil.TestSeries, "realpatches", "header-inline", []string{"fs/read_write.c", "fs/btrfs/ioctl.c"}},
		{testutil.Series612, "realpatches-6.12", "new-callback", []string{"fs/proc/cmdline.c"}},
	} {
		t.Run(c.series+"/"+c.patch, func(t *testing.T) {
			src := testutil.SeriesSource(t, c.series)
			k := testutil.SeriesKernel(t, c.series)
			patch := filepath.Join(testutil.RepoRoot(), "testdata", c.dir, c.patch+".patch")
			build := func(name string, env []string, args ...string) []byte {
				t.Helper()
				out := t.TempDir()
				cmd := exec.Command(bin, append([]string{"-s", src, "-c", k.Config, "-v", k.Vmlinux, "-o", out, "--cachedir", cache}, append(args, patch)...)...)
				cmd.Env = append(os.Environ(), env...)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				start := time.Now()
				if err := cmd.Run(); err != nil {
					t.Fatalf("%s build: %v\n%s", name, err, stderr.String())
				}
				t.Logf("%s build: %v", name, time.Since(start))
				if name == "distcc" && !strings.Contains(stderr.String(), "compiling through distcc (helpers from DISTCC_HOSTS: ") {
					t.Errorf("no distcc progress line naming DISTCC_HOSTS:\n%s", stderr.String())
				}
				ko, err := os.ReadFile(filepath.Join(out, "livepatch-"+c.patch+".ko"))
				if err != nil {
					t.Fatal(err)
				}
				return ko
			}
			before := strings.Count(dlogText(), "COMPILE_OK")
			local := build("local", []string{"DISTCC_HOSTS="})
			remote := build("distcc", []string{fmt.Sprintf("DISTCC_HOSTS=127.0.0.1:%d/2", port), "DISTCC_FALLBACK=0", "DISTCC_DIR=" + t.TempDir()}, "--distcc")
			// kerneltree.DirectivesOnly makes distcc's two-step compile
			// byte-identical to a local one (kerneltree's TestDirectivesOnly).
			if bytes.Equal(local, remote) {
				t.Logf("byte-identical modules: sha256 %x (%d bytes)", sha256.Sum256(local), len(local))
			} else {
				t.Errorf("modules differ: local sha256 %x (%d bytes), distcc %x (%d bytes); sections that differ: %v",
					sha256.Sum256(local), len(local), sha256.Sum256(remote), len(remote), testutil.DifferingSections(t, local, remote))
			}
			logText := dlogText()
			if n := strings.Count(logText, "COMPILE_OK") - before; n < len(c.sources) {
				t.Errorf("distccd compiled %d object(s) for this patch, want %d:\n%s", n, len(c.sources), logText)
			}
			for _, f := range c.sources {
				if !strings.Contains(logText, f) {
					t.Errorf("distccd did not compile %s:\n%s", f, logText)
				}
			}
		})
	}
}
