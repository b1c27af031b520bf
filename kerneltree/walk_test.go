package kerneltree

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRelTo: the paths walkParallel gives, relative to its root however
// the root is written (a trailing slash, a "." in it), are filepath.Rel's.
func TestRelTo(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"Makefile", "fs/proc/loadavg.c", "include/linux/seq_file.h", "a/b/c/d/e.h"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, root := range []string{dir, dir + "/", filepath.Join(dir, "fs") + "/..", dir + "/./"} {
		rel := relTo(root)
		var mu sync.Mutex
		var got, want []string
		err := walkParallel(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			r, _ := filepath.Rel(root, p)
			mu.Lock()
			got = append(got, rel(p))
			want = append(want, filepath.ToSlash(r))
			mu.Unlock()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(got)
		sort.Strings(want)
		if len(got) < 8 {
			t.Errorf("root %s: %d entries walked: %v", root, len(got), got)
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("root %s: relTo differs from filepath.Rel (-Rel +relTo):\n%s", root, d)
		}
	}
	if got := relTo("/")("/usr/src"); got != "usr/src" {
		t.Errorf(`relTo("/")("/usr/src") = %q`, got)
	}
}

// TestWalkAtEntries: walkAt's entries (read with getdents64) have the
// names, types and inode numbers lstat gives, and sameLink knows a hard
// link from its directory entry, and nothing else: not a copy with the
// same contents, not another file, not a symlink to the file.
func TestWalkAtEntries(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.c")
	if err := os.WriteFile(src, []byte("int x;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tree := filepath.Join(dir, "tree")
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(src, filepath.Join(tree, "link.c")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "copy.c"), []byte("int x;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sub", "other.c"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(src, filepath.Join(tree, "sym.c")); err != nil {
		t.Fatal(err)
	}
	// Enough entries for more than one getdents64 buffer.
	for i := range 1500 {
		if err := os.WriteFile(filepath.Join(tree, "sub", fmt.Sprintf("f%04d-%s.h", i, strings.Repeat("x", 40))), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ui, err := os.Lstat(src)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	trusted := inodeFileSystems[int64(st.Type)]
	if !trusted {
		t.Logf("the temporary directory's file system (statfs type %#x) does not vouch for its entries' inode numbers: sameLink must say false throughout", st.Type)
	}
	links := map[string]bool{}
	n := 0
	err = walkAt(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		want, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if d.Name() != want.Name() || d.Type() != want.Mode().Type() || d.IsDir() != want.IsDir() {
			t.Errorf("%s: entry %q type %v, lstat %q type %v", p, d.Name(), d.Type(), want.Name(), want.Mode().Type())
		}
		if e := d.(atEntry); e.ino != want.Sys().(*syscall.Stat_t).Ino {
			t.Errorf("%s: entry inode %d, lstat %d", p, e.ino, want.Sys().(*syscall.Stat_t).Ino)
		}
		if sameLink(d, ui) {
			links[d.Name()] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1500+5 {
		t.Errorf("%d entries walked, want %d", n, 1500+5)
	}
	want := map[string]bool{}
	if trusted {
		want["link.c"] = true
	}
	if d := cmp.Diff(want, links); d != "" {
		t.Errorf("sameLink (-want +got):\n%s", d)
	}
	// An entry of another walk (os.ReadDir's) is never vouched for.
	ents, err := os.ReadDir(tree)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if sameLink(e, ui) {
			t.Errorf("sameLink of os.ReadDir's entry %s", e.Name())
		}
	}
}
