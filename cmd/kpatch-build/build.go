package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"github.com/kpatchgo/kpatch-build/patch"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	bundledsrc "github.com/kpatchgo/kpatch-build/emulator/kernel"
	"github.com/kpatchgo/kpatch-build/expect"
	"github.com/kpatchgo/kpatch-build/kernel"
	"github.com/kpatchgo/kpatch-build/module"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/worktree"
)

type buildFlags struct {
	sourceDir, config, vmlinux, name, output, cacheDir, report string
	symvers, debugModules, release, cc                         string // real trees: overrides of what -v finds
	targets                                                    []string
	jobs, fuzz, maxObjects                                     int
	nonReplace, skipCompilerCheck, skipProof, verify, kvm      bool
	distcc                                                     bool
}

func addBuildFlags(cmd *cobra.Command, f *buildFlags) {
	fl := cmd.Flags()
	fl.StringVarP(&f.sourceDir, "sourcedir", "s", "", "kernel source tree (default: the bundled target kernel)")
	fl.StringVarP(&f.config, "config", "c", "", "kernel .config to build with (copied into the work tree)")
	fl.StringVarP(&f.vmlinux, "vmlinux", "v", "", "the running kernel's vmlinux (default: built from the tree)")
	fl.StringVarP(&f.name, "name", "n", "", "module name (default: livepatch-PATCHNAME)")
	fl.StringVarP(&f.output, "output", "o", ".", "directory the module is written to")
	fl.StringArrayVarP(&f.targets, "target", "t", nil, "make target to build (repeatable; default: the tree's default)")
	fl.IntVarP(&f.jobs, "jobs", "j", 2, "parallel jobs for make and the object diffs")
	fl.IntVar(&f.fuzz, "fuzz", patch.DefaultFuzz, "apply a hunk with up to `N` lines of its context ignored, as GNU patch's --fuzz (0: exactly)")
	fl.IntVar(&f.maxObjects, "max-objects", pipeline.DefaultMaxObjects, "refuse, before compiling, a patch to a Linux tree that needs more than `N` objects compiled (the default, 7-14 minutes on 2 cores at 7-14 objects a minute; -1: no limit)")
	fl.BoolVar(&f.distcc, "distcc", false, "compile a Linux tree's objects through distcc (also when DISTCC_HOSTS is set); every helper needs the kernel's exact compiler")
	fl.BoolVarP(&f.nonReplace, "non-replace", "R", false, "do not replace older patches (no atomic replace)")
	fl.BoolVar(&f.skipCompilerCheck, "skip-compiler-check", false, "do not compare the compiler with the one that built the kernel")
	fl.BoolVar(&f.skipCompilerCheck, "skip-gcc-check", false, "deprecated alias of --skip-compiler-check")
	fl.BoolVar(&f.skipProof, "skip-proof", false, "DANGEROUS: do not prove the original objects equal to the running kernel's (a real tree whose kernel has no debug info)")
	fl.MarkHidden("skip-gcc-check")
	fl.StringVar(&f.cacheDir, "cachedir", "", "cache of builds (default: the user cache directory)")
	fl.StringVar(&f.report, "report", "", "write a JSON report to `FILE`")
	fl.StringVar(&f.symvers, "symvers", "", "Module.symvers (default: /lib/modules/KVER/build/Module.symvers for a Linux tree)")
	fl.StringVar(&f.debugModules, "debug-modules", "", "directory of the debug modules (default: /usr/lib/debug/lib/modules/KVER)")
	fl.StringVar(&f.release, "kernel-release", "", "the running kernel's release KVER (default: read from the vmlinux)")
	fl.StringVar(&f.cc, "cc", "", "compiler for a Linux tree (default: the one named by the vmlinux's .comment, e.g. gcc-12)")
	fl.BoolVar(&f.verify, "verify", false, "prove the module: in the emulated target (bundled kernel) or under qemu with the running kernel (Linux trees)")
	fl.BoolVar(&f.kvm, "kvm", false, "with --verify on a Linux tree: boot qemu with KVM instead of TCG")
}

func defaultCacheDir() string {
	if d := os.Getenv("KPATCH_CACHEDIR"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	if err != nil {
		d = os.TempDir()
	}
	return filepath.Join(d, "kpatch-build-go")
}

// bundledTree extracts the bundled kernel's sources into the cache once.
func bundledTree(cacheDir string) (string, error) {
	dir, _, err := cache.Cached(cacheDir, "src-"+cache.Key(cache.Parts{"bundled kernel": bundledsrc.Digest()}), bundledsrc.Extract)
	return dir, err
}

// checkBuildFlags refuses flag values that cannot be right before
// anything is built; every error is a usage error naming the flag.
func checkBuildFlags(f *buildFlags) error {
	if f.jobs < 1 {
		return usagef("-j/--jobs %d: must be at least 1", f.jobs)
	}
	if f.fuzz < 0 {
		return usagef("--fuzz %d: must not be negative", f.fuzz)
	}
	if f.name != "" {
		if err := module.CheckName(f.name); err != nil {
			return usagef("-n/--name %q: %w", f.name, err)
		}
	}
	if st, err := os.Stat(f.output); err == nil && !st.IsDir() {
		return usagef("-o/--output %s: not a directory (-o names the directory the module is written to)", f.output)
	}
	if f.report != "" {
		if err := checkWritable(f.report); err != nil {
			return usagef("--report %s: %w", f.report, err)
		}
	}
	if f.config != "" && f.sourceDir == "" {
		return usagef("--config: the bundled kernel has no configuration (use it with -s/--sourcedir)")
	}
	if f.verify && f.sourceDir != "" && !pipeline.IsLinuxTree(f.sourceDir) {
		return usagef("--verify works with the bundled kernel and with Linux trees (%s is neither)", f.sourceDir)
	}
	return nil
}

// checkWritable checks that a file can be written at path: its directory
// exists and takes a new file, and path is not a directory. It creates and
// removes a probe file; the error names no temporary file.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, bareError(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return errors.New("is a directory")
	}
	probe, err := os.CreateTemp(dir, ".kpatch-probe-*")
	if err != nil {
		return fmt.Errorf("cannot create a file in %s: %w", dir, bareError(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

// bareError strips the path from a *PathError (which may name a temporary
// file the user never chose), keeping the cause.
func bareError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// writeReport writes the JSON report (a variable for the tests).
var writeReport = worktree.ReplaceFile

func runBuild(cmd *cobra.Command, f *buildFlags, patches []string) error {
	if err := checkBuildFlags(f); err != nil {
		return err
	}
	checks, err := checkVerifyInput(f, patches)
	if err != nil {
		return err
	}
	ctx, sig, stop := interruptContext()
	defer stop()
	if f.cacheDir == "" {
		f.cacheDir = defaultCacheDir()
	}
	start := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(cmd.ErrOrStderr(), "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	// The cache is named by its absolute path from here on (cache.Lock).
	cacheDir, unlock, err := cache.Lock(f.cacheDir, progress) // its errors name the cache
	if err != nil {
		return err
	}
	f.cacheDir = cacheDir
	defer unlock()
	src := f.sourceDir
	if src == "" {
		if src, err = bundledTree(f.cacheDir); err != nil {
			return fmt.Errorf("bundled kernel: %w", err)
		}
	}
	keep := log.Level >= 5
	res, err := pipeline.Run(ctx, pipeline.Options{SourceDir: src, Config: f.config, Vmlinux: f.vmlinux, Patches: patches, Fuzz: f.fuzz, Name: f.name,
		Symvers: f.symvers, DebugModules: f.debugModules, Release: f.release, CC: f.cc,
		OutputDir: f.output, Unverified: f.verify, CacheDir: f.cacheDir, Jobs: f.jobs, NonReplace: f.nonReplace,
		SkipCompilerCheck: f.skipCompilerCheck, SkipProof: f.skipProof, MaxObjects: f.maxObjects, Distcc: f.distcc, KeepWork: keep, Targets: f.targets, Log: progress,
		Debug: func(format string, args ...any) { log.Debugf(format, args...) }})
	if err == nil && f.verify {
		interrupted := func() bool { return sig() != nil }
		err = verifyAndPublish(ctx, cmd, res, checks, verifyOptions{kvm: f.kvm, interrupted: interrupted, progress: progress})
	}
	if s := sig(); s != nil {
		// Interrupted: whatever the pipeline or the verification made
		// of its killed commands, one line and no module.
		if res != nil && res.Module != "" {
			os.Remove(res.Module)
		}
		return &exitError{code: 128 + int(s.(syscall.Signal)), err: fmt.Errorf("interrupted by %s", signalName(s))}
	}
	if f.report != "" && res != nil {
		if err != nil {
			res.Report.Error = err.Error()
		}
		if werr := writeReport(f.report, res.Report.JSON(), 0o644); werr != nil {
			if err != nil {
				// The build's own error comes first; the report's after.
				fmt.Fprintf(cmd.ErrOrStderr(), "kpatch-build: --report %s: %v\n", f.report, bareError(werr))
			} else {
				// Exit 0 promises the module; without its report it
				// is not kept.
				if res.Module != "" {
					os.Remove(res.Module)
				}
				return &exitError{code: exitFailure, err: fmt.Errorf("--report %s: %w (the module %s was removed)",
					f.report, bareError(werr), filepath.Base(res.Module))}
			}
		}
	}
	if err != nil {
		return err // run prints a refusal's hint
	}
	progress("SUCCESS: %s", res.Module)
	return nil
}

// verifyOptions are how --verify runs.
type verifyOptions struct {
	kvm bool // boot qemu with KVM
	// interrupted reports a SIGINT or SIGTERM: it holds from the
	// signal on, before the run's commands (qemu) are killed.
	interrupted func() bool
	progress    func(string, ...any)
}

// verifyAndPublish verifies the module the pipeline wrote as
// NAME.ko.unverified with the kernel's own verifier (the emulated target
// for the bundled kernel, qemu with the running kernel for a
// distribution kernel) and, once it is verified, renames it NAME.ko:
// with --verify, the output directory holds a NAME.ko only when it was
// verified. A module that fails is kept under its unverified name, and
// the run says so; an interrupted run says nothing (the caller does).
func verifyAndPublish(ctx context.Context, cmd *cobra.Command, res *pipeline.Result, checks *expect.Set, vo verifyOptions) error {
	vo.progress("built %s; it is renamed %s once verified", res.Module, filepath.Base(verifiedName(res.Module)))
	err := res.Kernel.Verify(ctx, kernel.Verification{Module: res.Module, Checks: checks, Parents: res.Parents, KVM: vo.kvm,
		Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr(), Log: vo.progress, Interrupted: vo.interrupted})
	if vo.interrupted() {
		return context.Canceled // the caller says by which signal
	}
	if err != nil {
		vo.progress("not verified: the module is kept as %s", res.Module)
		return err
	}
	final := verifiedName(res.Module)
	if err := os.Rename(res.Module, final); err != nil {
		return fmt.Errorf("verified module: %w", err)
	}
	res.Module, res.Report.Module = final, final
	return nil
}

// verifiedName is the name of a verified module: NAME.ko for
// NAME.ko.unverified.
func verifiedName(unverified string) string {
	return strings.TrimSuffix(unverified, pipeline.UnverifiedSuffix)
}

// checkVerifyInput reads the checks --verify will run (each patch's
// NAME.expect, for the verifier of the kernel of -s) before anything is
// built or cached, so that a malformed check is refused with its file and
// line and no module is written.
func checkVerifyInput(f *buildFlags, patches []string) (*expect.Set, error) {
	if !f.verify {
		return nil, nil
	}
	return pipeline.ReadChecks(f.sourceDir, patches)
}
