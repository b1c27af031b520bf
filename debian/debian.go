// Package debian holds where Debian's kernel packages put what a live
// patch build needs: the image (linux-image-KVER), the headers and
// configuration (linux-headers-KVER), the debug vmlinux and debug modules
// (linux-image-KVER-dbg) and the source tarball (linux-source-SERIES).
//
// It is the one place that knows these paths, so that the tool, the
// setup scripts and the tests find the installed kernel the same way:
// the newest installed release of a series that has its headers and its
// debug vmlinux.
package debian

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Kernel is one installed Debian kernel release and the paths of its
// packages' files under a root directory.
type Kernel struct {
	Release      string // e.g. the 6.1 series' "6.1.0-N-amd64"
	Image        string // /boot/vmlinuz-RELEASE (linux-image)
	BootConfig   string // /boot/config-RELEASE (linux-image): the configuration it was built with
	Modules      string // /lib/modules/RELEASE (linux-image)
	Build        string // /lib/modules/RELEASE/build (linux-headers)
	Config       string // Build/.config
	Symvers      string // Build/Module.symvers
	Vmlinux      string // /usr/lib/debug/boot/vmlinux-RELEASE (-dbg)
	DebugModules string // /usr/lib/debug/lib/modules/RELEASE (-dbg)
}

// At returns the package paths of release under root ("" or "/" for the
// running system), whether or not they exist.
func At(root, release string) Kernel {
	if root == "" {
		root = "/"
	}
	return Kernel{
		Release:      release,
		Image:        filepath.Join(root, "boot", "vmlinuz-"+release),
		BootConfig:   filepath.Join(root, "boot", "config-"+release),
		Modules:      filepath.Join(root, "lib", "modules", release),
		Build:        filepath.Join(root, "lib", "modules", release, "build"),
		Config:       filepath.Join(root, "lib", "modules", release, "build", ".config"),
		Symvers:      filepath.Join(root, "lib", "modules", release, "build", "Module.symvers"),
		Vmlinux:      filepath.Join(root, "usr", "lib", "debug", "boot", "vmlinux-"+release),
		DebugModules: filepath.Join(root, "usr", "lib", "debug", "lib", "modules", release),
	}
}

// PackagingOptions are the options Debian's linux-headers configuration
// (/lib/modules/KVER/build/.config) sets for building modules and the
// image's record (/boot/config-KVER) leaves out: the build salt and
// module signing. They change no compiled code, so comparing the two
// configurations leaves them out.
var PackagingOptions = []string{"CONFIG_BUILD_SALT", "CONFIG_MODULE_SIG_ALL", "CONFIG_MODULE_SIG_KEY", "CONFIG_SYSTEM_TRUSTED_KEYS"}

// WithoutPackagingOptions returns a configuration without the lines of
// PackagingOptions.
func WithoutPackagingOptions(config []byte) []byte {
	var out []string
	for _, line := range strings.Split(string(config), "\n") {
		skip := false
		for _, o := range PackagingOptions {
			if strings.HasPrefix(line, o+"=") || line == "# "+o+" is not set" {
				skip = true
			}
		}
		if !skip {
			out = append(out, line)
		}
	}
	return []byte(strings.Join(out, "\n"))
}

// Series is the kernel line of a release: "6.1" for "6.1.0-N-amd64",
// "6.12" for "6.12.N+deb13-amd64".
func Series(release string) string {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return release
	}
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	return parts[0] + "." + minor
}

// SourceTarball is linux-source-SERIES's tarball under root.
func SourceTarball(root, series string) string {
	if root == "" {
		root = "/"
	}
	return filepath.Join(root, "usr", "src", "linux-source-"+series+".tar.xz")
}

// Missing lists the files of k that a real-kernel build and verification
// need and that are absent, each with the package that installs it.
func (k Kernel) Missing() []string {
	var out []string
	for _, f := range []struct{ path, pkg string }{
		{k.Image, "linux-image-" + k.Release},
		{filepath.Join(k.Modules, "modules.dep"), "linux-image-" + k.Release},
		{k.Config, "linux-headers-" + k.Release},
		{k.Symvers, "linux-headers-" + k.Release},
		{k.Vmlinux, "linux-image-" + k.Release + "-dbg"},
		{filepath.Join(k.DebugModules, "kernel"), "linux-image-" + k.Release + "-dbg"},
	} {
		if _, err := os.Stat(f.path); err != nil {
			out = append(out, fmt.Sprintf("%s (%s)", f.path, f.pkg))
		}
	}
	return out
}

// Installed lists the kernel releases installed under root that have an
// image, headers and a debug vmlinux, oldest first in Debian's version
// order. series, when not empty, keeps only that line ("6.1", "6.12").
func Installed(root, series string) ([]Kernel, error) {
	images, err := filepath.Glob(filepath.Join(At(root, "").Image + "*"))
	if err != nil {
		return nil, err
	}
	var out []Kernel
	for _, img := range images {
		rel := strings.TrimPrefix(filepath.Base(img), "vmlinuz-")
		if rel == "" || (series != "" && Series(rel) != series) {
			continue
		}
		k := At(root, rel)
		if !exists(k.Build) || !exists(k.Vmlinux) {
			continue
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return CompareVersions(out[i].Release, out[j].Release) < 0 })
	return out, nil
}

// Newest returns the newest installed release of series (any series when
// empty) that has an image, headers and a debug vmlinux.
func Newest(root, series string) (Kernel, error) {
	ks, err := Installed(root, series)
	if err != nil {
		return Kernel{}, err
	}
	if len(ks) == 0 {
		what := "Debian kernel"
		if series != "" {
			what = "Debian " + series + " kernel"
		}
		return Kernel{}, fmt.Errorf("no %s is installed with its headers and debug vmlinux under %s (install linux-image, linux-headers and linux-image-dbg of one release)", what, At(root, "").Modules)
	}
	return ks[len(ks)-1], nil
}

// CompareVersions orders two version strings as Debian and sort -V do in
// the common case: runs of digits compare as numbers, other runs as
// text, and "~" sorts before everything, even the end. It returns -1, 0
// or +1.
func CompareVersions(a, b string) int {
	for a != "" || b != "" {
		na, ra := splitRun(a)
		nb, rb := splitRun(b)
		if c := compareRun(na, nb); c != 0 {
			return c
		}
		a, b = ra, rb
	}
	return 0
}

// splitRun takes the leading run of digits, or of non-digits, from s.
func splitRun(s string) (string, string) {
	if s == "" {
		return "", ""
	}
	digit := isDigit(s[0])
	i := 1
	for i < len(s) && isDigit(s[i]) == digit {
		i++
	}
	return s[:i], s[i:]
}

func compareRun(a, b string) int {
	if a == b {
		return 0
	}
	switch {
	case a != "" && isDigit(a[0]) && b != "" && isDigit(b[0]):
		a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
		if len(a) != len(b) {
			return sign(len(a) - len(b))
		}
		return strings.Compare(a, b)
	case strings.HasPrefix(a, "~") != strings.HasPrefix(b, "~"):
		if strings.HasPrefix(a, "~") {
			return -1
		}
		return 1
	case a == "":
		return -1
	case b == "":
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
