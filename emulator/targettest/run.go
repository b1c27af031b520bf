package targettest

import (
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/boot"
	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

// RunScript runs script as a user process on k and waits (at most 1 s of
// virtual time) for it to finish.
func RunScript(t testing.TB, k *boot.Kernel, name string, script machine.Script) *machine.Task {
	t.Helper()
	task, err := k.M.Spawn(name, script)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.M.RunUntil(func() bool { return task.State == machine.Dead }, k.M.Now()+1_000_000_000); err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, k.M.Console())
	}
	if task.State != machine.Dead {
		t.Fatalf("%s did not finish", task)
	}
	return task
}
