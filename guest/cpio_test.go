package guest

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testEntries covers every member type the initramfs uses.
var testEntries = []CPIOEntry{
	{Name: "bin", Mode: fs.ModeDir | 0o755},
	{Name: "bin/tool", Mode: 0o755, Data: []byte("#!/bin/sh\necho tool\n")},
	{Name: "bin/sh", Mode: fs.ModeSymlink, Data: []byte("tool")},
	{Name: "etc", Mode: fs.ModeDir | 0o700},
	{Name: "etc/empty", Mode: 0o600},
	{Name: "etc/odd-size", Mode: 0o644, Data: []byte("12345")},
	{Name: "dev", Mode: fs.ModeDir | 0o755},
	{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1},
}

// TestCPIORoundTrip lets the system's cpio list and extract what
// WriteCPIO wrote.
func TestCPIORoundTrip(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		absent(t, "cpio not installed")
	}
	var buf bytes.Buffer
	if err := WriteCPIO(&buf, testEntries); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-byte aligned", buf.Len())
	}
	list := exec.Command("cpio", "-itv", "--quiet")
	list.Stdin = bytes.NewReader(buf.Bytes())
	out, err := list.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	for _, want := range []string{"drwxr-xr-x", "-rwxr-xr-x", "bin/sh -> tool", "crw-------", "5,   1", "dev/console", "-rw-r--r--"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("cpio -tv lacks %q:\n%s", want, out)
		}
	}
	dir := t.TempDir()
	extract := exec.Command("cpio", "-id", "--quiet", "--no-absolute-filenames", "--nonmatching", "dev/console")
	extract.Dir = dir
	extract.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, e := range testEntries {
		p := filepath.Join(dir, e.Name)
		switch {
		case e.Mode.IsRegular():
			got, err := os.ReadFile(p)
			if err != nil || !bytes.Equal(got, e.Data) {
				t.Errorf("%s: got %q, %v; want %q", e.Name, got, err, e.Data)
			}
			if info, _ := os.Stat(p); info == nil || info.Mode().Perm() != e.Mode.Perm() {
				t.Errorf("%s: mode %v, want %v", e.Name, info.Mode(), e.Mode.Perm())
			}
		case e.Mode&fs.ModeSymlink != 0:
			if got, err := os.Readlink(p); err != nil || got != string(e.Data) {
				t.Errorf("%s: link %q, %v; want %q", e.Name, got, err, e.Data)
			}
		}
	}
	var again bytes.Buffer
	WriteCPIO(&again, testEntries)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of the same entries differ")
	}
}

// TestCPIORefusesBadNames keeps every member inside the archive's root.
func TestCPIORefusesBadNames(t *testing.T) {
	for _, name := range []string{"", "/abs", "../up", "a/../../b", "a//b", "./a", "TRAILER!!!", "nul\x00"} {
		err := WriteCPIO(&bytes.Buffer{}, []CPIOEntry{{Name: name, Mode: 0o644}})
		if err == nil {
			t.Errorf("name %q accepted", name)
		}
	}
	if err := WriteCPIO(&bytes.Buffer{}, []CPIOEntry{{Name: "p", Mode: fs.ModeNamedPipe}}); err == nil {
		t.Error("named pipe accepted")
	}
	var tr tree
	if err := tr.add(CPIOEntry{Name: "a/b/c", Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if got := len(tr.entries); got != 3 || tr.entries[0].Name != "a" || tr.entries[1].Name != "a/b" {
		t.Errorf("parents not added first: %+v", tr.entries)
	}
	if err := tr.add(CPIOEntry{Name: "a/b/c", Mode: 0o644}); err == nil {
		t.Error("duplicate member accepted")
	}
}
