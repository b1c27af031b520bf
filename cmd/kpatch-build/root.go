package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

// Error returns the wrapped error's message, or the exit status when
// there is none (no functional change).
func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// Unwrap returns the wrapped error.
func (e *exitError) Unwrap() error { return e.err }

var log = logrus.New()

func newRootCmd() *cobra.Command {
	var debug int
	var bf buildFlags
	root := &cobra.Command{
		Use:   "kpatch-build [flags] PATCH...",
		Short: "Build live-patch modules from kernel source patches",
		Long: `kpatch-build turns kernel source patches into a live-patch module in the
upstream livepatch format. With no --sourcedir it patches the bundled
target kernel, and --verify loads the result in the emulated target.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return cmd.Help()
			}
			return runBuild(cmd, &bf, args)
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			log.SetOutput(os.Stderr)
			log.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true})
			if debug > 0 {
				log.SetLevel(logrus.DebugLevel)
			}
		},
	}
	root.PersistentFlags().CountVarP(&debug, "debug", "d", "debug logging; also keeps the work tree (repeatable)")
	addBuildFlags(root, &bf)
	root.AddCommand(newDiffCmd())
	root.AddCommand(newInspectCmd())
	root.AddCommand(newTargetCmd())
	return root
}

// run executes the command line and returns the process exit status.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(os.Stderr, "kpatch-build: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(os.Stderr, "kpatch-build: %v\n", err)
	var re *refusal.Error
	if errors.As(err, &re) && re.Hint != "" {
		fmt.Fprintf(os.Stderr, "hint: %s\n", re.Hint)
	}
	return 1
}
