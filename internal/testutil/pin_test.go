package testutil

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// kernelRelease matches a Debian kernel release (6.1.0-N-amd64,
// 6.12.N+deb13-amd64, 6.12.N+bpo-cloud-amd64) and a Debian kernel package
// version (Debian 6.1.N-M). A test that needs a release nothing installs
// uses one of another form (6.1.0-99-test), which it does not match.
var kernelRelease = regexp.MustCompile(`\b[4-9]\.[0-9]+\.[0-9]+-[0-9]+-(?:amd64|arm64|cloud-amd64|rt-amd64)\b` +
	`|\b[4-9]\.[0-9]+\.[0-9]+[+~](?:deb[0-9]+|bpo)(?:-[a-z0-9]+)*-amd64\b` +
	`|Debian [4-9]\.[0-9]+\.[0-9]+-[0-9]+`)

// TestNoPinnedKernelRelease is the guard of the real-kernel tier: no test,
// test helper or golden names a real Debian kernel release, since Debian
// replaces its kernel every few weeks and a pinned release fails every
// fresh machine after that. Tests find the installed kernel
// (FindDebianKernel) and goldens hold KVER (NormalizeKernel); a test that
// needs a release that is not installed uses a fake one (6.1.0-99-test).
func TestNoPinnedKernelRelease(t *testing.T) {
	root := RepoRoot()
	checked := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." {
				return filepath.SkipDir
			}
			return nil
		}
		inTestdata := strings.Contains("/"+filepath.ToSlash(rel), "/testdata/")
		helper := filepath.ToSlash(filepath.Dir(rel)) == "internal/testutil" && strings.HasSuffix(rel, ".go")
		if !inTestdata && !helper && !strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if bytes.IndexByte(b, 0) >= 0 {
			return nil // an object file
		}
		checked++
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range kernelRelease.FindAllString(line, -1) {
				t.Errorf("%s:%d: kernel release %q pinned (find the installed kernel with testutil.FindDebianKernel, normalise goldens with NormalizeKernel, or use a fake release such as 6.1.0-99-test)", rel, i+1, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files under %s", checked, root)
	}
	t.Logf("checked %d test files and goldens", checked)
}

// TestKernelReleasePattern shows the guard can fail: it finds the real
// releases, made-up numbers included, and passes the fakes of another form.
func TestKernelReleasePattern(t *testing.T) {
	for s, real := range map[string]bool{
		// Built from parts, so that this file is no pinned release.
		"kernel: 6.1.0-" + "57-amd64":                  true,
		"vmlinux-6.12." + "38+deb13-amd64":             true,
		"6.12." + "9+bpo-cloud-amd64":                  true,
		"#1 SMP PREEMPT_DYNAMIC Debian 6.1." + "192-3": true,
		"kernel: 6.1.0-" + "99-amd64":                  true,
		"kernel: 6.1.0-99-test":                        false,
		"6.12.0-901-test":                              false,
		"kernel: KVER":                                 false,
		"gcc (Debian 12.2.0-14+deb12u1) 12.2.0":        false,
		"Debian DEBVER (DATE), binutils 2.40-2.1x":     false,
	} {
		found := kernelRelease.MatchString(s)
		if found != real {
			t.Errorf("%q: real release found %v, want %v", s, found, real)
		}
	}
}
