package livepatch

import (
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/target/machine"
)

func b01(b bool) int {
	if b {
		return 1
	}
	return 0
}

// View prints the sysfs-like view of the livepatch core: every patch with
// its enabled, transition, forced, replace and model attributes, its
// objects with their patched attribute and functions, then every task's
// patch state (/proc/PID/patch_state) and, during a transition, the task
// that blocks it with its stack.
func (c *Core) View() string {
	var b strings.Builder
	b.WriteString("/sys/kernel/livepatch/\n")
	all := append(append([]*Patch(nil), c.patches...), c.gone...)
	for _, p := range all {
		inTrans := c.trans != nil && c.trans.patch == p
		fmt.Fprintf(&b, "  %s/\n", p.Name)
		fmt.Fprintf(&b, "    enabled: %d\n    transition: %d\n    forced: %d\n    replace: %d\n    model: %s\n",
			b01(p.Enabled), b01(inTrans), b01(p.Forced), b01(p.Replace), p.Model)
		for _, o := range p.Objs {
			if o.dynamic && p.Disabled {
				continue
			}
			fmt.Fprintf(&b, "    %s/\n      patched: %d\n", o.DisplayName(), b01(o.Patched))
			for _, f := range o.Funcs {
				to := "(nop)"
				if !f.nop {
					to = c.M.Syms.Format(f.NewFunc)
				}
				flags := ""
				if f.Flags&FuncForce != 0 {
					flags += " force"
				}
				if f.Flags&FuncImmediate != 0 {
					flags += " immediate"
				}
				fmt.Fprintf(&b, "      %s,%d -> %s%s\n", f.OldName, f.Sympos, to, flags)
			}
		}
	}
	b.WriteString("tasks (patch_state: -1 no transition, 0 unpatched, 1 patched):\n")
	for _, t := range c.M.Tasks() {
		if t.State == machine.Dead {
			continue
		}
		fmt.Fprintf(&b, "  %5d %-16s %2d\n", t.PID, t.Comm, c.TaskPatchState(t))
	}
	if c.trans != nil {
		fmt.Fprintf(&b, "transition: '%s' %s, %d tries\n", c.trans.patch.Name, opName(c.trans.target), c.trans.report.Tries)
		if c.trans.patch.Model == Refcount {
			fmt.Fprintf(&b, "  %d tasks inside the functions\n", c.trans.count)
		}
		if c.trans.blocker != "" {
			fmt.Fprintf(&b, "  blocked by %s\n%s", c.trans.blocker, c.trans.blockerStack)
		}
	}
	return b.String()
}
