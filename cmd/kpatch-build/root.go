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

// Exit statuses of the main command (the diff command keeps
// create-diff-object's own, see diff.go).
const (
	exitFailure = 1 // refusal or error
	exitUsage   = 2 // wrong command line
)

// usageError is a command line that cannot be right: a bad flag value, a
// missing argument. It exits with status 2 (1 under diff, whose 2 means an
// unreconcilable difference).
type usageError struct{ err error }

// Error returns the message.
func (e *usageError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e *usageError) Unwrap() error { return e.err }

// usagef returns a usage error; the message names the flag or argument.
func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// usageArgs wraps a cobra argument validator so that its errors are usage
// errors.
func usageArgs(v cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := v(cmd, args); err != nil {
			if cmd.HasParent() {
				err = fmt.Errorf("%s: %w", cmd.Name(), err)
			}
			return &usageError{err: err}
		}
		return nil
	}
}

// markUsage makes every flag parse error and argument count error of cmd
// and its subcommands a usage error.
func markUsage(cmd *cobra.Command) {
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	if cmd.Args != nil {
		cmd.Args = usageArgs(cmd.Args)
	}
	for _, c := range cmd.Commands() {
		markUsage(c)
	}
}

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
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("no PATCH given (usage: kpatch-build [flags] PATCH...; see --help)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
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
	markUsage(root)
	return root
}

// run executes the command line and returns the process exit status.
func run(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(os.Stderr, "kpatch-build: %v\n", err)
		if cmd != nil && (cmd.Name() == "diff" || cmd.HasParent() && cmd.Parent().Name() == "diff") {
			return exitFailure
		}
		return exitUsage
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
	return exitFailure
}
