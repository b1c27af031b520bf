package guest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// CPIOEntry is one member of a newc cpio archive.
type CPIOEntry struct {
	// Name is the path inside the archive, without a leading slash.
	Name string
	// Mode holds the type (regular file, fs.ModeDir, fs.ModeSymlink,
	// fs.ModeDevice|fs.ModeCharDevice) and the permission bits.
	Mode fs.FileMode
	// Data is a regular file's content or a symlink's target.
	Data []byte
	// Major and Minor number a device node.
	Major, Minor uint32
}

// Unix file type bits as the newc header stores them.
const (
	sIFDIR = 0o040000
	sIFCHR = 0o020000
	sIFREG = 0o100000
	sIFLNK = 0o120000
)

// cpioTrailer names the entry that ends a cpio archive.
const cpioTrailer = "TRAILER!!!"

// WriteCPIO writes entries as a newc ("070701") cpio archive, the format
// the kernel unpacks as an initramfs. Owners are root, times are zero and
// inodes are numbered in order, so the same entries give the same bytes.
// Parent directories must come before their members.
func WriteCPIO(w io.Writer, entries []CPIOEntry) error {
	bw := bufio.NewWriter(w)
	for i, e := range entries {
		if err := checkCPIOName(e.Name); err != nil {
			return fmt.Errorf("cpio entry %d: %w", i, err)
		}
		mode, nlink, err := cpioMode(e.Mode)
		if err != nil {
			return fmt.Errorf("cpio entry %q: %w", e.Name, err)
		}
		data := e.Data
		if mode&0o170000 == sIFDIR || mode&0o170000 == sIFCHR {
			data = nil
		}
		writeCPIOHeader(bw, uint32(i+1), mode, nlink, e.Name, len(data), e.Major, e.Minor)
		bw.Write(data)
		bw.Write(pad4(len(data)))
	}
	writeCPIOHeader(bw, 0, 0, 1, cpioTrailer, 0, 0, 0)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write cpio: %w", err)
	}
	return nil
}

// checkCPIOName refuses names the kernel would resolve outside the
// archive's root or could not store.
func checkCPIOName(name string) error {
	switch {
	case name == "" || name == cpioTrailer:
		return fmt.Errorf("invalid name %q", name)
	case strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0):
		return fmt.Errorf("name %q must be relative and free of NUL bytes", name)
	case path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("name %q is not a clean path inside the archive", name)
	}
	return nil
}

// cpioMode converts a Go file mode to the header's mode and link count.
func cpioMode(m fs.FileMode) (mode, nlink uint32, err error) {
	perm := uint32(m.Perm())
	switch {
	case m.IsRegular():
		return sIFREG | perm, 1, nil
	case m.IsDir():
		return sIFDIR | perm, 2, nil
	case m&fs.ModeSymlink != 0:
		return sIFLNK | 0o777, 1, nil
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		return sIFCHR | perm, 1, nil
	}
	return 0, 0, fmt.Errorf("unsupported file mode %v", m)
}

// writeCPIOHeader writes a newc header, the name and its padding.
func writeCPIOHeader(w *bufio.Writer, ino, mode, nlink uint32, name string, size int, major, minor uint32) {
	fmt.Fprintf(w, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, major, minor, len(name)+1, 0)
	w.WriteString(name)
	w.WriteByte(0)
	w.Write(pad4(110 + len(name) + 1))
}

// pad4 returns the zero bytes that align n to four bytes.
func pad4(n int) []byte {
	return make([]byte, (4-n%4)%4)
}

// tree collects the members of an initramfs, adding parent directories
// before their members and refusing two members with one name.
type tree struct {
	entries []CPIOEntry
	seen    map[string]bool
}

// add puts one member in the tree, with its missing parent directories.
func (t *tree) add(e CPIOEntry) error {
	if err := checkCPIOName(e.Name); err != nil {
		return err
	}
	if t.seen == nil {
		t.seen = map[string]bool{}
	}
	if dir := path.Dir(e.Name); dir != "." && !t.seen[dir] {
		if err := t.add(CPIOEntry{Name: dir, Mode: fs.ModeDir | 0o755}); err != nil {
			return err
		}
	}
	if t.seen[e.Name] {
		if e.Mode.IsDir() {
			return nil
		}
		return fmt.Errorf("initramfs: %q added twice", e.Name)
	}
	t.seen[e.Name] = true
	t.entries = append(t.entries, e)
	return nil
}
