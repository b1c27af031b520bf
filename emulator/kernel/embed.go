// Package kernel carries the sources of the bundled target kernel (the C
// tree in this directory), so that kpatch-build can build and patch it
// without a checkout: Extract writes the tree out, leaving build outputs
// behind.
package kernel

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

//go:embed Makefile README.md ABI.md arch include init kernel lib mm fs modules scripts patches
var tree embed.FS

func walk(fn func(p string, b []byte) error) error {
	return fs.WalkDir(tree, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || worktree.IsBuildOutput(path.Base(p)) || strings.HasSuffix(p, ".go") {
			return err
		}
		b, err := tree.ReadFile(p)
		if err != nil {
			return err
		}
		return fn(p, b)
	})
}

// Digest identifies the embedded sources.
func Digest() string {
	h := sha256.New()
	walk(func(p string, b []byte) error {
		sum := sha256.Sum256(b)
		h.Write([]byte(p + " " + hex.EncodeToString(sum[:]) + "\n"))
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Extract writes the kernel's sources into dir.
func Extract(dir string) error {
	return walk(func(p string, b []byte) error {
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		return os.WriteFile(dst, b, mode)
	})
}
