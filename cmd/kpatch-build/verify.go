package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/target/livepatch"
)

// patchCheck is a check a catalogue patch carries in its NAME.expect file:
// "check syscall NR TEXT" means that with the patch applied the text
// system call NR returns TEXT somewhere in its output.
type patchCheck struct {
	syscall uint64
	text    string
}

func readPatchChecks(patch string) ([]patchCheck, error) {
	expect := strings.TrimSuffix(strings.TrimSuffix(patch, ".patch"), ".diff") + ".expect"
	f, err := os.Open(expect)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var checks []patchCheck
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[0] != "check" || fields[1] != "syscall" {
			continue
		}
		nr, err := strconv.ParseUint(fields[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad system call number %q", expect, n, fields[2])
		}
		text := strings.SplitN(sc.Text(), fields[2], 2)[1]
		checks = append(checks, patchCheck{nr, strings.TrimSpace(text)})
	}
	return checks, sc.Err()
}

func init() {
	verifyModule = func(cmd *cobra.Command, res *pipeline.Result, patches []string) error {
		var own []patchCheck
		for _, p := range patches {
			c, err := readPatchChecks(p)
			if err != nil {
				return err
			}
			own = append(own, c...)
		}
		checks := append([]livepatch.Check(nil), livepatch.DefaultChecks...)
		name := func(nr uint64) string {
			for _, c := range checks {
				if c.Proc == "" && c.Syscall == nr {
					return c.Name
				}
			}
			checks = append(checks, livepatch.Check{Name: fmt.Sprintf("syscall %d", nr), Syscall: nr})
			return checks[len(checks)-1].Name
		}
		for _, c := range own {
			name(c.syscall)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "verifying %s in the emulated target\n", filepath.Base(res.Module))
		rep, err := livepatch.VerifyModule(res.Module, livepatch.VerifyOptions{Vmlinux: filepath.Join(res.Running, "vmlinux"), Checks: checks})
		if err != nil {
			if rep != nil && rep.Console != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "target console:\n%s", rep.Console)
			}
			return refusal.New(refusal.VerifyFailed, err)
		}
		fmt.Fprint(cmd.OutOrStdout(), rep.Summary())
		for _, c := range own {
			n := name(c.syscall)
			if !strings.Contains(rep.Patched[n], c.text) {
				return refusal.New(refusal.VerifyMissing, n, c.text, rep.Patched[n])
			}
			if strings.Contains(rep.Before[n], c.text) || strings.Contains(rep.After[n], c.text) {
				return refusal.New(refusal.VerifyUnpatched, n, c.text)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "  check %s: %q appears with the patch only\n", n, c.text)
		}
		fmt.Fprintln(cmd.OutOrStdout(), "VERIFIED")
		return nil
	}
}
