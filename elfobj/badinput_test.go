package elfobj_test

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// goodObject returns a fresh copy of a small real object.
func goodObject(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "changed-func", "orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// symEntry returns symbol table entry i of a little-endian object.
func symEntry(b []byte, i int) []byte {
	off := binary.LittleEndian.Uint64(shdr(b, firstSection(b, elf.SHT_SYMTAB), 24))
	return b[off+uint64(i)*24:]
}

// TestReadErrors checks that every malformed object is refused with a
// *FormatError naming the file, the element and the fault.
func TestReadErrors(t *testing.T) {
	le := binary.LittleEndian
	tests := []struct {
		name string
		mut  func(b []byte) []byte
		what string   // FormatError.What
		msg  []string // words of FormatError.Msg
	}{
		{"empty", func([]byte) []byte { return nil }, "", []string{"empty file"}},
		{"not-elf", func([]byte) []byte { return []byte("#!/bin/sh\n") }, "", []string{"not an ELF", `"#!/b"`}},
		{"magic-prefix", func(b []byte) []byte { return b[:2] }, "ELF header", []string{"truncated", "2 bytes"}},
		{"ident-only", func(b []byte) []byte { return b[:16] }, "ELF header", []string{"truncated", "16 bytes"}},
		{"class", func(b []byte) []byte { b[elf.EI_CLASS] = 7; return b }, "ELF header", []string{"unknown ELF class 7"}},
		{"data", func(b []byte) []byte { b[elf.EI_DATA] = 9; return b }, "ELF header", []string{"unknown ELF data encoding 9"}},
		{"no-shdrs", func(b []byte) []byte { le.PutUint64(b[0x28:], 0); return b }, "ELF header", []string{"no section header table"}},
		{"shentsize", func(b []byte) []byte { le.PutUint16(b[0x3a:], 40); return b }, "ELF header", []string{"entry size 40"}},
		{"shstrndx-zero", func(b []byte) []byte { le.PutUint16(b[0x3e:], 0); return b }, "ELF header", []string{"e_shstrndx 0 out of range"}},
		{"shstrtab-type", func(b []byte) []byte {
			le.PutUint32(shdr(b, int(le.Uint16(b[0x3e:])), 4), uint32(elf.SHT_PROGBITS))
			return b
		}, "section 15", []string{"SHT_PROGBITS, not SHT_STRTAB"}},
		{"section-name", func(b []byte) []byte { le.PutUint32(shdr(b, 4, 0), 0xffff); return b }, "section 4", []string{"name offset 0xffff"}},
		{"align-not-power-of-two", func(b []byte) []byte { le.PutUint64(shdr(b, 4, 48), 3); return b },
			"section 4 (.text.clamp_counter)", []string{"sh_addralign 0x3", "power of two"}},
		{"align-huge", func(b []byte) []byte { le.PutUint64(shdr(b, 4, 48), 1<<40); return b },
			"section 4 (.text.clamp_counter)", []string{"sh_addralign 0x10000000000"}},
		{"symtab-size", func(b []byte) []byte {
			le.PutUint64(shdr(b, firstSection(b, elf.SHT_SYMTAB), 32), 25)
			return b
		}, "section 13 (.symtab)", []string{"not a multiple of 24"}},
		{"symtab-link-type", func(b []byte) []byte {
			le.PutUint32(shdr(b, firstSection(b, elf.SHT_SYMTAB), 40), 4)
			return b
		}, "section 13 (.symtab)", []string{"sh_link 4", "SHT_PROGBITS, not SHT_STRTAB"}},
		{"symbol-name", func(b []byte) []byte { le.PutUint32(symEntry(b, 4), 0xffff); return b },
			"symbol table entry 4", []string{"name offset 0xffff"}},
		{"symbol-xindex", func(b []byte) []byte { le.PutUint16(symEntry(b, 4)[6:], uint16(elf.SHN_XINDEX)); return b },
			"symbol table entry 4 (clamp_counter)", []string{"SHN_XINDEX without a SHT_SYMTAB_SHNDX"}},
		{"rela-size", func(b []byte) []byte {
			le.PutUint64(shdr(b, firstSection(b, elf.SHT_RELA), 32), 25)
			return b
		}, "section 5 (.rela.text.clamp_counter)", []string{"not a multiple of 24"}},
		{"rela-info-zero", func(b []byte) []byte {
			le.PutUint32(shdr(b, firstSection(b, elf.SHT_RELA), 44), 0)
			return b
		}, "section 5 (.rela.text.clamp_counter)", []string{"sh_info 0", "out of range"}},
		{"rela-against-null", func(b []byte) []byte {
			// A section turned SHT_NULL keeps its size but has no data.
			le.PutUint32(shdr(b, 4, 4), uint32(elf.SHT_NULL))
			return b
		}, "section 5 (.rela.text.clamp_counter)", []string{"relocation 0", "outside its section .text.clamp_counter (size 0x0)"}},
		{"rel", func(b []byte) []byte {
			le.PutUint32(shdr(b, firstSection(b, elf.SHT_RELA), 4), uint32(elf.SHT_REL))
			return b
		}, "section 5 (.rela.text.clamp_counter)", []string{"SHT_REL relocations are not supported"}},
		{"two-symtabs", func(b []byte) []byte {
			le.PutUint32(shdr(b, int(le.Uint16(b[0x3e:]))-1, 4), uint32(elf.SHT_SYMTAB))
			return b
		}, "section 14 (.strtab)", []string{"more than one symbol table"}},
		{"group-member", func(b []byte) []byte {
			// Turn .comment (section 11) into a group naming section 99.
			sec := 11
			off := le.Uint64(shdr(b, sec, 24))
			le.PutUint32(shdr(b, sec, 4), uint32(elf.SHT_GROUP))
			le.PutUint64(shdr(b, sec, 32), 8)
			le.PutUint32(b[off:], 1)
			le.PutUint32(b[off+4:], 99)
			return b
		}, "section 11 (.comment)", []string{"member section index 99 out of range"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const name = "dir/bad.o"
			f, err := elfobj.Read(name, tc.mut(goodObject(t)))
			if err == nil {
				t.Fatalf("Read accepted the object (%d sections)", len(f.Sections))
			}
			var fe *elfobj.FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error is %T, want *elfobj.FormatError: %v", err, err)
			}
			if fe.File != name || !strings.HasPrefix(err.Error(), name+": ") {
				t.Errorf("error does not start with the file name %q: %v", name, err)
			}
			if fe.What != tc.what {
				t.Errorf("element = %q, want %q (%v)", fe.What, tc.what, err)
			}
			for _, w := range tc.msg {
				if !strings.Contains(fe.Msg, w) {
					t.Errorf("message does not say %q: %v", w, err)
				}
			}
		})
	}
}

// TestWriteBadModel checks that Write refuses models it cannot lay out so
// that they read back, and bounds the padding of large alignments.
func TestWriteBadModel(t *testing.T) {
	read := func(t *testing.T) *elfobj.File {
		t.Helper()
		f, err := elfobj.Read("model.o", goodObject(t))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	t.Run("align-not-power-of-two", func(t *testing.T) {
		f := read(t)
		f.SectionByName(".text.clamp_counter").Align = 12
		_, err := f.Write()
		if err == nil || !strings.Contains(err.Error(), "model.o") || !strings.Contains(err.Error(), "alignment 0xc is not a power of two") {
			t.Fatalf("Write: %v, want an alignment error naming the file", err)
		}
	})
	t.Run("relocation-outside-regenerated-section", func(t *testing.T) {
		f := read(t)
		rela := f.SectionByName(".rela.text.clamp_counter")
		rela.Base = f.SectionByName(".strtab") // regenerated, and smaller than the offsets
		rela.Relocs[0].Offset = 0x1000
		_, err := f.Write()
		if err == nil || !strings.Contains(err.Error(), "offset 0x1000 lies outside .strtab") {
			t.Fatalf("Write: %v, want a relocation offset error", err)
		}
	})
	t.Run("huge-alignment", func(t *testing.T) {
		f := read(t)
		f.SectionByName(".text.clamp_counter").Align = 1 << 30
		out, err := f.Write()
		if err != nil {
			t.Fatal(err)
		}
		if len(out) > 1<<20 {
			t.Errorf("output is %d bytes: the padding of a 1 GiB alignment is not bounded", len(out))
		}
		g, err := elfobj.Read("out.o", out)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if a := g.SectionByName(".text.clamp_counter").Align; a != 1<<30 {
			t.Errorf("sh_addralign after the round trip = %#x, want %#x", a, 1<<30)
		}
	})
}
