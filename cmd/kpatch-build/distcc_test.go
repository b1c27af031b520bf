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

// TestRealDistcc builds a header patch of the catalogue twice, with the
// compiler run locally and through distcc (a distccd started here on
// the loopback address only, killed at the end), and checks that the
// modules are byte-identical and that distccd compiled the patched
// objects (DISTCC_FALLBACK=0: no silent local compile).
func TestRealDistcc(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kernel objects: skipped with -short")
	}
	src := testutil.SeriesSource(t, testutil.TestSeries)
	k := testutil.SeriesKernel(t, testutil.TestSeries)
	testutil.NeedTool(t, "distcc")
	distccd := testutil.NeedTool(t, "distccd")
	bin := buildBinary(t)
	cache := testutil.CacheDir(t)
	patch := filepath.Join(testutil.RepoRoot(), "testdata", "realpatches", "header-inline.patch")

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
		if name == "distcc" && !strings.Contains(stderr.String(), "compiling through distcc (") {
			t.Errorf("no distcc progress line:\n%s", stderr.String())
		}
		ko, err := os.ReadFile(filepath.Join(out, "livepatch-header-inline.ko"))
		if err != nil {
			t.Fatal(err)
		}
		return ko
	}
	local := build("local", []string{"DISTCC_HOSTS="})
	dir := t.TempDir()
	remote := build("distcc", []string{fmt.Sprintf("DISTCC_HOSTS=127.0.0.1:%d/2", port), "DISTCC_FALLBACK=0", "DISTCC_DIR=" + dir}, "--distcc")
	// kerneltree.DirectivesOnly makes distcc's two-step compile
	// byte-identical to a local one (kerneltree's TestDirectivesOnly).
	if bytes.Equal(local, remote) {
		t.Logf("byte-identical modules: sha256 %x (%d bytes)", sha256.Sum256(local), len(local))
	} else {
		t.Errorf("modules differ: local sha256 %x (%d bytes), distcc %x (%d bytes); sections that differ: %v",
			sha256.Sum256(local), len(local), sha256.Sum256(remote), len(remote), testutil.DifferingSections(t, local, remote))
	}
	b, err := os.ReadFile(dlog.Name())
	if err != nil {
		t.Fatal(err)
	}
	logText := string(b)
	for _, c := range []string{"fs/read_write.c", "fs/btrfs/ioctl.c"} {
		if !strings.Contains(logText, "COMPILE_OK") || !strings.Contains(logText, c) {
			t.Errorf("distccd did not compile %s:\n%s", c, logText)
		}
	}
}
