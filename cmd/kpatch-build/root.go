package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
)

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

var log = logrus.New()

func newRootCmd() *cobra.Command {
	var debug int
	root := &cobra.Command{
		Use:           "kpatch-build",
		Short:         "Build live-patch modules from kernel source patches",
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
	root.PersistentFlags().CountVarP(&debug, "debug", "d", "debug logging (repeatable)")
	root.AddCommand(newDiffCmd())
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
	return 1
}
