package main

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestKillDescendants: on an interrupt the whole tree of processes a run
// started dies, grandchildren included (killing only the direct child, as
// exec.CommandContext does, leaves them running in the work directory).
func TestKillDescendants(t *testing.T) {
	setChildSubreaper()
	cmd := exec.Command("sh", "-c", "sleep 300 & sleep 300 & echo started; wait")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "started\n" {
		t.Fatalf("shell said %q", line)
	}
	pids := descendants(os.Getpid())
	if len(pids) < 3 {
		t.Fatalf("descendants: %v, want the shell and its two sleeps", pids)
	}
	killDescendants()
	cmd.Wait()
	for _, p := range pids {
		if testutil.Alive(p) {
			t.Errorf("process %d survived", p)
			exec.Command("kill", "-9", strconv.Itoa(p)).Run()
		}
	}
}
