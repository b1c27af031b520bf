// Package worktree makes work copies of a source tree: directories are
// made new, files are hard links to the user's (copies where linking is
// not possible), and a file is changed only by replacing it with a new
// one (ReplaceFile, StageFile), so the user's tree is never written.
package worktree

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// IsBuildOutput reports whether a file of a source tree, by its base name,
// is a build artifact, which a work copy does not take from the user's
// tree and a cache key ignores.
func IsBuildOutput(name string) bool {
	switch name {
	case "vmlinux", "System.map", "Module.symvers", "modules.order", ".build-flags", "vmlinux.o":
		return true
	}
	for _, suf := range []string{".o", ".ko", ".a", ".so", ".d", ".cmd", ".mod", ".mod.c", ".tmp"} {
		if strings.HasSuffix(name, suf) {
			return true
		}
	}
	return false
}

// CopyTree makes dst a work copy of the source tree src: directories are
// created, source files are hard-linked (copied when linking is not
// possible) and build outputs are left out. Version-control directories
// are skipped.
func CopyTree(src, dst string) error {
	return LinkTree(src, dst, func(rel string, d fs.DirEntry) Action {
		if CopyTreeSkips(d) {
			return Skip
		}
		return Link
	})
}

// CopyTreeSkips reports whether CopyTree leaves an entry of the source
// tree (and, for a directory, all it holds) out of the work copy: a
// version-control directory, or a name of a build output (which includes
// directories such as tools/testing/selftests/ftrace/test.d).
func CopyTreeSkips(d fs.DirEntry) bool {
	return d.IsDir() && (d.Name() == ".git" || d.Name() == ".svn") || IsBuildOutput(d.Name())
}

// Action is what LinkTree does with one entry of the tree.
type Action int

// LinkTree's actions: hard-link a file (copy it when linking is not
// possible), copy it, or leave it (or a whole directory) out.
const (
	Link Action = iota
	Copy
	Skip
)

// LinkTree makes dst a copy of the tree src whose files are hard links or
// copies as decide says (directories: Skip leaves them out, anything else
// creates them). Symbolic links are recreated; other special files are
// left out. Copies keep their mode and modification time, so make sees
// the copy as up to date as the original.
func LinkTree(src, dst string, decide func(rel string, d fs.DirEntry) Action) error {
	src = filepath.Clean(src)
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		action := Link
		if rel != "." {
			action = decide(rel, d)
		}
		if d.IsDir() {
			if action == Skip {
				return filepath.SkipDir
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		}
		if action == Skip {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if action == Link {
			return LinkOrCopy(p, target)
		}
		return CopyFile(p, target)
	})
}

// LinkOrCopy makes dst a hard link to the regular file src, or a copy of
// it (mode and modification time kept) when it cannot be linked (another
// file system, a file the user may not link).
func LinkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return CopyFile(src, dst)
}

// CopyFile copies a regular file, keeping its mode and modification time.
func CopyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Chtimes(dst, info.ModTime(), info.ModTime())
}

// ReplaceFile writes data as a new file at path (a temporary file renamed
// over it), so that a hard link to the user's tree at path is replaced,
// never written through.
func ReplaceFile(path string, data []byte, perm fs.FileMode) error {
	name, err := StageFile(filepath.Dir(path), data, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// StageFile writes data as a new temporary file of mode perm in dir and
// returns its path, for a rename into place.
func StageFile(dir string, data []byte, perm fs.FileMode) (string, error) {
	tmp, err := os.CreateTemp(dir, ".kpatch-replace-*")
	if err != nil {
		return "", err
	}
	name := tmp.Name()
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Chmod(name, perm)
	}
	if werr != nil {
		os.Remove(name)
		return "", werr
	}
	return name, nil
}
