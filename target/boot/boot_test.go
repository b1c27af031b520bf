package boot_test

import (
	"testing"

	"github.com/kpatchgo/kpatch-build/target/boot"
	"github.com/kpatchgo/kpatch-build/target/targettest"
	"github.com/kpatchgo/kpatch-build/target/workload"
)

func TestBootScratch(t *testing.T) {
	k := targettest.Boot(t, boot.Options{CPUs: 2, Seed: 1, OnBootDone: func(k *boot.Kernel) {
		if err := workload.Start(k.M, "mixed"); err != nil {
			t.Fatal(err)
		}
	}})
	if err := k.M.RunFor(200_000_000); err != nil {
		t.Fatal(err)
	}
	t.Logf("boot at %d\n%s", k.BootTime, k.M.Console())
	t.Log(k.M.FormatTasks())
}
