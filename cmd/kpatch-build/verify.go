package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/target/livepatch"
)

// patchChecks are the checks a catalogue patch carries in its NAME.expect
// file beside it: "check SPEC" lines in the check language of
// livepatch.ParseCheck (e.g. "check syscall NR TEXT": with the patch
// applied the text system call NR returns TEXT somewhere in its output)
// and "why-not-reached FUNC REASON" lines. Other lines are the catalogue
// test's.
type patchChecks struct {
	specs      []string
	notReached map[string]string
}

func readPatchChecks(patch string, into *patchChecks) error {
	expect := strings.TrimSuffix(strings.TrimSuffix(patch, ".patch"), ".diff") + ".expect"
	f, err := os.Open(expect)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		key, rest, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch key {
		case "check":
			if strings.HasPrefix(rest, "module ") {
				continue // the catalogue test's: a module to preload
			}
			if _, err := livepatch.ParseCheck(rest); err != nil {
				return fmt.Errorf("%s:%d: %w", expect, n, err)
			}
			into.specs = append(into.specs, rest)
		case "why-not-reached":
			fn, why, _ := strings.Cut(rest, " ")
			if into.notReached == nil {
				into.notReached = map[string]string{}
			}
			into.notReached[fn] = strings.TrimSpace(why)
		}
	}
	return sc.Err()
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
