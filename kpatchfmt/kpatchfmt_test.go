package kpatchfmt

import (
	"debug/elf"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/elfobj"
)

func TestLayoutSizes(t *testing.T) {
	for _, tc := range []struct {
		ptr                                  int
		funcSize, relocSize, symSize, cbSize int
	}{
		// The 64-bit sizes are those of the kernel-side structs.
		{8, 56, 40, 40, 16},
		{4, 28, 24, 20, 8},
	} {
		l, err := NewLayout(tc.ptr, binary.LittleEndian)
		if err != nil {
			t.Fatal(err)
		}
		got := []int{l.FuncSize(), l.RelocSize(), l.SymbolSize(), l.CallbackSize()}
		if d := cmp.Diff([]int{tc.funcSize, tc.relocSize, tc.symSize, tc.cbSize}, got); d != "" {
			t.Errorf("pointer size %d: sizes (-want +got):\n%s", tc.ptr, d)
		}
	}
	if _, err := NewLayout(2, binary.LittleEndian); err == nil {
		t.Error("pointer size 2 accepted")
	}
}

// object is a small output object with the intermediate tables written
// by a Writer, as elfdiff lays them out.
type object struct {
	f                           *elfobj.File
	text                        *elfobj.Section
	strs, funcs, rels, syms, cb *elfobj.Section
}

func newObject(data elf.Data, machine elf.Machine, abs uint32) (*object, *Writer) {
	f := &elfobj.File{Name: "test.o", Data: data, Type: elf.ET_REL, Machine: machine, Version: 1,
		Symbols: []*elfobj.Symbol{{}}}
	o := &object{f: f}
	sec := func(name string, size int) *elfobj.Section {
		s := &elfobj.Section{Name: name, Type: elf.SHT_PROGBITS, Flags: elf.SHF_ALLOC, Align: 8, EntSize: uint64(size)}
		s.Sym = &elfobj.Symbol{Name: name, Type: elf.STT_SECTION, Bind: elf.STB_LOCAL, Section: s}
		f.Sections = append(f.Sections, s)
		f.Symbols = append(f.Symbols, s.Sym)
		return s
	}
	rela := func(s *elfobj.Section) {
		r := &elfobj.Section{Name: ".rela" + s.Name, Type: elf.SHT_RELA, Flags: elf.SHF_INFO_LINK, Align: 8, EntSize: 24, Base: s}
		s.Rela = r
		f.Sections = append(f.Sections, r)
	}
	o.text = sec(".text.fn", 0)
	o.text.Flags |= elf.SHF_EXECINSTR
	o.text.Data = make([]byte, 64)
	w := &Writer{Layout: For(f), Abs: abs}
	o.strs = sec(StringsSection, 1)
	w.StringsSym = o.strs.Sym
	o.funcs = sec(FuncsSection, w.Layout.FuncSize())
	rela(o.funcs)
	o.rels = sec(RelocationsSection, w.Layout.RelocSize())
	rela(o.rels)
	o.syms = sec(SymbolsSection, w.Layout.SymbolSize())
	rela(o.syms)
	w.SymbolsSym = o.syms.Sym
	o.cb = sec(CallbackSections[0], w.Layout.CallbackSize())
	o.cb.Data = make([]byte, w.Layout.CallbackSize())
	rela(o.cb)
	return o, w
}

func (o *object) finish(w *Writer) {
	fill := func(s *elfobj.Section, t Table) { s.Data, s.Rela.Relocs = t.Data, t.Relocs }
	fill(o.funcs, w.Funcs)
	fill(o.rels, w.Relocations)
	fill(o.syms, w.Symbols)
	o.strs.Data = w.Strings
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    elf.Data
		machine elf.Machine
		abs     uint32
	}{
		{"x86_64", elf.ELFDATA2LSB, elf.EM_X86_64, uint32(elf.R_X86_64_64)},
		{"s390x", elf.ELFDATA2MSB, elf.EM_S390, uint32(elf.R_390_64)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, w := newObject(tc.data, tc.machine, tc.abs)
			fn := &elfobj.Symbol{Name: "fn", Type: elf.STT_FUNC, Bind: elf.STB_LOCAL, Section: o.text, Size: 64}
			o.f.Symbols = append(o.f.Symbols, fn)
			funcs := []Func{
				{New: fn, NewSize: 64, OldAddr: 0xffffffff81000010, OldSize: 48, Sympos: 2, Name: "fn", ObjName: "vmlinux"},
				{New: fn, NewSize: 64, OldAddr: 0, OldSize: 12, Sympos: 0, Name: "other", ObjName: "vmlinux"},
			}
			for _, f := range funcs {
				w.AddFunc(f)
			}
			rels := []Relocation{
				{Dest: o.text, Offset: 0x13, Type: 2, Addend: -4, ObjName: "vmlinux",
					Sym: Symbol{Name: "printk", ObjName: "vmlinux", Sympos: 1, Bind: elf.STB_GLOBAL, Type: elf.STT_FUNC, Src: 0xffffffff81234560}},
				{Dest: o.text, Offset: 0x20, Type: 1, External: true, Addend: 8, ObjName: "vmlinux",
					Sym: Symbol{Name: "local_var", ObjName: "ext4", Sympos: 3, Bind: elf.STB_LOCAL, Type: elf.STT_OBJECT}},
			}
			for _, r := range rels {
				if err := w.AddRelocation(r); err != nil {
					t.Fatal(err)
				}
			}
			cbr := w.CallbackObjName("vmlinux")
			o.cb.Rela.Relocs = []elfobj.Reloc{{Offset: 0, Type: tc.abs, Sym: fn}, cbr}
			o.finish(w)
			if got, want := strings.Split(string(w.Strings), "\x00"), []string{"fn", "vmlinux", "other", "printk", "local_var", "ext4", ""}; !cmp.Equal(got, want) {
				t.Errorf("strings = %q, want each once in first-use order %q", got, want)
			}

			b, err := o.f.Write()
			if err != nil {
				t.Fatal(err)
			}
			g, err := elfobj.Read("test.o", b)
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(g)
			if r.Layout.Order != w.Layout.Order {
				t.Errorf("read byte order %v, wrote %v", r.Layout.Order, w.Layout.Order)
			}

			var gotFuncs []Func
			for _, k := range r.FuncRecords() {
				name, err1 := r.String(k.Name)
				obj, err2 := r.String(k.ObjName)
				if err1 != nil || err2 != nil || !k.New.OK {
					t.Fatalf("func record %+v: %v, %v", k, err1, err2)
				}
				gotFuncs = append(gotFuncs, Func{New: k.New.Reloc.Sym, NewSize: k.NewSize, OldAddr: k.OldAddr, OldSize: k.OldSize,
					Sympos: k.Sympos, Name: name, ObjName: obj})
			}
			symName := cmp.Transformer("name", func(s *elfobj.Symbol) string { return s.Name })
			if d := cmp.Diff(funcs, gotFuncs, symName); d != "" {
				t.Errorf("funcs (-wrote +read):\n%s", d)
			}

			gotRels, err := r.ReadRelocations()
			if err != nil {
				t.Fatal(err)
			}
			secName := cmp.Transformer("name", func(s *elfobj.Section) string { return s.Name })
			if d := cmp.Diff(rels, gotRels, secName); d != "" {
				t.Errorf("relocations (-wrote +read):\n%s", d)
			}

			cbs := r.CallbackRecords()
			if len(cbs) != 1 {
				t.Fatalf("%d callback records, want 1", len(cbs))
			}
			obj, err := r.String(cbs[0].ObjName)
			if err != nil || obj != "vmlinux" || cbs[0].Section.Name != CallbackSections[0] || !cbs[0].Fn.OK || cbs[0].Fn.Reloc.Sym.Name != "fn" {
				t.Errorf("callback %s fn=%+v objname=%q (%v), want fn and vmlinux", cbs[0].Section.Name, cbs[0].Fn, obj, err)
			}
		})
	}
}

func TestReadRelocationsErrors(t *testing.T) {
	build := func() (*object, *Writer) {
		o, w := newObject(elf.ELFDATA2LSB, elf.EM_X86_64, uint32(elf.R_X86_64_64))
		if err := w.AddRelocation(Relocation{Dest: o.text, Offset: 4, Type: 2, ObjName: "vmlinux",
			Sym: Symbol{Name: "printk", ObjName: "vmlinux", Bind: elf.STB_GLOBAL, Type: elf.STT_FUNC}}); err != nil {
			t.Fatal(err)
		}
		o.finish(w)
		return o, w
	}
	for _, tc := range []struct {
		name   string
		breakf func(o *object)
		want   string
	}{
		{"partial entry", func(o *object) { o.rels.Data = o.rels.Data[:30] }, "has a partial entry"},
		{"count mismatch", func(o *object) { o.syms.Data = append(o.syms.Data, make([]byte, 40)...) }, "has 1 entries but .kpatch.symbols 2"},
		{"no strings", func(o *object) {
			o.f.Sections = o.f.Sections[:1:1]
			o.f.Sections = append(o.f.Sections, o.rels, o.syms)
		}, "needs .kpatch.strings"},
		{"string outside", func(o *object) { o.rels.Rela.Relocs[1].Addend = 1000 }, "entry 0: string offset 1000 outside .kpatch.strings"},
		{"missing name", func(o *object) { o.syms.Rela.Relocs = o.syms.Rela.Relocs[1:] }, "entry 0: no relocation at offset 0x18"},
		{"ksym outside", func(o *object) { o.rels.Rela.Relocs[2].Addend = 8 }, "entry 0: symbol reference outside .kpatch.symbols"},
		{"no destination", func(o *object) { o.rels.Rela.Relocs = o.rels.Rela.Relocs[1:] }, "entry 0: no destination"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, _ := build()
			if _, err := NewReader(o.f).ReadRelocations(); err != nil {
				t.Fatalf("unbroken object: %v", err)
			}
			tc.breakf(o)
			_, err := NewReader(o.f).ReadRelocations()
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "test.o: ") {
				t.Errorf("error %v, want test.o: ...%s", err, tc.want)
			}
		})
	}
	if err := (&Writer{}).AddRelocation(Relocation{Dest: &elfobj.Section{Name: ".text"}}); err == nil {
		t.Error("a destination without section symbol was accepted")
	}
}
