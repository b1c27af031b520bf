package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/module"
)

func newInspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect MODULE.ko",
		Short: "Show what a patch module patches and whether it is well formed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := elfobj.Open(args[0])
			if err != nil {
				return &exitError{code: 1, err: err}
			}
			l := module.Inspect(f)
			fmt.Fprint(cmd.OutOrStdout(), l.String())
			if len(l.Problems) > 0 {
				return &exitError{code: 1, err: errors.New(args[0] + ": malformed patch module")}
			}
			return nil
		},
	}
}
