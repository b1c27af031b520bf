package testutil

import (
	"crypto/sha256"
	"fmt"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TreeDigest hashes every file of a tree: path, mode, modification time
// and content. Two equal digests mean nothing in the tree was written.
func TreeDigest(t testing.TB, dir string) string {
	t.Helper()
	h := sha256.New()
	var paths []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Strings(paths)
	for _, p := range paths {
		info, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(p)
		fmt.Fprintf(h, "%s %v %v %x\n", p, info.Mode(), info.ModTime().UnixNano(), sha256.Sum256(b))
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// KernelTree copies the bundled kernel's sources (no build outputs) into a
// private temporary tree of real files, which a test may check for
// changes; it skips the test when gcc or make is missing.
func KernelTree(t testing.TB) string {
	t.Helper()
	NeedTool(t, "gcc")
	NeedTool(t, "make")
	src := filepath.Join(RepoRoot(), "emulator", "kernel")
	dst := filepath.Join(t.TempDir(), "linux")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() || worktree.IsBuildOutput(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}
