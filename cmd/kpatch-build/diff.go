package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
	"github.com/kpatchgo/kpatch-build/worktree"
)

type diffFlags struct {
	parent  string
	symtab  string
	symvers string
	output  string
	report  string
	klpArch bool
}

func newDiffCmd() *cobra.Command {
	var f diffFlags
	cmd := &cobra.Command{
		Use:   "diff [flags] ORIG.o PATCHED.o\n  kpatch-build diff ORIG.o PATCHED.o PARENT_NAME PARENT_SYMTAB MODULE_SYMVERS PATCH_MODULE_NAME OUTPUT.o",
		Short: "Diff one object pair into a patch object (create-diff-object)",
		Long: `Compare the original and the patched build of one translation unit and
write an object holding the changed functions and what they need, in the
intermediate format of kpatch's create-diff-object.

Two calling conventions are accepted:

  kpatch-build diff --symtab vmlinux [--parent vmlinux] [--symvers Module.symvers] -o out.o ORIG.o PATCHED.o
  kpatch-build diff ORIG.o PATCHED.o PARENT_NAME PARENT_SYMTAB MODULE_SYMVERS PATCH_MODULE_NAME OUTPUT.o

The second is create-diff-object's own, so this command can replace it in
an existing kpatch pipeline. PARENT_SYMTAB (--symtab) is the text output of
'readelf -s --wide' on the parent, or the parent ELF file itself. The sizes
of the kernel's special-section structs come from the environment
(BUG_STRUCT_SIZE, EX_STRUCT_SIZE, JUMP_STRUCT_SIZE, ALT_STRUCT_SIZE, ...).

Exit status: 0 output written; 1 error or hard refusal; 2 unreconcilable
difference; 3 no functional change (no output written).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 && len(args) != 7 {
				return fmt.Errorf("takes 2 arguments (with -o) or create-diff-object's 7, got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 7 {
				f.parent, f.symtab, f.symvers, f.output = args[2], args[3], args[4], args[6]
				if err := notAnInput(f.output, "OUTPUT (7th argument)", args[0], args[1]); err != nil {
					return err
				}
				args = args[:2]
			} else {
				if f.output == "" {
					return usagef("diff: -o/--output OUTPUT is required")
				}
				if f.symtab == "" {
					return usagef("diff: --symtab PARENT_SYMTAB is required (the parent's 'readelf -s --wide' text or ELF file)")
				}
				if err := notAnInput(f.output, "-o/--output", args[0], args[1]); err != nil {
					return err
				}
			}
			return runDiff(cmd, &f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.parent, "parent", "vmlinux", "object the patched code lives in: vmlinux or a module name")
	fl.StringVar(&f.symtab, "symtab", "", "parent symbol table: 'readelf -s --wide' text or an ELF file (vmlinux, .ko)")
	fl.StringVar(&f.symvers, "symvers", "", "Module.symvers of the kernel")
	fl.StringVarP(&f.output, "output", "o", "", "output object")
	fl.StringVar(&f.report, "report", "", "write a JSON report of the diff to `FILE`")
	fl.BoolVarP(&f.klpArch, "klp-arch", "a", false, "pre-5.8 .klp.arch mode (not supported)")
	return cmd
}

// notAnInput refuses an output path that names one of the input objects
// (the same path once cleaned, or the same file through another name):
// writing it would destroy the input.
func notAnInput(out, what string, inputs ...string) error {
	ost, oerr := os.Stat(out)
	for _, in := range inputs {
		same := filepath.Clean(out) == filepath.Clean(in)
		if !same && oerr == nil {
			if ist, err := os.Stat(in); err == nil {
				same = os.SameFile(ost, ist)
			}
		}
		if same {
			return usagef("diff: %s %s is the input object %s: it would be overwritten", what, out, in)
		}
	}
	return nil
}

func runDiff(cmd *cobra.Command, f *diffFlags, origPath, patchedPath string) error {
	if f.klpArch {
		return &exitError{code: 1, err: errors.New("diff: --klp-arch (kernels before 5.8) is not supported")}
	}
	fail := func(err error) error { return &exitError{code: 1, err: err} }
	orig, err := elfobj.Open(origPath)
	if err != nil {
		return fail(err)
	}
	patched, err := elfobj.Open(patchedPath)
	if err != nil {
		return fail(err)
	}
	var tab *symtab.Table
	if f.symtab != "" {
		if tab, err = symtab.Load(f.symtab); err != nil {
			return fail(err)
		}
	}
	var sv *symtab.Symvers
	if f.symvers != "" {
		if sv, err = symtab.LoadSymvers(f.symvers); err != nil {
			return fail(err)
		}
	}
	obj := elfdiff.ObjectName(origPath)
	stdout := cmd.OutOrStdout()
	opts := elfdiff.Options{
		Parent: f.parent, Table: tab, Symvers: sv, OutputName: f.output,
		Logf: func(format string, args ...any) { fmt.Fprintf(stdout, "%s: %s\n", obj, fmt.Sprintf(format, args...)) },
		Debugf: func(format string, args ...any) {
			log.Debugf("%s: %s", obj, fmt.Sprintf(format, args...))
		},
	}
	res, derr := elfdiff.Diff(orig, patched, opts)
	if f.report != "" && res != nil {
		if err := worktree.ReplaceFile(f.report, res.Report.JSON(), 0o644); err != nil {
			return fail(fmt.Errorf("report: %w", err))
		}
	}
	code := elfdiff.ExitCode(derr)
	switch {
	case code == elfdiff.ExitNoChange:
		return &exitError{code: code}
	case code == elfdiff.ExitFatal:
		var e *refusal.Error
		errors.As(derr, &e)
		msg := fmt.Sprintf("ERROR: %s: %s", obj, e.Msg)
		if e.Hint != "" {
			msg += "\nhint: " + e.Hint
		}
		fmt.Fprintln(os.Stderr, msg)
		return &exitError{code: code, err: errors.New("unreconcilable difference")}
	case derr != nil:
		var e *refusal.Error
		if errors.As(derr, &e) && e.Hint != "" {
			return &exitError{code: code, err: fmt.Errorf("ERROR: %w\nhint: %s", derr, e.Hint)}
		}
		return &exitError{code: code, err: fmt.Errorf("ERROR: %w", derr)}
	}
	if err := res.Output.WriteFile(f.output); err != nil {
		return fail(fmt.Errorf("%s: %w", f.output, err))
	}
	return nil
}
