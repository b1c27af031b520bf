package symtab

import (
	"debug/elf"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseReadelf(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Entry
	}{
		{
			name: "basic",
			text: readelfText(
				"0 0 FILE LOCAL ABS meminfo.c",
				"0 0 SECTION LOCAL 2 .text",
				"10 39 FUNC LOCAL 2 proc_meminfo_init",
				"0 0 NOTYPE GLOBAL UND printk",
				"20 0x186a0 OBJECT GLOBAL 5 big",
				"30 8 OBJECT WEAK COM weakling",
			),
			want: []Entry{
				{Num: 1, Name: "meminfo.c", Type: elf.STT_FILE, Bind: elf.STB_LOCAL, Shndx: elf.SHN_ABS},
				{Num: 3, Name: "proc_meminfo_init", Value: 0x10, Size: 39, Type: elf.STT_FUNC, Bind: elf.STB_LOCAL, Shndx: 2},
				{Num: 5, Name: "big", Value: 0x20, Size: 100000, Type: elf.STT_OBJECT, Bind: elf.STB_GLOBAL, Shndx: 5},
				{Num: 6, Name: "weakling", Value: 0x30, Size: 8, Type: elf.STT_OBJECT, Bind: elf.STB_WEAK, Shndx: elf.SHN_COMMON},
			},
		},
		{
			name: "missing name, trailing blanks, CRLF",
			text: "   Num:    Value          Size Type    Bind   Vis      Ndx Name\r\n" +
				"     1: 0000000000000000     0 FILE    LOCAL  DEFAULT  ABS \r\n" +
				"     2: ffffffff81000000    12 FUNC    GLOBAL DEFAULT    1 f@@VERS_1\n",
			want: []Entry{
				{Num: 1, Name: "", Type: elf.STT_FILE, Bind: elf.STB_LOCAL, Shndx: elf.SHN_ABS},
				{Num: 2, Name: "f@@VERS_1", Value: 0xffffffff81000000, Size: 12, Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL, Shndx: 1},
			},
		},
		{
			name: "dynsym skipped",
			text: "\nSymbol table '.dynsym' contains 2 entries:\n" +
				"   Num:    Value          Size Type    Bind   Vis      Ndx Name\n" +
				"     1: 0000000000001000     4 FUNC    GLOBAL DEFAULT   10 puts@GLIBC_2.2.5 (2)\n" +
				"\nSymbol table '.symtab' contains 2 entries:\n" +
				"   Num:    Value          Size Type    Bind   Vis      Ndx Name\n" +
				"     1: 0000000000001000     4 FUNC    GLOBAL DEFAULT   10 main\n",
			want: []Entry{
				{Num: 1, Name: "main", Value: 0x1000, Size: 4, Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL, Shndx: 10},
			},
		},
		{
			name: "annotations and reserved indices",
			text: "     1: 0000000000001000     4 FUNC    GLOBAL DEFAULT [<localentry>: 8]     1 .TOC.x\n" +
				"     2: 0000000000000000     0 FUNC    GLOBAL DEFAULT OS [0xff20] .klp.sym.vmlinux.foo,1\n" +
				"     3: 0000000000000000     0 OBJECT  GLOBAL DEFAULT PRC[0xff00] proc\n" +
				"     4: 0000000000000008     8 TLS     UNIQUE HIDDEN     3 tls\n" +
				"     5: 0000000000000010     0 IFUNC   GLOBAL DEFAULT  LARGE_COM ifn\n" +
				"     6: 0000000000000010     0 FUNC    GLOBAL DEFAULT  0 undefined\n",
			want: []Entry{
				{Num: 1, Name: ".TOC.x", Value: 0x1000, Size: 4, Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL, Shndx: 1},
				{Num: 2, Name: ".klp.sym.vmlinux.foo,1", Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL, Shndx: 0xff20},
				{Num: 3, Name: "proc", Type: elf.STT_OBJECT, Bind: elf.STB_GLOBAL, Shndx: 0xff00},
				{Num: 4, Name: "tls", Value: 8, Size: 8, Type: elf.STT_TLS, Bind: stbGNUUnique, Shndx: 3},
				{Num: 5, Name: "ifn", Value: 0x10, Type: elf.STT_GNU_IFUNC, Bind: elf.STB_GLOBAL, Shndx: 0xff02},
			},
		},
		{
			name: "empty",
			text: "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab, err := ParseReadelf("test", []byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if len(tab.Entries) != len(tc.want) {
				t.Fatalf("got %d entries %v, want %d", len(tab.Entries), tab.Entries, len(tc.want))
			}
			for i := range tc.want {
				if tab.Entries[i] != tc.want[i] {
					t.Errorf("entry %d = %+v, want %+v", i, tab.Entries[i], tc.want[i])
				}
			}
		})
	}
}

func TestParseReadelfErrors(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"x\n     7: 0000000000000000     0 FUNC    BOGUS  DEFAULT    1 f\n", `sym.txt:2: unknown symbol bind "BOGUS"`},
		{"     7: 0000000000000000     0 WEIRD   LOCAL  DEFAULT    1 f\n", `sym.txt:1: unknown symbol type "WEIRD"`},
		{"     7: 00000000000000zz     0 FUNC    LOCAL  DEFAULT    1 f\n", `sym.txt:1: bad symbol value`},
		{"     7: 0000000000000000    1x FUNC    LOCAL  DEFAULT    1 f\n", `sym.txt:1: bad symbol size`},
		{"     7: 0000000000000000     0 FUNC    LOCAL  DEFAULT  XYZ f\n", `sym.txt:1: unknown section index "XYZ"`},
		{"     7: 0000000000000000     0 FUNC\n", `sym.txt:1: truncated symbol line`},
		{"     7: 0000000000000000     0 FUNC    LOCAL  DEFAULT [<x>: 1]\n", `sym.txt:1: missing section index`},
	}
	for _, tc := range tests {
		_, err := ParseReadelf("sym.txt", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseReadelf(%q) error = %v, want %q", tc.text, err, tc.want)
		}
	}
	// An unknown bind inside a skipped .dynsym block is not looked at.
	if _, err := ParseReadelf("x", []byte("Symbol table '.dynsym' contains 1 entry:\n 1: 0 0 FUNC BOGUS DEFAULT 1 f\n")); err != nil {
		t.Errorf("dynsym line parsed: %v", err)
	}
}

func TestTableIndexes(t *testing.T) {
	tab, err := ParseReadelf("t", []byte(readelfText(
		"0 0 FILE LOCAL ABS a.c",
		"10 1 FUNC LOCAL 1 foo",
		"0 0 FILE LOCAL ABS b.c",
		"20 1 FUNC LOCAL 1 foo",
		"30 1 OBJECT LOCAL 1 bar",
		"40 1 FUNC GLOBAL 1 main",
	)))
	if err != nil {
		t.Fatal(err)
	}
	if got := tab.Named("foo"); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Errorf("Named(foo) = %v", got)
	}
	if got := tab.Named("nope"); got != nil {
		t.Errorf("Named(nope) = %v", got)
	}
	if got := tab.Files(); len(got) != 2 || got[0] != 0 || got[1] != 2 {
		t.Errorf("Files() = %v", got)
	}
	if s, e := tab.Block(0); s != 1 || e != 2 {
		t.Errorf("Block(0) = %d, %d", s, e)
	}
	if s, e := tab.Block(2); s != 3 || e != 6 {
		t.Errorf("Block(2) = %d, %d", s, e)
	}
	blocks := tab.FileBlocks()
	if len(blocks) != 2 || blocks[0].Name != "a.c" || len(blocks[0].Locals) != 1 ||
		blocks[1].Name != "b.c" || len(blocks[1].Locals) != 2 || blocks[1].Locals[1] != (Local{"bar", elf.STT_OBJECT}) {
		t.Errorf("FileBlocks() = %+v", blocks)
	}
}

func TestParseSymvers(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Export
		err  string
	}{
		{name: "empty"},
		{
			name: "4 columns",
			text: "0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\n" +
				"0x00000000\tfoo_fn\tdrivers/net/foo-bar\tEXPORT_SYMBOL_GPL\n",
			want: []Export{
				{"printk", "vmlinux", "vmlinux"},
				{"foo_fn", "drivers/net/foo-bar", "foo_bar"},
			},
		},
		{
			name: "namespace before module",
			text: "0x1\tsym_a\t\tfs/ext4/ext4\tEXPORT_SYMBOL\n" +
				"0x2\tsym_b\tNS\tvmlinux\tEXPORT_SYMBOL\n",
			want: []Export{
				{"sym_a", "fs/ext4/ext4", "ext4"},
				{"sym_b", "vmlinux", "vmlinux"},
			},
		},
		{
			name: "namespace last, symbol starting with vmlinux",
			text: "0x1\tvmlinux_build_id\tvmlinux\tEXPORT_SYMBOL_GPL\t\r\n" +
				"0x2\tusb_foo\tdrivers/usb/core/usbcore\tEXPORT_SYMBOL_GPL\tUSB_STORAGE\n\n",
			want: []Export{
				{"vmlinux_build_id", "vmlinux", "vmlinux"},
				{"usb_foo", "drivers/usb/core/usbcore", "usbcore"},
			},
		},
		{
			name: "a line that does not parse",
			text: "0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\n" +
				"garbage line\n",
			err: "sym.txt:2: not a Module.symvers line (1 tab-separated fields, want at least 3): \"garbage line\"",
		},
		{
			name: "a CRC that is not hex",
			text: "0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\n" +
				"0xzz\tfoo\tvmlinux\tEXPORT_SYMBOL\n",
			err: "sym.txt:2: not a Module.symvers line (the first field is not a 0x-prefixed CRC)",
		},
		{
			name: "no module field",
			text: "0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\n" +
				"0x2\tfoo\t\tEXPORT_SYMBOL\n",
			err: "sym.txt:2: not a Module.symvers line (empty module field)",
		},
		{
			name: "no vmlinux column",
			text: "0x1\tsym\tdrivers/foo\tEXPORT_SYMBOL\n",
			err:  "sym.txt: Module.symvers: invalid format",
		},
		{name: "only newline", text: "\n", err: "Module.symvers: invalid format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sv, err := ParseSymvers("sym.txt", []byte(tc.text))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrInvalidSymvers) {
					t.Fatalf("error = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(sv.Exports) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", sv.Exports, tc.want)
			}
			for i := range tc.want {
				if sv.Exports[i] != tc.want[i] {
					t.Errorf("export %d = %+v, want %+v", i, sv.Exports[i], tc.want[i])
				}
			}
		})
	}
	// /dev/null means no exports.
	if _, err := os.Stat("/dev/null"); err == nil {
		sv, err := LoadSymvers("/dev/null")
		if err != nil || sv.Len() != 0 {
			t.Errorf("LoadSymvers(/dev/null) = %v, %v", sv, err)
		}
	}
}

// lookupFixture is a vmlinux-like table: two files named show.c with a
// static show_val_kb each, a third file, globals; and a symvers.
func lookupFixture(t *testing.T) (*Table, *Symvers) {
	t.Helper()
	tab, err := ParseReadelf("vmlinux.symtab", []byte(readelfText(
		"0 0 FILE LOCAL ABS show.c",
		"ffffffff81000200 10 FUNC LOCAL 1 show_val_kb",
		"ffffffff81000300 10 FUNC LOCAL 1 meminfo_show",
		"ffffffff81000380 0 NOTYPE LOCAL 1 label",
		"0 0 FILE LOCAL ABS show.c",
		"ffffffff81000100 20 FUNC LOCAL 1 show_val_kb",
		"ffffffff81000400 20 OBJECT LOCAL 3 cpuinfo_op",
		"0 0 FILE LOCAL ABS dup.c",
		"ffffffff81000500 4 FUNC LOCAL 1 twice",
		"ffffffff81000504 4 OBJECT LOCAL 1 twice",
		"0 0 FILE LOCAL ABS empty.c",
		"0 0 FILE LOCAL ABS empty.c",
		"ffffffff81001000 100 FUNC GLOBAL 1 printk",
		"ffffffff81002000 100 FUNC WEAK 1 arch_report_meminfo",
		"ffffffff81003000 100 FUNC GLOBAL 1 dup_global",
		"ffffffff81004000 100 FUNC GLOBAL 1 dup_global",
	)))
	if err != nil {
		t.Fatal(err)
	}
	sv, err := ParseSymvers("Module.symvers", []byte(
		"0x1\tprintk\tvmlinux\tEXPORT_SYMBOL\n"+
			"0x2\tmod_fn\tdrivers/md/dm-mod\tEXPORT_SYMBOL_GPL\n"+
			"0x3\tdup_export\tvmlinux\tEXPORT_SYMBOL\n"+
			"0x4\tdup_export\tfs/xfs/xfs\tEXPORT_SYMBOL\n"))
	if err != nil {
		t.Fatal(err)
	}
	return tab, sv
}

func TestNewLookupMatching(t *testing.T) {
	tab, sv := lookupFixture(t)
	fn := func(n string) Local { return Local{n, elf.STT_FUNC} }
	obj := func(n string) Local { return Local{n, elf.STT_OBJECT} }
	tests := []struct {
		name  string
		block FileBlock
		match int // Table index of the matched FILE entry
		kind  error
		msg   string
	}{
		{"first show.c", FileBlock{"show.c", []Local{fn("show_val_kb"), fn("meminfo_show"), {"label", elf.STT_NOTYPE}}}, 0, nil, ""},
		{"second show.c", FileBlock{"show.c", []Local{obj("cpuinfo_op"), fn("show_val_kb")}}, 4, nil, ""},
		{"discardable extras ignored", FileBlock{"show.c", []Local{fn("show_val_kb"), obj("cpuinfo_op"),
			obj("__UNIQUE_ID___addressable_x1"), fn("__exitcall_foo"), obj(".L.str.1"), obj(".L__const.x"),
			obj("__brk_reservation_fn_y"), fn("__func_stack_frame_non_standard_z"), obj("__trace_check_q"),
			obj(".Lubsan_data3"), obj("x__addressable_y")}}, 4, nil, ""},
		{"type matters", FileBlock{"show.c", []Local{fn("cpuinfo_op"), fn("show_val_kb")}}, 0, ErrNoFileMatch,
			"couldn't find matching show.c local symbols in vmlinux symbol table"},
		{"extra local", FileBlock{"show.c", []Local{fn("show_val_kb"), fn("other")}}, 0, ErrNoFileMatch,
			"couldn't find matching show.c local symbols in vmlinux symbol table"},
		{"missing local", FileBlock{"show.c", []Local{fn("show_val_kb")}}, 0, ErrNoFileMatch, ""},
		{"unknown file", FileBlock{"nope.c", nil}, 0, ErrNoFileMatch,
			"couldn't find matching nope.c local symbols in vmlinux symbol table"},
		{"no locals: first match", FileBlock{"empty.c", []Local{obj("__UNIQUE_ID_z")}}, 10, nil, ""},
		{"locals but parent block empty", FileBlock{"empty.c", []Local{fn("x")}}, 0, ErrNoFileMatch, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := NewLookup("vmlinux", tab, sv, []FileBlock{tc.block})
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) || (tc.msg != "" && err.Error() != tc.msg) {
					t.Fatalf("error = %v, want %v %q", err, tc.kind, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := l.Matched(0); got != tc.match {
				t.Errorf("Matched(0) = %d, want %d", got, tc.match)
			}
		})
	}

	// Two identical blocks with locals: duplicate matches.
	dupTab, err := ParseReadelf("t", []byte(readelfText(
		"0 0 FILE LOCAL ABS a.c",
		"10 1 FUNC LOCAL 1 foo",
		"0 0 FILE LOCAL ABS a.c",
		"20 1 FUNC LOCAL 1 foo",
	)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewLookup("vmlinux", dupTab, nil, []FileBlock{{"a.c", []Local{fn("foo")}}})
	if !errors.Is(err, ErrDuplicateFileMatch) || err.Error() != "found duplicate matches for a.c local symbols in vmlinux symbol table" {
		t.Errorf("duplicate error = %v", err)
	}
}

func TestFind(t *testing.T) {
	tab, sv := lookupFixture(t)
	fn := func(n string) Local { return Local{n, elf.STT_FUNC} }
	l, err := NewLookup("vmlinux", tab, sv, []FileBlock{
		{"show.c", []Local{fn("show_val_kb"), fn("meminfo_show")}},
		{"show.c", []Local{{"cpuinfo_op", elf.STT_OBJECT}, fn("show_val_kb")}},
		{"dup.c", []Local{fn("twice"), {"twice", elf.STT_OBJECT}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		block int
		want  Result
		found bool
		err   string
	}{
		// The first show.c's show_val_kb has the higher address: sympos 2.
		{"show_val_kb", 0, Result{Name: "show_val_kb", Addr: 0xffffffff81000200, Size: 10, Sympos: 2, ObjName: "vmlinux"}, true, ""},
		{"show_val_kb", 1, Result{Name: "show_val_kb", Addr: 0xffffffff81000100, Size: 20, Sympos: 1, ObjName: "vmlinux"}, true, ""},
		{"meminfo_show", 0, Result{Name: "meminfo_show", Addr: 0xffffffff81000300, Size: 10, Sympos: 1, ObjName: "vmlinux"}, true, ""},
		// NOTYPE locals are found too.
		{"label", 0, Result{Name: "label", Addr: 0xffffffff81000380, Sympos: 1, ObjName: "vmlinux"}, true, ""},
		// A local of another block is not visible; no global either.
		{"meminfo_show", 1, Result{}, false, ""},
		// Without a block, locals are never found.
		{"show_val_kb", -1, Result{}, false, ""},
		{"twice", 2, Result{}, false, "duplicate local symbol found for twice"},
		{"printk", 0, Result{Name: "printk", Addr: 0xffffffff81001000, Size: 100, ObjName: "vmlinux", Global: true, Exported: true}, true, ""},
		{"arch_report_meminfo", -1, Result{Name: "arch_report_meminfo", Addr: 0xffffffff81002000, Size: 100, ObjName: "vmlinux", Global: true}, true, ""},
		{"dup_global", -1, Result{}, false, "duplicate global symbol found for dup_global"},
		{"mod_fn", 0, Result{Name: "mod_fn", ObjName: "dm_mod", Global: true, Exported: true}, true, ""},
		{"dup_export", -1, Result{}, false, "duplicate exported symbol found for dup_export"},
		{"nothing", 0, Result{}, false, ""},
		{"show_val_kb", 7, Result{}, false, ""},
	}
	for _, tc := range tests {
		r, found, err := l.Find(tc.name, tc.block)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err || !errors.Is(err, ErrDuplicateSymbol) {
				t.Errorf("Find(%q, %d) error = %v, want %q", tc.name, tc.block, err, tc.err)
			}
			continue
		}
		if err != nil || found != tc.found || r != tc.want {
			t.Errorf("Find(%q, %d) = %+v, %v, %v; want %+v, %v", tc.name, tc.block, r, found, err, tc.want, tc.found)
		}
	}
	if l.Blocks() != 3 || l.Matched(-1) != -1 {
		t.Errorf("Blocks/Matched wrong")
	}
}

// TestSymposSameAddress checks the address rule when same-named locals
// share an address (as in a relocatable object, where every function of its
// own section has value 0): both count.
func TestSymposSameAddress(t *testing.T) {
	tab, err := ParseReadelf("t", []byte(readelfText(
		"0 0 FILE LOCAL ABS a.c",
		"0 5 FUNC LOCAL 2 helper",
		"0 0 FILE LOCAL ABS b.c",
		"0 7 FUNC LOCAL 3 helper",
	)))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLookup("vmlinux", tab, nil, tab.FileBlocks())
	if err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 2; b++ {
		r, ok, err := l.Find("helper", b)
		if err != nil || !ok || r.Sympos != 2 {
			t.Errorf("block %d: %+v %v %v, want sympos 2", b, r, ok, err)
		}
	}
}

func TestLoadDetectsForm(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "symtab.txt")
	if err := os.WriteFile(p, []byte(readelfText("10 1 FUNC GLOBAL 1 foo")), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, err := Load(p)
	if err != nil || tab.Len() != 1 || tab.Entries[0].Name != "foo" || tab.Path != p {
		t.Fatalf("Load text = %v, %v", tab, err)
	}
	bad := filepath.Join(dir, "bad.o")
	if err := os.WriteFile(bad, []byte("\x7fELF\x02\x01\x01garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Load(bad ELF) error = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("Load(missing) succeeded")
	}
}

func TestFileBlocksOf(t *testing.T) {
	syms := []Entry{
		{Name: "early", Type: elf.STT_FUNC, Bind: elf.STB_LOCAL},
		{Name: "a.c", Type: elf.STT_FILE, Bind: elf.STB_LOCAL},
		{Name: ".text", Type: elf.STT_SECTION, Bind: elf.STB_LOCAL},
		{Name: "sf", Type: elf.STT_FUNC, Bind: elf.STB_LOCAL},
		{Name: "lbl", Type: elf.STT_NOTYPE, Bind: elf.STB_LOCAL},
		{Name: "b.c", Type: elf.STT_FILE, Bind: elf.STB_LOCAL},
		{Name: "so", Type: elf.STT_OBJECT, Bind: elf.STB_LOCAL},
		{Name: "g", Type: elf.STT_FUNC, Bind: elf.STB_GLOBAL},
	}
	blocks, blockOf := FileBlocksOf(syms)
	wantOf := []int{-1, -1, 0, 0, 0, -1, 1, 1}
	for i := range wantOf {
		if blockOf[i] != wantOf[i] {
			t.Errorf("blockOf = %v, want %v", blockOf, wantOf)
			break
		}
	}
	if len(blocks) != 2 || blocks[0].Name != "a.c" || len(blocks[0].Locals) != 1 || blocks[0].Locals[0].Name != "sf" ||
		blocks[1].Name != "b.c" || len(blocks[1].Locals) != 1 || blocks[1].Locals[0] != (Local{"so", elf.STT_OBJECT}) {
		t.Errorf("blocks = %+v", blocks)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	st := filepath.Join(dir, "vmlinux.symtab")
	sv := filepath.Join(dir, "Module.symvers")
	if err := os.WriteFile(st, []byte(readelfText(
		"0 0 FILE LOCAL ABS a.c",
		"10 1 FUNC LOCAL 1 foo",
		"20 1 FUNC GLOBAL 1 bar",
	)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sv, []byte("0x1\tbar\tvmlinux\tEXPORT_SYMBOL\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	blocks := []FileBlock{{"a.c", []Local{{"foo", elf.STT_FUNC}}}}
	l, err := Open("vmlinux", st, sv, blocks)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok, err := l.Find("bar", 0); err != nil || !ok || !r.Exported || r.Addr != 0x20 {
		t.Errorf("Find(bar) = %+v %v %v", r, ok, err)
	}
	if r, ok, err := l.Find("foo", 0); err != nil || !ok || r.Global || r.Sympos != 1 {
		t.Errorf("Find(foo) = %+v %v %v", r, ok, err)
	}
	if l, err := Open("vmlinux", st, "", blocks); err != nil || l.Symvers.Len() != 0 {
		t.Errorf("Open without symvers: %v", err)
	}
	if _, err := Open("vmlinux", st, filepath.Join(dir, "missing"), blocks); err == nil {
		t.Errorf("Open with missing symvers succeeded")
	}
	if _, err := Open("vmlinux", filepath.Join(dir, "missing"), sv, blocks); err == nil {
		t.Errorf("Open with missing symtab succeeded")
	}
}

// TestLoadNotASymbolTable: a file that is neither ELF nor readelf text
// is an error naming the file, not an empty table.
func TestLoadNotASymbolTable(t *testing.T) {
	dir := t.TempDir()
	random := make([]byte, 4096)
	for i := range random {
		random[i] = byte(i*7919 + i>>3)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"random.bin", random, "neither an ELF file nor 'readelf -s --wide' text (binary data"},
		{"lib.a", []byte("!<arch>\n/               0           0     0     0       4         `\n\x00\x00\x00\x00"), "an ar archive is not a symbol table"},
		{"notes.txt", []byte("hello\nworld\n"), "no \"Symbol table\" title and no symbol line"},
		{"empty", nil, "neither an ELF file nor"},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, tc.data, 0o644); err != nil {
			t.Fatal(err)
		}
		tab, err := Load(p)
		if err == nil {
			t.Errorf("%s: loaded as a table of %d entries", tc.name, tab.Len())
			continue
		}
		if !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want the path and %q", tc.name, err, tc.want)
		}
	}
	// readelf text still loads.
	p := filepath.Join(dir, "good.symtab")
	os.WriteFile(p, []byte(readelfText("0 0 FILE LOCAL ABS a.c", "10 4 FUNC GLOBAL 1 f")), 0o644)
	if tab, err := Load(p); err != nil || tab.Len() == 0 {
		t.Errorf("readelf text: %v", err)
	}
}
