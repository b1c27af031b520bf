package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

const livepatchHelp = `livepatch commands:
  livepatch status            the sysfs-like view: patches, enabled, transition,
                              objects, per-task patch state, the blocking task
  livepatch enable MODULE     load a patch module (a .ko path or a module of the
                              build) and wait for its transition
  livepatch disable NAME      disable a patch (reverses a transition in progress)
                              and wait for the unpatching transition
  livepatch force             force the transition in progress
  livepatch wait [DURATION]   run until no transition is in progress (default 1s)
  livepatch unload NAME       disable if needed, then unload the patch module
  livepatch report            what each transition cost in virtual time`

// livepatchCmd runs "livepatch VERB ARGS...".
func (s *targetSession) livepatchCmd(args []string) error {
	c := s.lp
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprintln(s.out, livepatchHelp)
		return nil
	}
	want := func(n int) error {
		if len(args) != n+1 {
			return fmt.Errorf("livepatch %s takes %d argument(s)", args[0], n)
		}
		return nil
	}
	wait := func(limit uint64) error {
		done, err := c.WaitTransition(limit)
		if err != nil {
			return err
		}
		if !done {
			who, stack := c.Blocker()
			fmt.Fprintf(s.out, "transition of '%s' still in progress after %s: blocked by %s\n%s", c.InTransition().Name, fmtNS(limit), who, stack)
		}
		return nil
	}
	switch args[0] {
	case "status":
		fmt.Fprint(s.out, c.View())
	case "enable":
		if err := want(1); err != nil {
			return err
		}
		name := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(args[1]), ".ko"), "-", "_")
		if p := c.Patch(name); p != nil && p.Disabled {
			return fmt.Errorf("livepatch: '%s' was disabled and cannot be enabled again: unload and load the module", p.Name)
		}
		if _, err := s.do("load " + args[1]); err != nil {
			return err
		}
		return wait(1_000_000_000)
	case "disable":
		if err := want(1); err != nil {
			return err
		}
		if err := c.Disable(args[1]); err != nil {
			return err
		}
		return wait(1_000_000_000)
	case "force":
		if err := want(0); err != nil {
			return err
		}
		return c.Force()
	case "wait":
		limit := uint64(1_000_000_000)
		if len(args) == 2 {
			ns, err := parseNS(args[1])
			if err != nil {
				return err
			}
			limit = ns
		}
		return wait(limit)
	case "unload":
		if err := want(1); err != nil {
			return err
		}
		if p := c.Patch(args[1]); p != nil && !p.Disabled {
			if err := c.Disable(args[1]); err != nil {
				return err
			}
			if err := wait(1_000_000_000); err != nil {
				return err
			}
		}
		_, err := s.do("unload " + args[1])
		return err
	case "report":
		if len(c.Reports) == 0 {
			fmt.Fprintln(s.out, "no transitions yet")
		}
		for _, r := range c.Reports {
			fmt.Fprintln(s.out, r)
		}
	default:
		return fmt.Errorf("unknown livepatch command %q\n%s", args[0], livepatchHelp)
	}
	return nil
}
