package guest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// helperEnv, set to a kernel release, makes the test binary a run whose
// guest hangs (runHungGuest).
const helperEnv = "KPATCH_GUEST_TEST_HUNG_RELEASE"

// runHungGuest boots the kernel of release with a guest that never
// finishes and waits for it: the process a test kills.
func runHungGuest(release string) {
	o := Options{Release: release, Timeout: 10 * time.Minute}
	_, err := Run(context.Background(), o, "sleep 100000\n", nil)
	fmt.Fprintln(os.Stderr, "the hung guest ended:", err)
	os.Exit(3)
}

// TestKilledRunLeavesNoQemu: SIGKILL of a run whose guest hangs (it
// cannot clean up) leaves no qemu behind (the parent-death signal kills
// it within a few seconds), and the guest directory the run left in
// $TMPDIR is swept by the next run.
func TestKilledRunLeavesNoQemu(t *testing.T) {
	o := needKernel(t)
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+o.Release, "TMPDIR="+tmp)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var qemu []int
	if !testutil.WaitFor(30*time.Second, func() bool {
		qemu = testutil.Children(cmd.Process.Pid, "qemu-system")
		return len(qemu) > 0
	}) {
		t.Fatal("the helper started no qemu in 30s")
	}
	time.Sleep(2 * time.Second) // the guest boots, then hangs
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	start := time.Now()
	if !testutil.WaitFor(5*time.Second, func() bool { return !testutil.Alive(qemu[0]) }) {
		syscall.Kill(qemu[0], syscall.SIGKILL)
		t.Fatalf("qemu (pid %d) still runs 5s after its run was killed", qemu[0])
	}
	t.Logf("qemu ended %.2fs after its run was killed", time.Since(start).Seconds())
	left, _ := filepath.Glob(filepath.Join(tmp, guestDirPrefix+"*"))
	if len(left) != 1 {
		t.Fatalf("the killed run left %v in TMPDIR, want its guest directory", left)
	}
	if gone := sweepGuestDirs(tmp, time.Now()); len(gone) != 1 || gone[0] != filepath.Base(left[0]) {
		t.Errorf("the sweep removed %v, want %s", gone, filepath.Base(left[0]))
	}
}
