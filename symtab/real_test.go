package symtab

import (
	"bytes"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func readelfSymbols(t testing.TB, path string) []byte {
	t.Helper()
	out, err := exec.Command("readelf", "-s", "--wide", path).Output()
	if err != nil {
		t.Fatalf("readelf -s --wide %s: %v", path, err)
	}
	return out
}

// TestUnitObjects loads each ORIG object of the kpatch unit corpus both as
// ELF and as readelf text, checks the two agree, and runs FILE-block
// matching of the object against its own symbol table (which is how the
// unit tests invoke create-diff-object); every local FUNC/OBJECT of a block
// must then resolve, as a local, to itself.
func TestUnitObjects(t *testing.T) {
	dir := testutil.CorpusDir(t)
	testutil.NeedTool(t, "readelf")
	objs, _ := filepath.Glob(filepath.Join(dir, "*.ORIG.o"))
	if len(objs) == 0 {
		t.Fatalf("no *.ORIG.o in the corpus %s", dir)
	}
	for _, obj := range objs {
		t.Run(filepath.Base(obj), func(t *testing.T) {
			et, err := Load(obj)
			if err != nil {
				t.Fatal(err)
			}
			text := readelfSymbols(t, obj)
			tt, err := ParseReadelf(obj+".symtab", text)
			if err != nil {
				t.Fatal(err)
			}
			if len(et.Entries) != len(tt.Entries) {
				t.Fatalf("ELF form has %d entries, text form %d", len(et.Entries), len(tt.Entries))
			}
			for i := range et.Entries {
				if et.Entries[i] != tt.Entries[i] {
					t.Fatalf("entry %d: ELF %+v, text %+v", i, et.Entries[i], tt.Entries[i])
				}
			}
			blocks := et.FileBlocks()
			if len(blocks) == 0 {
				t.Fatal("no FILE symbol")
			}
			l, err := NewLookup("vmlinux", tt, nil, blocks)
			if err != nil {
				t.Fatal(err)
			}
			for bi, fi := range et.Files() {
				if l.Matched(bi) != int(fi) {
					t.Errorf("block %d (%s) matched entry %d, want %d", bi, blocks[bi].Name, l.Matched(bi), fi)
				}
				start, end := et.Block(int(fi))
				for _, e := range et.Entries[start:end] {
					if e.Bind != elf.STB_LOCAL || (e.Type != elf.STT_FUNC && e.Type != elf.STT_OBJECT) {
						continue
					}
					r, ok, err := l.Find(e.Name, bi)
					if err != nil || !ok || r.Global || r.Addr != e.Value || r.Size != e.Size || r.Sympos == 0 {
						t.Errorf("Find(%q, %d) = %+v, %v, %v", e.Name, bi, r, ok, err)
					}
				}
			}
			// Globals defined by the object resolve with sympos 0, also
			// when looked up with the block they sit in (the last one).
			_, blockOf := FileBlocksOf(et.Entries)
			for i, e := range et.Entries {
				if e.Bind != elf.STB_GLOBAL {
					continue
				}
				r, ok, err := l.Find(e.Name, blockOf[i])
				if err != nil || !ok || !r.Global || r.Sympos != 0 || r.Addr != e.Value {
					t.Errorf("Find(%q, %d) = %+v, %v, %v", e.Name, blockOf[i], r, ok, err)
				}
			}
		})
	}
}

// TestSameStaticTwoFiles builds two C files defining the same static
// function, links them with "ld -r" and checks each file's static is found
// in its own block with sympos 1 and 2 by address.
func TestSameStaticTwoFiles(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "ld")
	testutil.NeedTool(t, "readelf")
	dir := t.TempDir()
	src := map[string]string{
		"one.c": "static int counter;\nstatic int helper(int x) { return x + counter++; }\nint one(int x) { return helper(x) * 3; }\n",
		"two.c": "static int counter;\nstatic int helper(int x) { return x - counter--; }\nstatic int only_two(void) { return 2; }\nint two(int x) { return helper(x) + only_two(); }\n",
	}
	var objs []string
	for name, s := range src {
		c := filepath.Join(dir, name)
		if err := os.WriteFile(c, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		o := c[:len(c)-2] + ".o"
		if out, err := exec.Command("gcc", "-O1", "-fno-inline", "-c", "-o", o, c).CombinedOutput(); err != nil {
			testutil.Missing(t, "gcc failed: %v\n%s", err, out)
		}
		objs = append(objs, o)
	}
	// Link one.o first so its statics get the lower addresses.
	if objs[0] > objs[1] {
		objs[0], objs[1] = objs[1], objs[0]
	}
	linked := filepath.Join(dir, "linked.o")
	if out, err := exec.Command("ld", "-r", "-o", linked, objs[0], objs[1]).CombinedOutput(); err != nil {
		testutil.Missing(t, "ld -r failed: %v\n%s", err, out)
	}
	text := readelfSymbols(t, linked)
	tab, err := ParseReadelf("linked.symtab", text)
	if err != nil {
		t.Fatal(err)
	}
	etab, err := Load(linked)
	if err != nil {
		t.Fatal(err)
	}
	// The object's own FILE blocks, in its order.
	blocks := etab.FileBlocks()
	l, err := NewLookup("vmlinux", tab, nil, blocks)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]uint64{}
	for bi, b := range blocks {
		for _, name := range []string{"helper", "counter"} {
			r, ok, err := l.Find(name, bi)
			if err != nil || !ok || r.Global {
				t.Fatalf("Find(%q, block %s) = %+v, %v, %v", name, b.Name, r, ok, err)
			}
			pos[b.Name+":"+name] = r.Sympos
		}
	}
	want := map[string]uint64{"one.c:helper": 1, "two.c:helper": 2, "one.c:counter": 1, "two.c:counter": 2}
	for k, v := range want {
		if pos[k] != v {
			t.Errorf("sympos of %s = %d, want %d (all: %v)", k, pos[k], v, pos)
		}
	}
	// A block listing only one.c's locals must not match two.c's FILE
	// entry: two.c has only_two in addition.
	bad := FileBlock{Name: "two.c", Locals: []Local{{"helper", elf.STT_FUNC}, {"counter", elf.STT_OBJECT}}}
	if _, err := NewLookup("vmlinux", tab, nil, []FileBlock{bad}); err == nil {
		t.Errorf("two.c without only_two matched")
	}
	// Globals resolve with sympos 0.
	if r, ok, err := l.Find("two", 1); err != nil || !ok || !r.Global || r.Sympos != 0 {
		t.Errorf("Find(two) = %+v, %v, %v", r, ok, err)
	}
	if !bytes.Contains(text, []byte("FILE")) {
		t.Errorf("readelf output has no FILE entries")
	}
}

// TestLinkedExecutableForms checks the ELF and readelf forms agree on a
// linked executable, which has a .dynsym (skipped in the text form) and
// versioned undefined names.
func TestLinkedExecutableForms(t *testing.T) {
	testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "readelf")
	dir := t.TempDir()
	c := filepath.Join(dir, "p.c")
	exe := filepath.Join(dir, "p")
	src := "#include <stdio.h>\nstatic int s(void) { return 1; }\nint main(void) { puts(\"x\"); return s(); }\n"
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("gcc", "-o", exe, c).CombinedOutput(); err != nil {
		testutil.Missing(t, "gcc failed: %v\n%s", err, out)
	}
	text := readelfSymbols(t, exe)
	if !bytes.Contains(text, []byte(".dynsym")) {
		t.Skip("no .dynsym in the test executable")
	}
	et, err := Load(exe)
	if err != nil {
		t.Fatal(err)
	}
	tt, err := ParseReadelf("p.symtab", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(et.Entries) != len(tt.Entries) || len(et.Entries) == 0 {
		t.Fatalf("ELF form has %d entries, text form %d", len(et.Entries), len(tt.Entries))
	}
	for i := range et.Entries {
		if et.Entries[i] != tt.Entries[i] {
			t.Errorf("entry %d: ELF %+v, text %+v", i, et.Entries[i], tt.Entries[i])
		}
	}
	if len(tt.Named("main")) != 1 || len(tt.Named("s")) != 1 {
		t.Errorf("main/s not found once")
	}
}
