package cpu

import (
	"testing"

	"github.com/kpatchgo/kpatch-build/emulator/mem"
)

// TestExecDispatch checks that exec hands every operation the translator
// can make to a family that executes it: none ends in the "no handler"
// fault, which an operation past the last one does.
func TestExecDispatch(t *testing.T) {
	run := func(o op) *CPU {
		c := New(mem.New(), Config{})
		c.exec(&inst{op: o, size: 8, ssize: 4, ak: kReg, bk: kReg, base: noReg, index: noReg})
		return c
	}
	for o := opUD; o <= opSahf; o++ {
		if c := run(o); c.unimpl != nil && c.unimpl.Why == "no handler" {
			t.Errorf("operation %d has no handler", o)
		}
	}
	if c := run(opSahf + 1); c.unimpl == nil || c.unimpl.Why != "no handler" {
		t.Errorf("an unknown operation gave %+v, want the no-handler fault", c.unimpl)
	}
}
