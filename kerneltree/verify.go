package kerneltree

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/worktree"
)

// linuxTreeFiles are the files of a Linux source tree's top that kbuild
// needs: a directory without one of them is not a kernel tree.
var linuxTreeFiles = []string{"Makefile", "Kbuild", "Kconfig", "scripts/Makefile.build"}

// MissingTreeFiles returns the top-level files of a Linux tree that kbuild
// needs and dir lacks (none: dir is a Linux tree).
func MissingTreeFiles(dir string) []string {
	var missing []string
	for _, f := range linuxTreeFiles {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			missing = append(missing, f)
		}
	}
	return missing
}

// NotLinuxTreeError is a directory that is not a Linux source tree.
type NotLinuxTreeError struct {
	Dir     string
	Missing []string // the top-level files of a Linux tree it lacks
}

// Error names the directory and what it lacks.
func (e *NotLinuxTreeError) Error() string {
	return fmt.Sprintf("%s is not a Linux source tree: it has no %s (a Linux tree has %s)", e.Dir, strings.Join(e.Missing, ", "), strings.Join(linuxTreeFiles, ", "))
}

// CheckSourceTree checks that dir is a Linux source tree: a directory
// (otherwise the error names it and why), with kbuild's top-level files
// (otherwise a *NotLinuxTreeError names what it lacks).
func CheckSourceTree(dir string) error {
	info, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("source tree %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("source tree %s: not a directory", dir)
	}
	if missing := MissingTreeFiles(dir); len(missing) > 0 {
		return &NotLinuxTreeError{Dir: dir, Missing: missing}
	}
	return nil
}

// IsGenerated reports whether the tree-relative path rel is, or is under,
// one the preparation of a tree generates (the configuration,
// include/config, include/generated, arch/ARCH/include/generated,
// Module.symvers): the running kernel's, not a source file, whatever the
// user's tree holds there.
func IsGenerated(rel string) bool {
	for _, f := range stateFiles {
		if rel == f || strings.HasPrefix(rel, f+"/") {
			return true
		}
	}
	parts := strings.SplitN(rel, "/", 5)
	return len(parts) >= 4 && parts[0] == "arch" && parts[2] == "include" && parts[3] == "generated"
}

// volatileFiles are files of the prepared tree that every make run
// writes again and nothing reads (the missing-syscalls check's
// dependency list): verify does not compare them.
var volatileFiles = map[string]bool{".missing-syscalls.d": true}

// manifestEntry is a file of the prepared tree that is not the source
// tree's: made or replaced by the preparation.
type manifestEntry struct {
	sum  string // sha256 of a regular file's contents (hex)
	link string // a symlink's target
}

// writeManifest records what the preparation made: every file of the
// prepared tree that is not the source tree's file (a link to it, a copy
// with the same contents, a symlink with the same target) with its sha256
// or its symlink target, in the tree's directory, out of every patch's
// reach.
func (t *Tree) writeManifest(src []sourceFile) error {
	user := map[string]fs.FileInfo{}
	for _, f := range src {
		user[f.rel] = f.info
	}
	var b strings.Builder
	err := filepath.WalkDir(t.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(t.Dir, p)
		rel = filepath.ToSlash(rel)
		if ui, ok := user[rel]; ok {
			same, err := sameFile(filepath.Join(t.Source, rel), ui, p, d)
			if err != nil || same {
				return err
			}
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			fmt.Fprintf(&b, "link %s %s\n", hex.EncodeToString([]byte(l)), rel)
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", rel)
		}
		sum, err := fileSum(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "file %s %s\n", sum, rel)
		return nil
	})
	if err != nil {
		return fmt.Errorf("manifest of %s: %w", t.Dir, err)
	}
	return worktree.ReplaceFile(filepath.Join(t.home, manifestName), []byte(b.String()), 0o644)
}

// readManifest reads what writeManifest wrote; a path that is not a
// clean tree-relative one makes it malformed (it is state read back).
func (t *Tree) readManifest() (map[string]manifestEntry, error) {
	f, err := os.Open(filepath.Join(t.home, manifestName))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]manifestEntry{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		val, rel, ok := strings.Cut(rest, " ")
		switch {
		case !ok || path.Clean(rel) != rel || path.IsAbs(rel) || rel == "." || rel == ".." || strings.HasPrefix(rel, "../"):
			return nil, fmt.Errorf("%s:%d: malformed", f.Name(), n)
		case kind == "file":
			m[rel] = manifestEntry{sum: val}
		case kind == "link":
			l, err := hex.DecodeString(val)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", f.Name(), n, err)
			}
			m[rel] = manifestEntry{link: string(l)}
		default:
			return nil, fmt.Errorf("%s:%d: malformed", f.Name(), n)
		}
	}
	return m, sc.Err()
}

// verify compares the prepared tree with the source tree (src, its files)
// and with what the preparation made (the manifest), and describes the
// first difference, or returns "" when there is none: every file of the
// source tree must be in the prepared tree, as the same file (a hard
// link) or with the same contents (a copy; symlinks: the same target);
// every file the preparation made must have the contents it had then;
// and there must be nothing else. A temporary file of a run killed while
// it wrote one (patch.ToolStatePrefix+"replace-*") is removed.
//
// A file whose contents verify had to hash (one the preparation made, or
// a copy of the source tree's) is hashed again only when its stat data
// (device, inode, size, modification and change times; for a copy, the
// source tree's file's too) differ from those recorded when it was last
// found the same (verifiedName, beside the manifest and as trusted as
// it): writing a file changes its change time, which no one but the
// clock's owner can set back.
//
// What it costs, measured on linux-source-6.1 (78,538 files, hard
// links; 6,800 files made by the preparation, 25 MB) on 2 cores shared
// with other builds: 0.5-1.1 s a run before the walk was parallel and
// the stat data recorded (BenchmarkVerifyDebian), on top of the
// 0.3-0.6 s the cache key's listing of the source tree already took;
// both walks now run on every core. A tree of copies (a source tree on
// another file system, which cannot be linked) hashes every file of both
// trees the first time, about 1.2 GB each.
func (t *Tree) verify(src []sourceFile) (string, error) {
	manifest, err := t.readManifest()
	if err != nil {
		return "", err
	}
	user := make(map[string]fs.FileInfo, len(src))
	for _, f := range src {
		user[f.rel] = f.info
	}
	known := t.readVerified()
	var (
		mu        sync.Mutex
		seen, mad atomic.Int64
		diffs     []string
		verified  = map[string]string{}
		hashed    bool
	)
	differs := func(rel, why string) error {
		mu.Lock()
		diffs = append(diffs, rel+why)
		mu.Unlock()
		return fs.SkipAll
	}
	// check compares a file whose stamp (stat data and what it was
	// compared with) verify may have recorded.
	check := func(rel, stamp string, compare func() (bool, error)) (bool, error) {
		if stamp != "" && known[rel] == stamp {
			mu.Lock()
			verified[rel] = stamp
			mu.Unlock()
			return true, nil
		}
		same, err := compare()
		if same && err == nil && stamp != "" {
			mu.Lock()
			verified[rel] = stamp
			hashed = true
			mu.Unlock()
		}
		return same, err
	}
	relOf := relTo(t.Dir)
	err = walkParallel(t.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := relOf(p)
		if m, ok := manifest[rel]; ok {
			mad.Add(1)
			if volatileFiles[rel] {
				return nil
			}
			stamp := ""
			if st := statStamp(d); m.sum != "" && d.Type().IsRegular() && st != "" {
				stamp = "made " + m.sum + " " + st
			}
			same, err := check(rel, stamp, func() (bool, error) { return sameAsManifest(p, d, m) })
			if err != nil {
				return err
			}
			if !same {
				return differs(rel, " is not what the preparation made")
			}
			return nil
		}
		if ui, ok := user[rel]; ok {
			seen.Add(1)
			if sameLink(d, ui) {
				return nil // a hard link, from its directory entry
			}
			stamp := ""
			if ui.Mode().IsRegular() && d.Type().IsRegular() {
				info, err := d.Info()
				if err != nil {
					return err
				}
				if sameInode(ui, info) {
					return nil // a hard link: nothing to hash
				}
				if a, b := infoStamp(info), infoStamp(ui); a != "" && b != "" {
					stamp = "copy " + a + " " + b
				}
			}
			same, err := check(rel, stamp, func() (bool, error) { return sameFile(filepath.Join(t.Source, rel), ui, p, d) })
			if err != nil {
				return err
			}
			if !same {
				return differs(rel, " is not the source tree's")
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), patch.ToolStatePrefix+"replace-") {
			return os.Remove(p)
		}
		return differs(rel, " is neither a file of the source tree nor one the preparation made")
	})
	if err != nil {
		return "", err
	}
	if len(diffs) > 0 {
		// The walk stops at a difference, one per goroutine at most:
		// the first in path order is the one named.
		sort.Strings(diffs)
		return diffs[0], nil
	}
	if int(seen.Load()) < len(src) {
		for _, f := range src {
			if _, err := os.Lstat(filepath.Join(t.Dir, f.rel)); err != nil {
				return f.rel + " of the source tree is missing", nil
			}
		}
	}
	if int(mad.Load()) < len(manifest) {
		var missing []string
		for rel := range manifest {
			if volatileFiles[rel] {
				continue
			}
			if _, err := os.Lstat(filepath.Join(t.Dir, rel)); err != nil {
				missing = append(missing, rel)
			}
		}
		sort.Strings(missing)
		if len(missing) > 0 {
			return missing[0] + ", made by the preparation, is missing", nil
		}
	}
	if hashed {
		t.writeVerified(verified)
	}
	return "", nil
}

// verifiedName, beside the prepared tree, records the stat data of the
// files verify found the same by their contents (verify).
const verifiedName = "verified.json"

// readVerified reads what writeVerified wrote; a record that cannot be
// read is none (every file is hashed again).
func (t *Tree) readVerified() map[string]string {
	m := map[string]string{}
	b, err := os.ReadFile(filepath.Join(t.home, verifiedName))
	if err == nil && json.Unmarshal(b, &m) != nil {
		return map[string]string{}
	}
	return m
}

// writeVerified records the stamps of the files verify found the same;
// the record only saves work, so a failure to write it is ignored.
func (t *Tree) writeVerified(m map[string]string) {
	if b, err := json.Marshal(m); err == nil {
		worktree.ReplaceFile(filepath.Join(t.home, verifiedName), b, 0o644)
	}
}

// statStamp is a directory entry's stat data as verify records it (see
// infoStamp); "" when it cannot be read.
func statStamp(d fs.DirEntry) string {
	info, err := d.Info()
	if err != nil {
		return ""
	}
	return infoStamp(info)
}

// infoStamp is a file's device, inode, size, modification and change
// times: what changes when anyone but the clock's owner writes it; ""
// when the system gives no such data (nothing is then skipped).
func infoStamp(info fs.FileInfo) string {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d.%d:%d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

// sameFile reports whether the prepared tree's entry p (d) is the source
// tree's file usrc (ui): the same file (a hard link), or a regular file
// with the same contents, or a symlink with the same target.
func sameFile(usrc string, ui fs.FileInfo, p string, d fs.DirEntry) (bool, error) {
	switch {
	case ui.Mode()&fs.ModeSymlink != 0:
		if d.Type()&fs.ModeSymlink == 0 {
			return false, nil
		}
		a, err1 := os.Readlink(usrc)
		b, err2 := os.Readlink(p)
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		return a == b, nil
	case ui.Mode().IsRegular():
		if !d.Type().IsRegular() {
			return false, nil
		}
		info, err := d.Info()
		if err != nil {
			return false, err
		}
		if sameInode(ui, info) {
			return true, nil
		}
		if info.Size() != ui.Size() {
			return false, nil
		}
		a, err1 := fileSum(usrc)
		b, err2 := fileSum(p)
		if err := errors.Join(err1, err2); err != nil {
			return false, err
		}
		return a == b, nil
	}
	return false, nil
}

// sameAsManifest reports whether the prepared tree's entry p (d) is what
// the preparation made.
func sameAsManifest(p string, d fs.DirEntry, m manifestEntry) (bool, error) {
	if m.sum == "" {
		if d.Type()&fs.ModeSymlink == 0 {
			return false, nil
		}
		l, err := os.Readlink(p)
		return l == m.link, err
	}
	if !d.Type().IsRegular() {
		return false, nil
	}
	sum, err := fileSum(p)
	return sum == m.sum, err
}

// fileSum is the sha256 of a file's contents, in hex.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
