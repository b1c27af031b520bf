package kerneltree

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// walkAt walks the directory dir below it (dir itself is not visited)
// like filepath.WalkDir, in directory order, but each entry's Info is
// an fstatat relative to its open directory rather than an lstat of its
// whole path (the kernel resolves one name, not every directory of a
// 5-deep path: the trees' check is mostly these calls). The entries are
// valid during fn only.
func walkAt(dir string, fn fs.WalkDirFunc) error {
	f, err := os.Open(dir)
	if err != nil {
		return fn(dir, nil, err)
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return fn(dir, nil, err)
	}
	fd := int(f.Fd())
	for _, e := range ents {
		p := dir + string(filepath.Separator) + e.Name()
		err := fn(p, atEntry{DirEntry: e, dirfd: fd, path: p}, nil)
		if errors.Is(err, filepath.SkipDir) && e.IsDir() {
			continue
		}
		if err != nil {
			return err
		}
		if e.IsDir() {
			if err := walkAt(p, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// atEntry is a directory entry whose Info is read relative to its
// directory's open descriptor.
type atEntry struct {
	fs.DirEntry
	dirfd int
	path  string
}

// Info is the entry's lstat, through fstatat(dirfd, name,
// AT_SYMLINK_NOFOLLOW).
func (e atEntry) Info() (fs.FileInfo, error) {
	var st syscall.Stat_t
	if err := fstatat(e.dirfd, e.Name(), e.path, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: e.path, Err: err}
	}
	return &statInfo{name: e.Name(), st: st}, nil
}

// statInfo is an fs.FileInfo of a Stat_t (Sys returns it), with the
// modes os.Lstat would give.
type statInfo struct {
	name string
	st   syscall.Stat_t
}

func (s *statInfo) Name() string       { return s.name }
func (s *statInfo) Size() int64        { return s.st.Size }
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Unix()) }
func (s *statInfo) IsDir() bool        { return s.Mode().IsDir() }
func (s *statInfo) Sys() any           { return &s.st }

// Mode converts the stat mode as package os does on Linux.
func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & syscall.S_IFMT {
	case syscall.S_IFBLK:
		m |= fs.ModeDevice
	case syscall.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFDIR:
		m |= fs.ModeDir
	case syscall.S_IFIFO:
		m |= fs.ModeNamedPipe
	case syscall.S_IFLNK:
		m |= fs.ModeSymlink
	case syscall.S_IFSOCK:
		m |= fs.ModeSocket
	}
	if s.st.Mode&syscall.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&syscall.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&syscall.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// sameInode is os.SameFile for the infos of both walks (statInfo or os's):
// the same device and inode.
func sameInode(a, b fs.FileInfo) bool {
	sa, ok1 := a.Sys().(*syscall.Stat_t)
	sb, ok2 := b.Sys().(*syscall.Stat_t)
	if !ok1 || !ok2 {
		return os.SameFile(a, b)
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino
}
