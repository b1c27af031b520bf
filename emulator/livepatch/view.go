package livepatch

import (
	"fmt"
	"strings"

	"github.com/kpatchgo/kpatch-build/emulator/machine"
)

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// SysfsEntry is one entry of /sys/kernel/livepatch as Linux lays it out:
// a directory per registered patch with its attributes, a directory per
// object with its patched attribute, and a directory "NAME,SYMPOS" per
// function (SYMPOS 1 when the patch gave 0).
type SysfsEntry struct {
	// Path is relative to /sys/kernel/livepatch ("p/vmlinux/patched").
	Path string
	// Mode is the entry's mode as ls -l prints it ("-rw-r--r--").
	Mode string
	// Value is what reading the attribute gives, without the newline
	// ("" for directories and write-only attributes).
	Value string
	// Note says more than Linux's sysfs does (the function a patched
	// function goes to, the consistency model); "" if nothing.
	Note string
}

// Dir reports whether the entry is a directory.
func (e SysfsEntry) Dir() bool { return strings.HasPrefix(e.Mode, "d") }

const (
	modeDir = "drwxr-xr-x"
	modeRW  = "-rw-r--r--"
	modeRO  = "-r--r--r--"
	modeWO  = "--w-------"
)

// Sysfs returns the entries of /sys/kernel/livepatch, in order. A patch
// is there from its klp_enable_patch until it is disabled or replaced
// (Linux frees it then).
func (c *Core) Sysfs() []SysfsEntry {
	var out []SysfsEntry
	add := func(path, mode, value, note string) {
		out = append(out, SysfsEntry{Path: path, Mode: mode, Value: value, Note: note})
	}
	for i, p := range c.patches {
		inTrans := c.trans != nil && c.trans.patch == p
		add(p.Name, modeDir, "", "")
		add(p.Name+"/enabled", modeRW, b01(p.Enabled), "")
		add(p.Name+"/force", modeWO, "", "")
		add(p.Name+"/replace", modeRO, b01(p.Replace), "")
		add(p.Name+"/stack_order", modeRO, fmt.Sprint(i+1), "")
		add(p.Name+"/transition", modeRO, b01(inTrans), "")
		add(p.Name+"/model", modeRO, p.Model.String(), "not in Linux: the consistency model")
		for _, o := range p.Objs {
			od := p.Name + "/" + o.DisplayName()
			add(od, modeDir, "", "")
			add(od+"/patched", modeRO, b01(o.Patched), "")
			for _, f := range o.Funcs {
				note := "(nop)"
				if !f.nop {
					note = "-> " + c.M.Syms.Format(f.NewFunc)
				}
				if f.Flags&FuncForce != 0 {
					note += " force"
				}
				if f.Flags&FuncImmediate != 0 {
					note += " immediate"
				}
				add(fmt.Sprintf("%s/%s,%d", od, f.OldName, max(f.Sympos, 1)), modeDir, "", note)
			}
		}
	}
	return out
}

// SysfsRead returns the entry at path (relative to /sys/kernel/livepatch,
// or absolute), like ls -l and cat on it.
func (c *Core) SysfsRead(path string) (SysfsEntry, error) {
	rel := strings.Trim(strings.TrimPrefix(path, "/sys/kernel/livepatch"), "/")
	for _, e := range c.Sysfs() {
		if e.Path == rel {
			return e, nil
		}
	}
	return SysfsEntry{}, fmt.Errorf("/sys/kernel/livepatch/%s: no such file or directory", rel)
}

// View prints /sys/kernel/livepatch (modes, names, values; what Linux
// does not show in parentheses), then every task's patch state
// (/proc/PID/patch_state) and, during a transition, the task that blocks
// it with its stack.
func (c *Core) View() string {
	var b strings.Builder
	b.WriteString("/sys/kernel/livepatch/\n")
	for _, e := range c.Sysfs() {
		depth := strings.Count(e.Path, "/")
		name := e.Path[strings.LastIndexByte(e.Path, '/')+1:]
		if e.Dir() {
			name += "/"
		}
		line := fmt.Sprintf("%s%s %s", strings.Repeat("  ", depth+1), e.Mode, name)
		if e.Value != "" {
			line += ": " + e.Value
		}
		if e.Note != "" {
			line += " (" + e.Note + ")"
		}
		b.WriteString(line + "\n")
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
