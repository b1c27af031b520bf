package patch

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// FuzzPatch parses and applies arbitrary patches to a small tree that has
// symlinks pointing out of it and a canary file beside it. Invariants: no
// panic; every path of a parsed patch is clean and relative; nothing
// outside the tree changes; an error is a *Error and leaves the
// tree as it was.
//
//	go test ./build -run XXX -fuzz FuzzPatch -fuzztime 5m
//
// Each run makes a sandbox on disk: on a busy disk TMPDIR=/dev/shm makes
// it twenty times faster.
func FuzzPatch(f *testing.F) {
	for _, c := range hostilePatches {
		f.Add([]byte(c.patch))
	}
	f.Add([]byte("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -4,3 +4,3 @@\n meminfo line 4\n-meminfo line 5\n+five\n meminfo line 6\n"))
	f.Add([]byte("--- src.orig/fs/proc/meminfo.c\r\n+++ src/fs/proc/meminfo.c\r\n@@ -1,2 +1,2 @@\r\n-meminfo line 1\r\n+first\r\n meminfo line 2\r\n"))
	f.Add([]byte("diff --git a/fs/proc/meminfo.c b/fs/proc/m2.c\nsimilarity index 92%\nrename from fs/proc/meminfo.c\nrename to fs/proc/m2.c\n--- a/fs/proc/meminfo.c\n+++ b/fs/proc/m2.c\n@@ -12 +12 @@\n-meminfo line 12\n+twelve\n\\ No newline at end of file\n"))
	f.Add([]byte("diff --git a/inc/sys.h b/inc/sys.h\ndeleted file mode 100644\n--- a/inc/sys.h\n+++ /dev/null\n@@ -1,5 +0,0 @@\n-sys line 1\n-sys line 2\n-sys line 3\n-sys line 4\n-sys line 5\n"))
	for _, dir := range []string{"emulator/kernel/patches", "testdata/patches"} {
		files, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), dir, "*.patch"))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Parsing reads nothing and writes nothing: a sandbox is needed
		// only for a patch that parses.
		p, err := Parse("fuzz.patch", data)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %v (%T), want a *Error", err, err)
			}
			return
		}
		for _, tp := range p.Paths() {
			if !filepath.IsLocal(tp.Path) || path.Clean(tp.Path) != tp.Path {
				t.Fatalf("path %q is not clean and relative", tp.Path)
			}
		}
		s := newSandbox(t)
		before := s.snapshot(t)
		err = p.Apply(s.tree)
		after := s.snapshot(t)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Errorf("error %v (%T), want a *Error", err, err)
			}
			if d := cmp.Diff(before, after); d != "" {
				t.Fatalf("a failed patch changed the sandbox (-before +after):\n%s\nerror: %v", d, err)
			}
			return
		}
		outside := func(lines []string) []string {
			var out []string
			for _, l := range lines {
				if !strings.HasPrefix(l, "tree/") && !strings.HasPrefix(l, "tree ") {
					out = append(out, l)
				}
			}
			return out
		}
		if d := cmp.Diff(outside(before), outside(after)); d != "" {
			t.Fatalf("the patch changed something outside the tree (-before +after):\n%s", d)
		}
		if b, err := os.ReadFile(filepath.Join(s.outside, "canary.c")); err != nil || string(b) != sandboxCanary {
			t.Fatalf("the canary changed: %q %v", b, err)
		}
	})
}
