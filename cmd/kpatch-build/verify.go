package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/guest"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// patchChecks are the checks a catalogue patch carries in its NAME.expect
// file beside it: "check SPEC" lines in the check language of
// livepatch.ParseCheck (e.g. "check syscall NR TEXT": with the patch
// applied the text system call NR returns TEXT somewhere in its output)
// and "why-not-reached FUNC REASON" lines. The other keys of
// bundledExpectKeys are the catalogue test's; any other line is refused
// (guest.ReadExpectLines).
type patchChecks struct {
	specs      []string
	notReached map[string]string
}

// bundledExpectKeys are the keys of a bundled-kernel catalogue entry's
// NAME.expect.
var bundledExpectKeys = []string{"check", "why-not-reached", "desc", "outcome", "changed", "new", "refuse", "hint",
	"stack", "features", "nonreplace", "knownbug"}

func readPatchChecks(patch string, into *patchChecks) error {
	expect := guest.ExpectPath(patch)
	lines, err := guest.ReadExpectLines(expect, bundledExpectKeys)
	if err != nil {
		return err
	}
	for _, l := range lines {
		switch l.Key {
		case "check":
			if strings.HasPrefix(l.Rest, "module ") {
				continue // the catalogue test's: a module to preload
			}
			if _, err := livepatch.ParseCheck(l.Rest); err != nil {
				return fmt.Errorf("%s:%d: %w", expect, l.N, err)
			}
			into.specs = append(into.specs, l.Rest)
		case "why-not-reached":
			fn, why, _ := strings.Cut(l.Rest, " ")
			if into.notReached == nil {
				into.notReached = map[string]string{}
			}
			into.notReached[fn] = strings.TrimSpace(why)
		}
	}
	return nil
}

// loadPatchChecks reads the checks of every patch's NAME.expect and
// compiles them; runBuild calls it before building, so a malformed check
// is refused (naming the file and line) before anything is written.
func loadPatchChecks(patches []string) (patchChecks, []livepatch.Check, []livepatch.Check, error) {
	var pc patchChecks
	for _, p := range patches {
		if err := readPatchChecks(p, &pc); err != nil {
			return pc, nil, nil, err
		}
	}
	checks, own, err := livepatch.AddChecks(livepatch.DefaultChecks, pc.specs)
	return pc, checks, own, err
}

func init() {
	verifyModule = func(cmd *cobra.Command, res *pipeline.Result, patches []string) error {
		pc, checks, own, err := loadPatchChecks(patches)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "verifying %s in the emulated target\n", filepath.Base(res.Module))
		rep, err := livepatch.VerifyModule(res.Module, livepatch.VerifyOptions{Vmlinux: filepath.Join(res.Running, "vmlinux"),
			Checks: checks, NotReached: pc.notReached})
		if err != nil {
			if rep != nil && rep.Console != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "target console:\n%s", rep.Console)
			}
			return refusal.New(refusal.VerifyFailed, err)
		}
		fmt.Fprint(cmd.OutOrStdout(), rep.Summary())
		for _, c := range own {
			if !strings.Contains(rep.Patched[c.Name], c.Want) {
				return refusal.New(refusal.VerifyMissing, c.Name, c.Want, rep.Patched[c.Name])
			}
			if strings.Contains(rep.Before[c.Name], c.Want) || strings.Contains(rep.After[c.Name], c.Want) {
				return refusal.New(refusal.VerifyUnpatched, c.Name, c.Want)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "  check %s: %q appears with the patch only\n", c.Name, c.Want)
		}
		fmt.Fprintln(cmd.OutOrStdout(), "VERIFIED")
		return nil
	}
}
