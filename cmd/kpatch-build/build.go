package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kpatchgo/kpatch-build/build"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/target/kernel"
)

type buildFlags struct {
	sourceDir, config, vmlinux, name, output, cacheDir, report string
	symvers, debugModules, release, cc                         string // real trees: overrides of what -v finds
	targets                                                    []string
	jobs                                                       int
	nonReplace, skipCompilerCheck, verify                      bool
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
	fl.BoolVarP(&f.nonReplace, "non-replace", "R", false, "do not replace older patches (no atomic replace)")
	fl.BoolVar(&f.skipCompilerCheck, "skip-compiler-check", false, "do not compare the compiler with the one that built the kernel")
	fl.BoolVar(&f.skipCompilerCheck, "skip-gcc-check", false, "deprecated alias of --skip-compiler-check")
	fl.MarkHidden("skip-gcc-check")
	fl.StringVar(&f.cacheDir, "cachedir", "", "cache of builds (default: the user cache directory)")
	fl.StringVar(&f.report, "report", "", "write a JSON report to `FILE`")
	fl.StringVar(&f.symvers, "symvers", "", "Module.symvers (default: /lib/modules/KVER/build/Module.symvers for a Linux tree)")
	fl.StringVar(&f.debugModules, "debug-modules", "", "directory of the debug modules (default: /usr/lib/debug/lib/modules/KVER)")
	fl.StringVar(&f.release, "kernel-release", "", "the running kernel's release KVER (default: read from the vmlinux)")
	fl.StringVar(&f.cc, "cc", "", "compiler for a Linux tree (default: the one named by the vmlinux's .comment, e.g. gcc-12)")
	fl.BoolVar(&f.verify, "verify", false, "load the module in the emulated target and check it (bundled kernel only)")
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
func bundledTree(cache string) (string, error) {
	dir := filepath.Join(cache, "src-"+kernel.Digest())
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, "tmp-src-")
	if err != nil {
		return "", err
	}
	if err := kernel.Extract(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := build.Publish(tmp, dir, ".complete"); err != nil {
		return "", err
	}
	return dir, nil
}

func runBuild(cmd *cobra.Command, f *buildFlags, patches []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.cacheDir == "" {
		f.cacheDir = defaultCacheDir()
	}
	src := f.sourceDir
	bundled := src == ""
	if bundled {
		var err error
		if src, err = bundledTree(f.cacheDir); err != nil {
			return fmt.Errorf("bundled kernel: %w", err)
		}
	}
	if f.config != "" && bundled {
		return &exitError{code: 1, err: errors.New("--config: the bundled kernel has no configuration")}
	}
	if f.verify && !bundled {
		return &exitError{code: 1, err: errors.New("--verify works with the bundled kernel only")}
	}
	start := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(cmd.ErrOrStderr(), "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	res, err := pipeline.Run(ctx, pipeline.Options{SourceDir: src, Config: f.config, Vmlinux: f.vmlinux, Patches: patches, Name: f.name,
		Symvers: f.symvers, DebugModules: f.debugModules, Release: f.release, CC: f.cc,
		OutputDir: f.output, CacheDir: f.cacheDir, Jobs: f.jobs, NonReplace: f.nonReplace, SkipCompilerCheck: f.skipCompilerCheck,
		KeepWork: log.Level >= 5, Targets: f.targets, Log: progress})
	if f.report != "" && res != nil {
		if err != nil {
			res.Report.Error = err.Error()
		}
		if werr := elfobj.WriteFileAtomic(f.report, res.Report.JSON(), 0o644); werr != nil {
			return werr
		}
	}
	if err != nil {
		var pe *pipeline.Error
		if errors.As(err, &pe) && pe.Hint != "" {
			return fmt.Errorf("%v\nhint: %s", err, pe.Hint)
		}
		return err
	}
	progress("SUCCESS: %s", res.Module)
	if f.verify {
		return verifyModule(cmd, res, patches)
	}
	return nil
}

// verifyModule loads the built module in the emulated target and checks
// it (verify.go).
var verifyModule func(cmd *cobra.Command, res *pipeline.Result, patches []string) error
