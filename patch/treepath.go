package patch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// ErrNotInTree is the error of a path that is not inside a tree: not
// clean, absolute, leaving it, or through a symlink that leaves it or does
// not resolve. ResolveInTree's errors wrap it.
var ErrNotInTree = errors.New("not a path inside the tree")

// ResolveInTree returns the tree-relative path rel of the tree at dir with
// the symlinks on its way resolved, as opening it would resolve them
// (scripts/dtc/include-prefixes/dt-bindings/clock/x.h is
// include/dt-bindings/clock/x.h): the part of rel that does not exist yet
// (a new file) is kept as it is. rel must be a clean relative path that
// stays in the tree, and every symlink on the way must resolve inside the
// tree; otherwise the error wraps ErrNotInTree. It is the check of a path
// read back from kpatch-build's own state, and how a patch's path finds
// the file the kernel's build reads.
func ResolveInTree(dir, rel string) (string, error) {
	r, err := resolve(dir, rel)
	if err == nil && r == "." {
		return "", fmt.Errorf("%q: the tree itself: %w", rel, ErrNotInTree)
	}
	return r, err
}

// resolve is ResolveInTree, which may resolve to the tree itself (".").
func resolve(dir, rel string) (string, error) {
	if c := path.Clean(rel); c != rel || path.IsAbs(rel) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q: %w", rel, ErrNotInTree)
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("tree %s: %w", dir, err)
	}
	parts := strings.Split(rel, "/")
	cur := root
	for k, c := range parts {
		next := filepath.Join(cur, c)
		fi, err := os.Lstat(next)
		if errors.Is(err, fs.ErrNotExist) {
			cur = filepath.Join(append([]string{cur}, parts[k:]...)...)
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", rel, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			real, err := filepath.EvalSymlinks(next)
			if err != nil {
				return "", fmt.Errorf("%s: the symlink %s does not resolve: %w", rel, strings.Join(parts[:k+1], "/"), ErrNotInTree)
			}
			if r, err := filepath.Rel(root, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
				return "", fmt.Errorf("%s: the symlink %s leaves the tree: %w", rel, strings.Join(parts[:k+1], "/"), ErrNotInTree)
			}
			next = real
		}
		cur = next
	}
	r, err := filepath.Rel(root, cur)
	if err != nil {
		return "", fmt.Errorf("%q: %w", rel, ErrNotInTree)
	}
	return filepath.ToSlash(r), nil
}

// ResolveParentInTree is ResolveInTree for the directories of rel only:
// the last name is kept even when it is a symlink, as applying a patch
// replaces a symlinked file (the link), not the file it points to. It is
// the path whose file a patched build reads.
func ResolveParentInTree(dir, rel string) (string, error) {
	if _, err := ResolveInTree(dir, rel); err != nil {
		return "", err
	}
	d := path.Dir(rel)
	if d == "." {
		return rel, nil
	}
	real, err := resolve(dir, d)
	if err != nil {
		return "", err
	}
	return path.Join(real, path.Base(rel)), nil
}
