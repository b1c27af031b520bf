package main

import (
	"context"
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
// patching).
func verifyReal(ctx context.Context, cmd *cobra.Command, res *pipeline.Result, patches []string, kvm bool,
	progress func(string, ...any)) error {
	var checks []guest.Check
	kmods := append([]string(nil), res.Parents...)
	for _, p := range patches {
		e, err := guest.ReadExpectations(guest.ExpectPath(p))
		if err != nil {
			return err
		}
		checks = append(checks, e.Checks...)
		kmods = append(kmods, e.Kmods...)
	}
	slices.Sort(kmods)
	kmods = slices.Compact(kmods)
	opts := guest.Options{Release: res.Release, KVM: kvm, Log: progress}
	runs := []guest.Verify{{Module: res.Module, Preload: kmods, Checks: checks}}
	if len(kmods) > 0 {
		runs = append(runs, guest.Verify{Module: res.Module, Preload: kmods, Checks: checks, LateLoad: true})
	}
	for _, v := range runs {
		how := "under qemu"
		if v.LateLoad {
			how += ", the target modules loaded after the patch"
		}
		progress("verifying %s %s (%d check(s))", filepath.Base(res.Module), how, len(v.Checks))
		r, err := guest.VerifyPatch(ctx, opts, v)
		if r != nil {
			fmt.Fprint(cmd.OutOrStdout(), r.Summary)
		}
		if err != nil {
			return refusal.New(refusal.VerifyFailed, err)
		}
	}
	fmt.Fprintln(cmd.OutOrStdout(), "VERIFIED")
	return nil
}
