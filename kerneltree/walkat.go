package kerneltree

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
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
// 5-deep path: the trees' check is mostly these calls), and each entry
// knows its inode number from the directory itself (sameLink). The
// entries are valid during fn only.
func walkAt(dir string, fn fs.WalkDirFunc) error {
	f, err := os.Open(dir)
	if err != nil {
		return fn(dir, nil, err)
	}
	defer f.Close()
	fd := int(f.Fd())
	ents, err := readDirAt(fd)
	if err != nil {
		return fn(dir, nil, &fs.PathError{Op: "readdirent", Path: dir, Err: err})
	}
	var st syscall.Stat_t
	var sfs syscall.Statfs_t
	dev, inoTrusted := uint64(0), false
	if syscall.Fstat(fd, &st) == nil && syscall.Fstatfs(fd, &sfs) == nil {
		dev, inoTrusted = st.Dev, inodeFileSystems[int64(sfs.Type)]
	}
	for _, d := range ents {
		p := dir + string(filepath.Separator) + d.name
		e := atEntry{dirent: d, dirfd: fd, path: p, dev: dev, inoTrusted: inoTrusted}
		if e.typ == typeUnknown {
			info, err := e.Info()
			if err != nil {
				return fn(p, nil, err)
			}
			e.typ = info.Mode().Type()
		}
		err := fn(p, e, nil)
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

// inodeFileSystems are the file systems (statfs magic numbers) whose
// directory entries give a regular file's own inode number, the one
// stat gives: ext2-4, XFS, Btrfs, tmpfs. Elsewhere (overlayfs, network
// file systems) walkAt's entries do not vouch for their inode numbers.
var inodeFileSystems = map[int64]bool{0xEF53: true, 0x58465342: true, 0x9123683E: true, 0x01021994: true}

// typeUnknown marks an entry whose directory did not say its type.
const typeUnknown fs.FileMode = 1<<32 - 1

// dirent is one entry of a directory as getdents64 gives it.
type dirent struct {
	name string
	typ  fs.FileMode
	ino  uint64
}

// readDirAt reads the entries of the open directory fd but "." and "..".
func readDirAt(fd int) ([]dirent, error) {
	var ents []dirent
	buf := make([]byte, 32<<10)
	for {
		n, err := syscall.Getdents(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return ents, nil
		}
		// struct linux_dirent64: d_ino u64, d_off s64, d_reclen u16,
		// d_type u8, d_name (NUL-terminated).
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, fmt.Errorf("a directory entry of %d bytes in %d", reclen, len(b))
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				ents = append(ents, dirent{name: s, typ: direntType(b[18]), ino: binary.NativeEndian.Uint64(b[0:8])})
			}
			b = b[reclen:]
		}
	}
}

// direntType is the fs.FileMode type of a d_type.
func direntType(t byte) fs.FileMode {
	switch t {
	case syscall.DT_REG:
		return 0
	case syscall.DT_DIR:
		return fs.ModeDir
	case syscall.DT_LNK:
		return fs.ModeSymlink
	case syscall.DT_FIFO:
		return fs.ModeNamedPipe
	case syscall.DT_SOCK:
		return fs.ModeSocket
	case syscall.DT_CHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.DT_BLK:
		return fs.ModeDevice
	}
	return typeUnknown
}

// atEntry is a directory entry whose Info is read relative to its
// directory's open descriptor.
type atEntry struct {
	dirent
	dirfd      int
	path       string
	dev        uint64 // the directory's device
	inoTrusted bool   // whether ino is the file's inode (inodeFileSystems)
}

func (e atEntry) Name() string      { return e.name }
func (e atEntry) IsDir() bool       { return e.typ.IsDir() }
func (e atEntry) Type() fs.FileMode { return e.typ }
func (e atEntry) String() string    { return fs.FormatDirEntry(e) }
func (e atEntry) sameInodeAs(st *syscall.Stat_t) bool {
	return e.inoTrusted && e.typ.IsRegular() && e.dev == st.Dev && e.ino == st.Ino
}

// Info is the entry's lstat, through fstatat(dirfd, name,
// AT_SYMLINK_NOFOLLOW).
func (e atEntry) Info() (fs.FileInfo, error) {
	var st syscall.Stat_t
	if err := fstatat(e.dirfd, e.name, e.path, &st); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: e.path, Err: err}
	}
	return &statInfo{name: e.name, st: st}, nil
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

// sameLink reports, without a stat, whether the walk's entry d is the
// regular file ui (the same device and inode): a hard link, known from
// the directory entry's inode number where the file system's entries
// give it (walkAt's entries on inodeFileSystems). false means "not
// known", not "different". (A file bind-mounted over the entry would
// hide behind the inode number of the file under it; mounting takes
// root.)
func sameLink(d fs.DirEntry, ui fs.FileInfo) bool {
	e, ok := d.(atEntry)
	if !ok || !ui.Mode().IsRegular() {
		return false
	}
	st, ok := ui.Sys().(*syscall.Stat_t)
	return ok && e.sameInodeAs(st)
}
