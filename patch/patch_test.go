package patch

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// sandbox is a small source tree (DIR/tree) beside a directory outside it
// (DIR/outside) holding a canary file, with symlinks in the tree that point
// out of it, and a snapshot of everything under DIR to check that a
// refused patch wrote nothing anywhere.
type sandbox struct {
	root, tree, outside string
}

// sandboxCanary is the canary's content.
const sandboxCanary = "canary: a patch must never write or remove me\n"

// sandboxFiles are the tree's files.
var sandboxFiles = map[string]string{
	"fs/proc/meminfo.c":   numbered("meminfo", 12),
	"lib/vsprintf.c":      numbered("vsprintf", 5),
	"include/linux/sys.h": numbered("sys", 5),
	"Makefile":            "obj-y += fs/\n",
}

// numbered returns n lines "NAME line I".
func numbered(name string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s line %d\n", name, i)
	}
	return b.String()
}

func newSandbox(t testing.TB) *sandbox {
	t.Helper()
	root := t.TempDir()
	s := &sandbox{root: root, tree: filepath.Join(root, "tree"), outside: filepath.Join(root, "outside")}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(s.outside, 0o755))
	must(os.WriteFile(filepath.Join(s.outside, "canary.c"), []byte(sandboxCanary), 0o644))
	for rel, data := range sandboxFiles {
		p := filepath.Join(s.tree, rel)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(data), 0o644))
	}
	must(os.Symlink("../outside", filepath.Join(s.tree, "escape")))               // a relative link out
	must(os.Symlink(s.outside, filepath.Join(s.tree, "abs")))                     // an absolute link out
	must(os.Symlink("../outside/canary.c", filepath.Join(s.tree, "canary-link"))) // a file link out
	must(os.Symlink("no/such/dir", filepath.Join(s.tree, "dangling")))            // a link to nowhere
	must(os.Symlink("include/linux", filepath.Join(s.tree, "inc")))               // a link inside
	return s
}

// snapshot lists every entry under the sandbox's root: path, type and
// mode, link target, modification time and content.
func (s *sandbox) snapshot(t testing.TB) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(s.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(s.root, p)
		line := fmt.Sprintf("%s %v", rel, info.Mode())
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			line += fmt.Sprintf(" %d %x", info.ModTime().UnixNano(), sha256.Sum256(b))
		}
		out = append(out, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// read returns a file of the tree, "" when it does not exist.
func (s *sandbox) read(rel string) string {
	b, _ := os.ReadFile(filepath.Join(s.tree, rel))
	return string(b)
}

// apply parses and applies a patch to the sandbox's tree without fuzz,
// returning the log lines.
func (s *sandbox) apply(patch string) ([]string, error) {
	logs, _, err := s.applyFuzz(patch, 0)
	return logs, err
}

// applyFuzz parses and applies a patch to the sandbox's tree allowing
// fuzz, returning the log lines and the hunks applied with fuzz.
func (s *sandbox) applyFuzz(patch string, fuzz int) ([]string, []FuzzedHunk, error) {
	p, err := Parse("test.patch", []byte(patch))
	if err != nil {
		return nil, nil, err
	}
	var logs []string
	fuzzed, err := p.ApplyWith(s.tree, ApplyOptions{Fuzz: fuzz, Log: func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }})
	return logs, fuzzed, err
}

// hostilePatches are patches that try to leave the tree, each with a
// piece of the message that refuses it.
var hostilePatches = []struct {
	name, patch, want string
}{
	{"b/ traversal", "--- a/fs/proc/meminfo.c\n+++ b/../outside/canary.c\n@@ -1 +1 @@\n-x\n+y\n", `test.patch:1: b/../outside/canary.c: the path leaves the source tree (../outside/canary.c after cleaning)`},
	{"a/ traversal", "--- a/../outside/canary.c\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-canary\n+y\n", `a/../outside/canary.c: the path leaves the source tree`},
	{"both traversal", "--- a/../outside/canary.c\n+++ b/../outside/canary.c\n@@ -1 +1 @@\n-" + sandboxCanary + "+owned\n", `the path leaves the source tree (../outside/canary.c after cleaning)`},
	{"bashrc", "--- /dev/null\n+++ b/../../.bashrc\n@@ -0,0 +1 @@\n+echo owned\n", `test.patch:1: b/../../.bashrc: the path leaves the source tree (../../.bashrc after cleaning)`},
	{"bashrc in mail", "Subject: [PATCH] fix\n\n---\n fs/x | 1 +\n\n--- a/fs/proc/meminfo.c\n+++ b/../../.bashrc\n@@ -1 +1 @@\n-meminfo line 1\n+echo owned\n-- \n2.39.0\n", `test.patch:6: b/../../.bashrc: the path leaves`},
	{"git traversal", "diff --git a/../outside/canary.c b/../outside/canary.c\nindex 1..2 100644\n--- a/../outside/canary.c\n+++ b/../outside/canary.c\n@@ -1 +1 @@\n-" + sandboxCanary + "+owned\n", `test.patch:1: a/../outside/canary.c: the path leaves the source tree`},
	{"git header traversal only", "diff --git a/../outside/canary.c b/../outside/canary.c\nnew file mode 100644\n", `the path leaves the source tree`},
	{"absolute", "--- /etc/passwd\n+++ /etc/passwd\n@@ -1 +1 @@\n-root\n+owned\n", `test.patch:1: /etc/passwd: absolute path: the paths of a patch are relative to the source tree`},
	{"absolute new", "--- a/fs/proc/meminfo.c\n+++ /tmp/owned.c\n@@ -1 +1 @@\n-meminfo line 1\n+owned\n", `/tmp/owned.c: absolute path`},
	{"absolute git", "diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo.c\n--- /etc/passwd\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-root\n+owned\n", `/etc/passwd: absolute path`},
	{"quoted traversal", "--- \"a/../outside/canary.c\"\n+++ \"b/../outside/canary.c\"\n@@ -1 +1 @@\n-x\n+y\n", `the path leaves the source tree (../outside/canary.c after cleaning)`},
	{"symlink out", "--- a/escape/canary.c\n+++ b/escape/canary.c\n@@ -1 +1 @@\n-" + sandboxCanary + "+owned\n", `test.patch:1: a/escape/canary.c: the path goes through the symlink escape, which points outside the source tree (to ../outside)`},
	{"absolute symlink out", "--- a/abs/canary.c\n+++ b/abs/canary.c\n@@ -1 +1 @@\n-" + sandboxCanary + "+owned\n", `the path goes through the symlink abs, which points outside the source tree`},
	{"symlink out new file", "--- /dev/null\n+++ b/escape/new.c\n@@ -0,0 +1 @@\n+owned\n", `b/escape/new.c: the path goes through the symlink escape`},
	{"symlink out new dir", "--- /dev/null\n+++ b/escape/sub/new.c\n@@ -0,0 +1 @@\n+owned\n", `the path goes through the symlink escape`},
	{"file symlink out", "--- a/canary-link\n+++ b/canary-link\n@@ -1 +1 @@\n-" + sandboxCanary + "+owned\n", `the path goes through the symlink canary-link, which points outside the source tree (to ../outside/canary.c)`},
	{"dangling symlink", "--- /dev/null\n+++ b/dangling/x.c\n@@ -0,0 +1 @@\n+owned\n", `the path goes through the symlink dangling, which does not resolve`},
	{"delete outside", "--- a/../outside/canary.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-" + sandboxCanary, `test.patch:1: a/../outside/canary.c: the path leaves the source tree`},
	{"git delete outside", "diff --git a/../outside/canary.c b/../outside/canary.c\ndeleted file mode 100644\n--- a/../outside/canary.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-" + sandboxCanary, `the path leaves the source tree`},
	{"delete through symlink", "--- a/escape/canary.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-" + sandboxCanary, `the path goes through the symlink escape`},
	{"delete file symlink", "diff --git a/canary-link b/canary-link\ndeleted file mode 100644\n", `the path goes through the symlink canary-link`},
	{"git rename out", "diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo.c\nsimilarity index 90%\nrename from fs/proc/meminfo.c\nrename to ../outside/meminfo.c\n--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-meminfo line 1\n+x\n", `../outside/meminfo.c: the path leaves the source tree`},
	{"git rename from absolute", "diff --git a/x.c b/fs/y.c\nsimilarity index 90%\nrename from /etc/passwd\nrename to fs/y.c\n@@ -1 +1 @@\n-root\n+x\n", `/etc/passwd: absolute path`},
	{"git rename through symlink", "diff --git a/fs/proc/meminfo.c b/escape/m.c\nsimilarity index 90%\nrename from fs/proc/meminfo.c\nrename to escape/m.c\n--- a/fs/proc/meminfo.c\n+++ b/escape/m.c\n@@ -1 +1 @@\n-meminfo line 1\n+x\n", `the path goes through the symlink escape`},
	{"later file traversal", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-meminfo line 1\n+changed\n--- a/../outside/canary.c\n+++ b/../outside/canary.c\n@@ -1 +1 @@\n-x\n+y\n", `test.patch:6: a/../outside/canary.c: the path leaves`},
	{"later file symlink", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1 +1 @@\n-meminfo line 1\n+changed\n--- a/escape/canary.c\n+++ b/escape/canary.c\n@@ -1 +1 @@\n-" + sandboxCanary + "+owned\n", `test.patch:6: a/escape/canary.c: the path goes through the symlink escape`},
	{"dot dot only", "--- a/..\n+++ b/..\n@@ -1 +1 @@\n-x\n+y\n", `the path leaves the source tree (.. after cleaning)`},
	{"the tree itself", "--- a/\n+++ b/\n@@ -1 +1 @@\n-x\n+y\n", `the path names no file`},
	{"tool state", "--- a/.kpatch-journal\n+++ b/.kpatch-journal\n@@ -1 +1 @@\n-x\n+y\n", `test.patch:1: a/.kpatch-journal: the path names kpatch-build's own state (.kpatch-journal: no file of a source tree starts with .kpatch-)`},
	{"tool state, new", "--- /dev/null\n+++ b/.kpatch-saved/fs/proc/Makefile\n@@ -0,0 +1 @@\n+$(shell id)\n", `b/.kpatch-saved/fs/proc/Makefile: the path names kpatch-build's own state (.kpatch-saved`},
	{"tool state, deep", "--- a/fs/.kpatch-replace-1\n+++ b/fs/.kpatch-replace-1\n@@ -1 +1 @@\n-x\n+y\n", `(.kpatch-replace-1: no file`},
	{"tool state, cleaned", "--- a/fs/../.kpatch-include/kpatch-macros.h\n+++ b/fs/../.kpatch-include/kpatch-macros.h\n@@ -1 +1 @@\n-x\n+y\n", `(.kpatch-include: no file`},
	{"tool state, git rename", "diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo.c\nsimilarity index 90%\nrename from fs/proc/meminfo.c\nrename to .kpatch-journal\n", `the path names kpatch-build's own state`},
	{"no prefix", "--- canary.c\n+++ canary.c\n@@ -1 +1 @@\n-x\n+y\n", `canary.c: the path has no first directory to strip (kpatch-build applies patches like patch -p1)`},
}

// TestHostilePatches checks that every patch that tries to leave the tree
// is refused before anything is written: the tree, the canary outside it
// and the directory around both are exactly as they were.
func TestHostilePatches(t *testing.T) {
	for _, c := range hostilePatches {
		t.Run(c.name, func(t *testing.T) {
			s := newSandbox(t)
			before := s.snapshot(t)
			_, err := s.apply(c.patch)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want a *Error", err, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error\n%v\nwant it to contain\n%s", err, c.want)
			}
			var re *refusal.Error
			if !errors.As(err, &re) || re.Hint == "" || re.Code != refusal.ExitError {
				t.Errorf("%v: not a refusal with a hint (%+v)", err, re)
			}
			if d := cmp.Diff(before, s.snapshot(t)); d != "" {
				t.Errorf("the sandbox changed (-before +after):\n%s", d)
			}
			if b, err := os.ReadFile(filepath.Join(s.outside, "canary.c")); err != nil || string(b) != sandboxCanary {
				t.Errorf("the canary changed: %q %v", b, err)
			}
		})
	}
}

// TestPatchPathsCleaned checks that a path with .. that stays in the tree
// is cleaned (fs/../lib/x.c is lib/x.c, for the lib/ refusal), and that
// links inside the tree are followed.
func TestPatchPathsCleaned(t *testing.T) {
	s := newSandbox(t)
	p, err := Parse("clean.patch", []byte("--- a/fs/../lib/vsprintf.c\n+++ b/fs/../lib/vsprintf.c\n@@ -1 +1 @@\n-vsprintf line 1\n+changed\n"+
		"diff --git a/inc/sys.h b/inc/sys.h\n--- a/inc/sys.h\n+++ b/inc/sys.h\n@@ -2 +2 @@\n-sys line 2\n+changed\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []TreePath{{Path: "lib/vsprintf.c", Line: 1}, {Path: "inc/sys.h", Line: 6}}
	if d := cmp.Diff(want, p.Paths()); d != "" {
		t.Errorf("paths (-want +got):\n%s", d)
	}
	if err := p.Apply(s.tree); err != nil {
		t.Fatal(err)
	}
	if got := s.read("lib/vsprintf.c"); !strings.HasPrefix(got, "changed\nvsprintf line 2\n") {
		t.Errorf("lib/vsprintf.c:\n%s", got)
	}
	if got := s.read("include/linux/sys.h"); !strings.Contains(got, "sys line 1\nchanged\nsys line 3\n") {
		t.Errorf("include/linux/sys.h through the inc link:\n%s", got)
	}
}

// TestPatchOffsets checks hunks found a few lines from where they say,
// before and after, each reported like GNU patch, the second hunk starting
// from the first one's offset.
func TestPatchOffsets(t *testing.T) {
	s := newSandbox(t)
	// The file has 12 lines; the hunks say lines 2-4 and 9-11 but the
	// tree's file has 3 more lines at the top.
	content := "new 1\nnew 2\nnew 3\n" + sandboxFiles["fs/proc/meminfo.c"]
	os.WriteFile(filepath.Join(s.tree, "fs/proc/meminfo.c"), []byte(content), 0o644)
	patch := "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n" +
		"@@ -2,3 +2,3 @@\n meminfo line 2\n-meminfo line 3\n+MEMINFO LINE 3\n meminfo line 4\n" +
		"@@ -9,4 +9,5 @@\n meminfo line 9\n meminfo line 10\n+added\n meminfo line 11\n meminfo line 12\n"
	logs, err := s.apply(patch)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"fs/proc/meminfo.c: hunk #1 succeeded at 5 (offset 3 lines)", "fs/proc/meminfo.c: hunk #2 succeeded at 12 (offset 3 lines)"}
	if d := cmp.Diff(want, logs); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	wantContent := strings.Replace(strings.Replace(content, "meminfo line 3\n", "MEMINFO LINE 3\n", 1), "meminfo line 10\n", "meminfo line 10\nadded\n", 1)
	if got := s.read("fs/proc/meminfo.c"); got != wantContent {
		t.Errorf("patched file:\n%s\nwant:\n%s", got, wantContent)
	}

	// A negative offset: the hunk says line 8, the lines are at line 7.
	s = newSandbox(t)
	os.WriteFile(filepath.Join(s.tree, "fs/proc/meminfo.c"), []byte(strings.Replace(sandboxFiles["fs/proc/meminfo.c"], "meminfo line 1\n", "", 1)), 0o644)
	logs, err = s.apply("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -8,3 +8,3 @@\n meminfo line 8\n-meminfo line 9\n+nine\n meminfo line 10\n")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"fs/proc/meminfo.c: hunk #1 succeeded at 7 (offset -1 lines)"}, logs); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	if got := s.read("fs/proc/meminfo.c"); !strings.Contains(got, "meminfo line 8\nnine\nmeminfo line 10\n") {
		t.Errorf("patched file:\n%s", got)
	}
}

// fuzzPatch changes meminfo line 6; the second hunk's last context line
// is not the tree's (GNU patch applies it with fuzz 1), and a first hunk
// in another file applies exactly.
const fuzzPatch = "--- a/lib/vsprintf.c\n+++ b/lib/vsprintf.c\n@@ -1 +1 @@\n-vsprintf line 1\n+one\n" +
	"--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -4,5 +4,5 @@\n meminfo line 4\n meminfo line 5\n-meminfo line 6\n+six\n meminfo line 7\n meminfo line EIGHT\n"

// TestPatchFuzz checks a hunk whose context differs from the file: GNU
// patch's default fuzz applies it ignoring its first and last context
// lines, keeps the file's lines there, and reports it (file, hunk, fuzz,
// line) in the log and the result.
func TestPatchFuzz(t *testing.T) {
	s := newSandbox(t)
	logs, fuzzed, err := s.applyFuzz(fuzzPatch, DefaultFuzz)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"fs/proc/meminfo.c: hunk #1 succeeded at 4 with fuzz 1"}, logs); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	want := []FuzzedHunk{{Patch: "test.patch", File: "fs/proc/meminfo.c", Hunk: 1, Header: "@@ -4,5 +4,5 @@", PatchLine: 8, Fuzz: 1, Line: 4}}
	if d := cmp.Diff(want, fuzzed); d != "" {
		t.Errorf("fuzzed hunks (-want +got):\n%s", d)
	}
	if got := s.read("fs/proc/meminfo.c"); !strings.Contains(got, "meminfo line 5\nsix\nmeminfo line 7\nmeminfo line 8\n") {
		t.Errorf("patched file (the file's context kept):\n%s", got)
	}

	// With fuzz and an offset: two lines added at the top.
	s = newSandbox(t)
	os.WriteFile(filepath.Join(s.tree, "fs/proc/meminfo.c"), []byte("top 1\ntop 2\n"+sandboxFiles["fs/proc/meminfo.c"]), 0o644)
	logs, fuzzed, err = s.applyFuzz(fuzzPatch, DefaultFuzz)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"fs/proc/meminfo.c: hunk #1 succeeded at 6 with fuzz 1 (offset 2 lines)"}, logs); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
	if len(fuzzed) != 1 || fuzzed[0].Line != 6 || fuzzed[0].Offset != 2 || fuzzed[0].String() != logs[0] {
		t.Errorf("fuzzed hunks %+v", fuzzed)
	}
}

// TestPatchNoFuzz checks --fuzz 0: a hunk whose context differs from the
// file is refused, naming the hunk and the fuzz it needs, with a hint
// naming the hunk, and nothing is written, not even the files before it;
// a hunk that no fuzz applies is refused as not found.
func TestPatchNoFuzz(t *testing.T) {
	s := newSandbox(t)
	before := s.snapshot(t)
	_, _, err := s.applyFuzz(fuzzPatch, 0)
	want := "test.patch:8: fs/proc/meminfo.c: hunk #1 (@@ -4,5 +4,5 @@) does not apply with fuzz 0 (--fuzz): it applies to fs/proc/meminfo.c only with fuzz 1, at line 4"
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
	var re *refusal.Error
	if !errors.As(err, &re) || re.Key != refusal.HunkFuzz ||
		!strings.HasPrefix(re.Hint, "hunk #1 of fs/proc/meminfo.c applies at line 4 only with 1 of its context lines ignored") ||
		!strings.Contains(re.Hint, "--fuzz 1") {
		t.Errorf("refusal %+v, want %s with a hint naming the hunk", re, refusal.HunkFuzz)
	}
	if d := cmp.Diff(before, s.snapshot(t)); d != "" {
		t.Errorf("the sandbox changed (-before +after):\n%s", d)
	}

	// Two context lines differ at the end: fuzz 1 ignores one line at
	// each end, not enough; only fuzz 2 would apply it.
	_, _, err = s.applyFuzz(strings.Replace(fuzzPatch, " meminfo line 7\n", " meminfo line SEVEN\n", 1), 1)
	if want := "does not apply with fuzz 1 (--fuzz): it applies to fs/proc/meminfo.c only with fuzz 2, at line 4"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
	// The changed line itself differs: no fuzz applies it.
	_, _, err = s.applyFuzz(strings.Replace(fuzzPatch, "-meminfo line 6\n", "-meminfo line SIX\n", 1), DefaultFuzz)
	want = "test.patch:8: fs/proc/meminfo.c: hunk #1 (@@ -4,5 +4,5 @@) does not apply: its lines are not in fs/proc/meminfo.c at any offset, even with 2 of its context lines ignored (fuzz)"
	if err == nil || err.Error() != want || !errors.As(err, &re) || re.Key != refusal.HunkFails {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
	if d := cmp.Diff(before, s.snapshot(t)); d != "" {
		t.Errorf("the sandbox changed (-before +after):\n%s", d)
	}
}

// TestPatchStripsAnyPrefix checks -p1 with other first directories than
// a/ and b/.
func TestPatchStripsAnyPrefix(t *testing.T) {
	for _, pre := range [][2]string{{"src.orig/", "src/"}, {"linux-6.1.orig/", "linux-6.1/"}, {"a/", "b/"}, {"old//", "new/"}} {
		s := newSandbox(t)
		patch := fmt.Sprintf("diff -urN %[1]sfs %[2]sfs\n--- %[1]sfs/proc/meminfo.c\t2024-01-02 10:00:00.000000000 +0100\n+++ %[2]sfs/proc/meminfo.c\t2024-01-02 10:00:01.000000000 +0100\n@@ -1,2 +1,2 @@\n-meminfo line 1\n+first\n meminfo line 2\n"+
			"--- %[1]sfs/new.c\t1970-01-01 01:00:00.000000000 +0100\n+++ %[2]sfs/new.c\t2024-01-02 10:00:01.000000000 +0100\n@@ -0,0 +1 @@\n+new\n", pre[0], pre[1])
		if _, err := s.apply(patch); err != nil {
			t.Fatalf("%s: %v", pre, err)
		}
		if !strings.HasPrefix(s.read("fs/proc/meminfo.c"), "first\nmeminfo line 2\n") || s.read("fs/new.c") != "new\n" {
			t.Errorf("%s: not applied: %q %q", pre, s.read("fs/proc/meminfo.c"), s.read("fs/new.c"))
		}
	}
}

// TestPatchRename checks a git rename with changes: the old file goes, the
// new one has the changes, and the paths name both.
func TestPatchRename(t *testing.T) {
	s := newSandbox(t)
	patch := "diff --git a/fs/proc/meminfo.c b/fs/proc/meminfo2.c\nsimilarity index 92%\nrename from fs/proc/meminfo.c\nrename to fs/proc/meminfo2.c\nindex 1111111..2222222 100644\n" +
		"--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo2.c\n@@ -5,3 +5,3 @@\n meminfo line 5\n-meminfo line 6\n+six\n meminfo line 7\n"
	p, err := Parse("rename.patch", []byte(patch))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"fs/proc/meminfo2.c"}, p.Touched()); d != "" {
		t.Errorf("touched (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string]string{"fs/proc/meminfo.c": "fs/proc/meminfo2.c"}, p.Renames()); d != "" {
		t.Errorf("renames (-want +got):\n%s", d)
	}
	if err := p.Apply(s.tree); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.tree, "fs/proc/meminfo.c")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the old file is still there (%v)", err)
	}
	if got := s.read("fs/proc/meminfo2.c"); !strings.Contains(got, "meminfo line 5\nsix\nmeminfo line 7\n") {
		t.Errorf("the new file:\n%s", got)
	}
}

// TestPatchPureRename checks that a rename without changes is refused with
// its own message.
func TestPatchPureRename(t *testing.T) {
	_, err := Parse("rename.patch", []byte("From abc Mon Sep 17 00:00:00 2001\nSubject: move\n\n---\n"+
		"diff --git a/fs/proc/meminfo.c b/fs/proc/mem.c\nsimilarity index 100%\nrename from fs/proc/meminfo.c\nrename to fs/proc/mem.c\n-- \n2.39.0\n"))
	want := "rename.patch:5: a pure rename of fs/proc/meminfo.c to fs/proc/mem.c (no changes): a live patch replaces functions of the running kernel, renaming a source file changes nothing in it"
	var re *refusal.Error
	if !errors.As(err, &re) || re.Key != refusal.PatchPureRename || err.Error() != want || !strings.Contains(re.Hint, "drop the rename") {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

// TestPatchCRLF checks that a patch with CRLF line endings applies to a
// file with LF ones, as GNU patch does, and says so.
func TestPatchCRLF(t *testing.T) {
	s := newSandbox(t)
	patch := strings.ReplaceAll("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1,2 +1,2 @@\n-meminfo line 1\n+first\n meminfo line 2\n", "\n", "\r\n")
	logs, err := s.apply(patch)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.read("fs/proc/meminfo.c"); !strings.HasPrefix(got, "first\nmeminfo line 2\n") || strings.Contains(got, "\r") {
		t.Errorf("patched file:\n%q", got)
	}
	if d := cmp.Diff([]string{"test.patch: CRLF line endings: the CRs are stripped, as GNU patch does"}, logs); d != "" {
		t.Errorf("log (-want +got):\n%s", d)
	}
}

// TestPatchFiles checks creations, deletions, a file without a final
// newline and a mode change.
func TestPatchFiles(t *testing.T) {
	s := newSandbox(t)
	patch := "diff --git a/fs/new.c b/fs/new.c\nnew file mode 100755\nindex 0000000..1111111\n--- /dev/null\n+++ b/fs/new.c\n@@ -0,0 +1,2 @@\n+one\n+two\n\\ No newline at end of file\n" +
		"diff --git a/Makefile b/Makefile\ndeleted file mode 100644\n--- a/Makefile\n+++ /dev/null\n@@ -1 +0,0 @@\n-obj-y += fs/\n" +
		"diff --git a/lib/vsprintf.c b/lib/vsprintf.c\nold mode 100644\nnew mode 100755\n"
	if _, err := s.apply(patch); err != nil {
		t.Fatal(err)
	}
	if got := s.read("fs/new.c"); got != "one\ntwo" {
		t.Errorf("new file %q", got)
	}
	if info, err := os.Stat(filepath.Join(s.tree, "fs/new.c")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("new file mode %v %v", info, err)
	}
	if _, err := os.Stat(filepath.Join(s.tree, "Makefile")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Makefile not removed: %v", err)
	}
	if info, err := os.Stat(filepath.Join(s.tree, "lib/vsprintf.c")); err != nil || info.Mode().Perm() != 0o755 || s.read("lib/vsprintf.c") != sandboxFiles["lib/vsprintf.c"] {
		t.Errorf("mode change: %v %v", info, err)
	}
}

// TestPatchMalformed checks the messages of patches that do not parse or
// do not fit the tree; none writes anything.
func TestPatchMalformed(t *testing.T) {
	for _, c := range []struct{ name, patch, want string }{
		{"empty", "just a mail\n", "test.patch: no file changes found in the patch"},
		{"counts too small", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1,1 +1,1 @@\n-meminfo line 1\n+one\n+two\n", "test.patch:6: fs/proc/meminfo.c: hunk #1 ends before this line, which continues it: the hunk's line counts are wrong"},
		{"counts too big", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1,3 +1,3 @@\n-meminfo line 1\n+one\n", "test.patch:3: fs/proc/meminfo.c: hunk #1 is cut short: the patch ends 2 old and 2 new lines early"},
		{"bad line", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1,2 +1,2 @@\n-meminfo line 1\n+one\nmeminfo line 2\n", "test.patch:6: fs/proc/meminfo.c: hunk #1 (@@ -1,2 +1,2 @@, line 3): this line does not fit the hunk (1 old and 1 new lines still expected)"},
		{"orphan hunk", "@@ -1 +1 @@\n-a\n+b\n", "test.patch:1: a hunk without a file header (--- and +++ lines) before it"},
		{"missing file", "--- a/fs/nope.c\n+++ b/fs/nope.c\n@@ -1 +1 @@\n-a\n+b\n", "test.patch:1: fs/nope.c: no such file in the source tree"},
		{"new file exists", "--- /dev/null\n+++ b/Makefile\n@@ -0,0 +1 @@\n+x\n", "test.patch:1: Makefile: already exists in the source tree"},
		{"delete partial", "--- a/lib/vsprintf.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-vsprintf line 1\n", "test.patch:1: lib/vsprintf.c: the deletion does not remove the whole file"},
		{"names differ", "--- a/fs/proc/meminfo.c\n+++ b/fs/proc/other.c\n@@ -1 +1 @@\n-a\n+b\n", "test.patch:1: the old and new names differ (fs/proc/meminfo.c and fs/proc/other.c)"},
		{"binary", "diff --git a/fs/x.bin b/fs/x.bin\nindex 1..2 100644\nGIT binary patch\nliteral 1\n", "test.patch:1: a/fs/x.bin: binary changes are not supported"},
		{"symlink", "diff --git a/fs/l b/fs/l\nnew file mode 120000\n--- /dev/null\n+++ b/fs/l\n@@ -0,0 +1 @@\n+/etc\n", "test.patch:2: the patch makes a file of mode 120000, not a regular file"},
		{"dir file clash", "--- /dev/null\n+++ b/fs/f\n@@ -0,0 +1 @@\n+x\n--- /dev/null\n+++ b/fs/f/g.c\n@@ -0,0 +1 @@\n+x\n", "test.patch: fs/f/g.c: the patch makes fs/f both a file and a directory"},
		{"name too long", "--- /dev/null\n+++ b/fs/" + strings.Repeat("x", 256) + ".c\n@@ -0,0 +1 @@\n+x\n", "test.patch:1: b/fs/xxxxxxxx"},
		{"name too long, message", "--- /dev/null\n+++ b/" + strings.Repeat("x", 300) + "\n@@ -0,0 +1 @@\n+x\n", "test.patch:1: b/" + strings.Repeat("x", 300) + ": the path has a name longer than 255 bytes"},
		{"not a directory", "--- /dev/null\n+++ b/Makefile/x.c\n@@ -0,0 +1 @@\n+x\n", "test.patch:1: b/Makefile/x.c: Makefile is not a directory in the source tree"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSandbox(t)
			before := s.snapshot(t)
			_, err := s.apply(c.patch)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("error\n%v\nwant it to start with\n%s", err, c.want)
			}
			if d := cmp.Diff(before, s.snapshot(t)); d != "" {
				t.Errorf("the sandbox changed (-before +after):\n%s", d)
			}
		})
	}
}

// TestPatchAnchors checks that a hunk with no context before its change,
// at the start of the file, stays there rather than matching later.
func TestPatchAnchors(t *testing.T) {
	s := newSandbox(t)
	// The file starts with two extra lines; "meminfo line 1..3" follow.
	os.WriteFile(filepath.Join(s.tree, "fs/proc/meminfo.c"), []byte("x\ny\n"+sandboxFiles["fs/proc/meminfo.c"]), 0o644)
	_, err := s.apply("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -1,3 +1,4 @@\n+#include <top.h>\n meminfo line 1\n meminfo line 2\n meminfo line 3\n")
	if err == nil || !strings.Contains(err.Error(), "hunk #1 (@@ -1,3 +1,4 @@) does not apply") {
		t.Errorf("a hunk for the start of the file applied elsewhere: %v\n%s", err, s.read("fs/proc/meminfo.c"))
	}
	if !slices.Contains(strings.Split(s.read("fs/proc/meminfo.c"), "\n"), "x") {
		t.Errorf("file changed")
	}
}

// TestPatchAnchorsEnd checks that a hunk with less context after its
// change than before (cut by the end of the file) does not apply away from
// the end with GNU patch's default fuzz, with a message that says only
// ignoring all its context (fuzz 3) would move it.
func TestPatchAnchorsEnd(t *testing.T) {
	s := newSandbox(t)
	os.WriteFile(filepath.Join(s.tree, "fs/proc/meminfo.c"), []byte("x\n"+sandboxFiles["fs/proc/meminfo.c"]+"more\n"), 0o644)
	_, _, err := s.applyFuzz("--- a/fs/proc/meminfo.c\n+++ b/fs/proc/meminfo.c\n@@ -10,3 +10,4 @@\n meminfo line 10\n meminfo line 11\n meminfo line 12\n+appended\n", DefaultFuzz)
	want := "test.patch:3: fs/proc/meminfo.c: hunk #1 (@@ -10,3 +10,4 @@) does not apply with fuzz 2 (--fuzz): it applies to fs/proc/meminfo.c only with fuzz 3, at line 10"
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}
