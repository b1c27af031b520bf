package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/guest"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// verifyReal proves a real kernel's patch module under qemu with the
// running kernel itself: it boots the kernel, runs the checks of each
// PATCH.expect without the patch, loads the module and waits for its
// transition, runs them with it, disables and unloads it and runs them
// again. Modules the patch changes (and the expectations' kmod lines) are
// loaded before the patch; a second boot loads them after it (late module
// patching). The checks must tell the patch from no patch: one of them at
// least must fail its patched regexp without the patch. Its last line
// says what was proved: VERIFIED (load, transition, unload; ...) with the
// behaviour checks, or that there were none.
func verifyReal(ctx context.Context, cmd *cobra.Command, res *pipeline.Result, patches []string, vo verifyOptions) error {
	e, err := guest.ReadPatchExpectations(patches)
	if err != nil {
		return err
	}
	kmods := append(append([]string(nil), res.Parents...), e.Kmods...)
	slices.Sort(kmods)
	kmods = slices.Compact(kmods)
	opts := guest.Options{Release: res.Release, KVM: vo.kvm, Log: vo.progress}
	runs := []guest.Verify{{Module: res.Module, Preload: kmods, Checks: e.Checks}}
	if len(kmods) > 0 {
		runs = append(runs, guest.Verify{Module: res.Module, Preload: kmods, Checks: e.Checks, LateLoad: true})
	}
	var distinct []int
	for _, v := range runs {
		how := "under qemu"
		if v.LateLoad {
			how += ", the target modules loaded after the patch"
		}
		vo.progress("verifying %s %s (%d check(s))", filepath.Base(res.Module), how, len(v.Checks))
		r, err := guest.VerifyPatch(ctx, opts, v)
		if vo.interrupted() {
			return err // the caller says it was interrupted
		}
		if r != nil {
			fmt.Fprint(cmd.OutOrStdout(), r.Summary)
		}
		var ge *guest.Error
		if errors.As(err, &ge) && ge.Indistinct != "" && len(ge.Problems) == 1 {
			return refusal.New(refusal.VerifyIndistinct, ge.Indistinct)
		}
		if err != nil {
			return refusal.New(refusal.VerifyFailed, err)
		}
		if !v.LateLoad {
			distinct = r.Distinct
		}
	}
	fmt.Fprintln(cmd.OutOrStdout(), verifiedLine(len(e.Checks), len(distinct)))
	return nil
}

// verifiedLine is the last line of a verification that passed: what it
// proved.
func verifiedLine(checks, distinct int) string {
	if checks == 0 {
		return "VERIFIED (load, transition, unload; no behaviour checks)"
	}
	return fmt.Sprintf("VERIFIED (load, transition, unload; %d behaviour check(s), %d telling the patch from no patch)", checks, distinct)
}
