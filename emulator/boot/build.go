package boot

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/cache"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
)

// BuildOptions says what to build.
type BuildOptions struct {
	// Src is the kernel source tree; "" means FindSource().
	Src string
	// ExtraModules are module directories (each holding NAME.c files)
	// copied to modules/<base name>/ of the build tree.
	ExtraModules []string
	// CacheDir is where builds are kept; "" means
	// $KPATCHGO_TARGET_CACHE or <user cache dir>/kpatchgo-target.
	CacheDir string
	// KCFLAGS are extra compiler flags (part of the cache key).
	KCFLAGS string
	// CC is the compiler (part of the cache key); "" means DefaultCC,
	// the kernel Makefile's own.
	CC string
}

// DefaultCC is the compiler of an empty BuildOptions.CC.
const DefaultCC = "gcc"

// Build is a built kernel tree.
type Build struct {
	// Dir is the build tree.
	Dir string
	// Vmlinux is the path of vmlinux.
	Vmlinux string
	// Modules maps a module name to its .ko path.
	Modules map[string]string
}

// ErrNoToolchain is returned when gcc, ld or make are missing.
var ErrNoToolchain = errors.New("gcc, ld and make are needed to build the target kernel")

// FindSource locates emulator/kernel: $KPATCHGO_KERNEL_SRC, else relative
// to this source file (in a checkout), else upwards from the working
// directory.
func FindSource() (string, error) {
	if d := os.Getenv("KPATCHGO_KERNEL_SRC"); d != "" {
		return d, nil
	}
	var cands []string
	if _, file, _, ok := runtime.Caller(0); ok {
		cands = append(cands, filepath.Join(filepath.Dir(file), "..", "kernel"))
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			cands = append(cands, filepath.Join(d, "emulator", "kernel"))
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, c := range cands {
		if _, err := os.Stat(filepath.Join(c, "Makefile")); err == nil {
			return filepath.Clean(c), nil
		}
	}
	return "", fmt.Errorf("kernel sources not found (set KPATCHGO_KERNEL_SRC)")
}

// HaveToolchain reports whether gcc, ld and make are installed.
func HaveToolchain() bool {
	for _, t := range []string{DefaultCC, "ld", "make"} {
		if _, err := exec.LookPath(t); err != nil {
			return false
		}
	}
	return true
}

// isSource reports whether a file of the kernel tree is a source file
// (not a build output).
func isSource(rel string) bool {
	base := filepath.Base(rel)
	switch {
	case strings.HasSuffix(base, ".o"), strings.HasSuffix(base, ".ko"), strings.HasSuffix(base, ".mod.c"),
		strings.HasPrefix(base, ".") && strings.HasSuffix(base, ".d"),
		base == "vmlinux", base == "System.map", base == "Module.symvers", base == ".build-flags":
		return false
	}
	return true
}

type srcFile struct{ rel, abs string }

func collect(src string, extra []string) ([]srcFile, error) {
	var files []srcFile
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if isSource(rel) && d.Type().IsRegular() {
			files = append(files, srcFile{rel, p})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, dir := range extra {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.Type().IsRegular() && isSource(e.Name()) {
				files = append(files, srcFile{filepath.Join("modules", filepath.Base(dir), e.Name()), filepath.Join(dir, e.Name())})
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

// BuildKernel builds (or finds in the cache) the kernel described by opts.
func BuildKernel(opts BuildOptions) (*Build, error) {
	if !HaveToolchain() {
		return nil, ErrNoToolchain
	}
	src := opts.Src
	if src == "" {
		var err error
		if src, err = FindSource(); err != nil {
			return nil, err
		}
	}
	files, err := collect(src, opts.ExtraModules)
	if err != nil {
		return nil, err
	}
	cc := opts.CC
	if cc == "" {
		cc = DefaultCC
	}
	ccVersion, _ := exec.Command(cc, "--version").Output()
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f.abs)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(h, "%s %d\n", f.rel, len(b))
		h.Write(b)
	}
	name := "kernel-" + cache.Key(cache.Parts{"kcflags": opts.KCFLAGS, "compiler": string(ccVersion), "sources": fmt.Sprintf("%x", h.Sum(nil))})
	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = os.Getenv("KPATCHGO_TARGET_CACHE")
	}
	if cacheDir == "" {
		uc, err := os.UserCacheDir()
		if err != nil {
			uc = os.TempDir()
		}
		cacheDir = filepath.Join(uc, "kpatchgo-target")
	}
	final, _, err := cache.Cached(cacheDir, name, func(tmp string) error {
		for _, f := range files {
			dst := filepath.Join(tmp, f.rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return err
			}
			if err := copyFile(f.abs, dst); err != nil {
				return err
			}
		}
		args := []string{"-C", tmp, fmt.Sprintf("-j%d", runtime.NumCPU()), "all"}
		if opts.KCFLAGS != "" {
			args = append(args, "KCFLAGS="+opts.KCFLAGS)
		}
		if opts.CC != "" {
			args = append(args, "CC="+opts.CC)
		}
		cmd := exec.Command("make", args...)
		cmd.Env = append(os.Environ(), "KBUILD_MODPOST_WARN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("building the target kernel: %w\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return open(final)
}

func open(dir string) (*Build, error) {
	b := &Build{Dir: dir, Vmlinux: filepath.Join(dir, "vmlinux"), Modules: map[string]string{}}
	if _, err := os.Stat(b.Vmlinux); err != nil {
		return nil, err
	}
	kos, _ := filepath.Glob(filepath.Join(dir, "modules", "*", "*.ko"))
	for _, ko := range kos {
		b.Modules[strings.TrimSuffix(filepath.Base(ko), ".ko")] = ko
	}
	return b, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
