package main

import (
	"debug/elf"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// Bad input never panics: every malformed, truncated or unsupported object
// given to "kpatch-build diff" ends with exit status 1, a message naming the
// file and what is wrong with it, and no output file.

var le = binary.LittleEndian

// ELF64 header and section header field offsets.
const (
	ehType     = 0x10
	ehMachine  = 0x12
	ehShoff    = 0x28
	ehShnum    = 0x3c
	ehShstrndx = 0x3e
	shType     = 4
	shOffset   = 24
	shSize     = 32
	shLink     = 40
	shInfo     = 44
)

// field returns field off of section header i of a little-endian ELF64
// object.
func field(b []byte, i, off int) []byte {
	return b[int(le.Uint64(b[ehShoff:]))+i*64+off:]
}

// sectionOfType returns the index of the first section of type typ.
func sectionOfType(t *testing.T, b []byte, typ elf.SectionType) int {
	t.Helper()
	for i := 1; i < int(le.Uint16(b[ehShnum:])); i++ {
		if elf.SectionType(le.Uint32(field(b, i, shType))) == typ {
			return i
		}
	}
	t.Fatalf("test object has no %v section", typ)
	return 0
}

// sectionData returns the data of the first section of type typ.
func sectionData(t *testing.T, b []byte, typ elf.SectionType) []byte {
	t.Helper()
	i := sectionOfType(t, b, typ)
	off, size := le.Uint64(field(b, i, shOffset)), le.Uint64(field(b, i, shSize))
	return b[off : off+size]
}

// gccObject compiles (or links) a tiny C file with extra flags, skipping
// the test when gcc cannot.
func gccObject(t *testing.T, flags ...string) []byte {
	t.Helper()
	gcc := testutil.NeedTool(t, "gcc")
	dir := t.TempDir()
	src := filepath.Join(dir, "tiny.c")
	if err := os.WriteFile(src, []byte("int tiny_counter;\nint _start(void) { return tiny_counter; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "tiny.out")
	args := append(append([]string{}, flags...), "-o", out, src)
	if msg, err := exec.Command(gcc, args...).CombinedOutput(); err != nil {
		testutil.Missing(t, "gcc %s: %v\n%s", strings.Join(flags, " "), err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// badInput is one malformed object: make derives it from a good one (a
// copy the function may modify).
type badInput struct {
	name string
	// badOrig puts the bad object in the ORIG position instead of PATCHED.
	badOrig bool
	make    func(t *testing.T, good []byte) []byte
	// want are words the message must contain besides the file's path.
	want []string
}

var badInputs = []badInput{
	{name: "empty", make: func(*testing.T, []byte) []byte { return nil }, want: []string{"empty", "not an ELF"}},
	{name: "text", make: func(*testing.T, []byte) []byte { return []byte("this is not an object file\n") }, want: []string{"not an ELF"}},
	{name: "truncated-in-magic", make: func(_ *testing.T, b []byte) []byte { return b[:3] }, want: []string{"truncated", "ELF header"}},
	{name: "truncated-in-ident", make: func(_ *testing.T, b []byte) []byte { return b[:10] }, want: []string{"truncated", "ELF header"}},
	{name: "truncated-in-header", make: func(_ *testing.T, b []byte) []byte { return b[:40] }, want: []string{"truncated", "ELF header"}},
	{name: "truncated-orig", badOrig: true, make: func(_ *testing.T, b []byte) []byte { return b[:40] }, want: []string{"truncated"}},
	{name: "truncated-in-section-headers", make: func(_ *testing.T, b []byte) []byte {
		return b[:le.Uint64(b[ehShoff:])+3*64+10]
	}, want: []string{"truncated", "section header table"}},
	{name: "truncated-in-section-data", make: func(t *testing.T, b []byte) []byte {
		i := sectionOfType(t, b, elf.SHT_SYMTAB)
		return b[:le.Uint64(field(b, i, shOffset))+50]
	}, want: []string{"truncated", "section header table"}},
	{name: "section-data-past-end", make: func(t *testing.T, b []byte) []byte {
		i := sectionOfType(t, b, elf.SHT_PROGBITS)
		le.PutUint64(field(b, i, shSize), uint64(len(b)))
		return b
	}, want: []string{"truncated or corrupt", "section 1 (.text)", "outside the file"}},
	{name: "32-bit-gcc", make: func(t *testing.T, _ []byte) []byte { return gccObject(t, "-m32", "-c") }, want: []string{"32-bit"}},
	{name: "32-bit-class", make: func(_ *testing.T, b []byte) []byte {
		b[elf.EI_CLASS] = byte(elf.ELFCLASS32)
		return b
	}, want: []string{"32-bit", "EI_CLASS"}},
	{name: "big-endian-ei-data", make: func(_ *testing.T, b []byte) []byte {
		b[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
		return b
	}, want: []string{"big-endian", "EI_DATA", "byte order"}},
	{name: "big-endian-encoded", make: reencodeBigEndian, want: []string{"big-endian", "EM_X86_64", "little-endian only"}},
	{name: "executable-gcc", make: func(t *testing.T, _ []byte) []byte {
		return gccObject(t, "-nostdlib", "-static")
	}, want: []string{"not a relocatable", "ET_EXEC"}},
	{name: "executable-e-type", badOrig: true, make: func(_ *testing.T, b []byte) []byte {
		le.PutUint16(b[ehType:], uint16(elf.ET_EXEC))
		return b
	}, want: []string{"not a relocatable", "ET_EXEC"}},
	{name: "shared-object-e-type", make: func(_ *testing.T, b []byte) []byte {
		le.PutUint16(b[ehType:], uint16(elf.ET_DYN))
		return b
	}, want: []string{"not a relocatable", "ET_DYN"}},
	{name: "different-machine", make: func(_ *testing.T, b []byte) []byte {
		le.PutUint16(b[ehMachine:], uint16(elf.EM_AARCH64))
		return b
	}, want: []string{"different machines", "EM_X86_64", "EM_AARCH64"}},
	{name: "e_shstrndx-out-of-range", make: func(_ *testing.T, b []byte) []byte {
		le.PutUint16(b[ehShstrndx:], le.Uint16(b[ehShnum:])+5)
		return b
	}, want: []string{"e_shstrndx", "section name table", "out of range"}},
	{name: "symtab-sh_link-out-of-range", make: func(t *testing.T, b []byte) []byte {
		le.PutUint32(field(b, sectionOfType(t, b, elf.SHT_SYMTAB), shLink), 99)
		return b
	}, want: []string{"section 13 (.symtab)", "sh_link 99", "out of range"}},
	{name: "rela-sh_info-out-of-range", make: func(t *testing.T, b []byte) []byte {
		le.PutUint32(field(b, sectionOfType(t, b, elf.SHT_RELA), shInfo), 99)
		return b
	}, want: []string{"section 5 (.rela.text.clamp_counter)", "sh_info 99", "out of range"}},
	{name: "symbol-st_shndx-out-of-range", make: func(t *testing.T, b []byte) []byte {
		le.PutUint16(sectionData(t, b, elf.SHT_SYMTAB)[4*24+6:], 200) // clamp_counter
		return b
	}, want: []string{"symbol table entry 4 (clamp_counter)", "st_shndx 200", "out of range"}},
	{name: "relocation-symbol-out-of-range", make: func(t *testing.T, b []byte) []byte {
		le.PutUint32(sectionData(t, b, elf.SHT_RELA)[12:], 99) // high half of r_info
		return b
	}, want: []string{"section 5 (.rela.text.clamp_counter)", "relocation 0", "symbol index 99", "out of range"}},
	{name: "relocation-offset-outside-section", make: func(t *testing.T, b []byte) []byte {
		le.PutUint64(sectionData(t, b, elf.SHT_RELA), 0x1000)
		return b
	}, want: []string{"section 5 (.rela.text.clamp_counter)", "relocation 0", "offset 0x1000", "outside its section .text.clamp_counter"}},
	{name: "no-symbol-table", make: func(t *testing.T, b []byte) []byte {
		le.PutUint32(field(b, sectionOfType(t, b, elf.SHT_SYMTAB), shType), uint32(elf.SHT_PROGBITS))
		return b
	}, want: []string{"no symbol table", "SHT_SYMTAB"}},
}

// reencodeBigEndian writes the object b again, every field big-endian.
func reencodeBigEndian(t *testing.T, b []byte) []byte {
	f, err := elfobj.Read("good.o", b)
	if err != nil {
		t.Fatal(err)
	}
	f.Data = elf.ELFDATA2MSB
	out, err := f.Write()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// runCaptured runs the command line with stdout and stderr sent to files
// and returns the exit status and what was written to stderr.
func runCaptured(t *testing.T, args []string) (int, string) {
	t.Helper()
	code, _, msg := runCapturedOut(t, args)
	return code, msg
}

// runCapturedOut is runCaptured that also returns what was written to
// stdout.
func runCapturedOut(t *testing.T, args []string) (code int, out, msg string) {
	t.Helper()
	dir := t.TempDir()
	stdout, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	saveOut, saveErr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = stdout, stderr
	code = func() int {
		defer func() { os.Stdout, os.Stderr = saveOut, saveErr }()
		return run(args)
	}()
	errText, err := os.ReadFile(stderr.Name())
	if err != nil {
		t.Fatal(err)
	}
	outText, err := os.ReadFile(stdout.Name())
	if err != nil {
		t.Fatal(err)
	}
	return code, string(outText), string(errText)
}

func TestBadInputNeverPanics(t *testing.T) {
	for k, v := range map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "14"} {
		t.Setenv(k, v)
	}
	src := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "changed-func")
	goodOrig, err := os.ReadFile(filepath.Join(src, "orig.o"))
	if err != nil {
		t.Fatal(err)
	}
	goodPatched, err := os.ReadFile(filepath.Join(src, "patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	common := t.TempDir()
	parent := filepath.Join(common, "parent.o")
	symvers := filepath.Join(common, "Module.symvers")
	for path, data := range map[string][]byte{parent: goodOrig, symvers: nil} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The good pair must diff, or the cases below prove nothing.
	t.Run("good-pair", func(t *testing.T) {
		dir := t.TempDir()
		orig, patched, out := filepath.Join(dir, "orig.o"), filepath.Join(dir, "patched.o"), filepath.Join(dir, "out.o")
		os.WriteFile(orig, goodOrig, 0o644)
		os.WriteFile(patched, goodPatched, 0o644)
		if code, msg := runCaptured(t, []string{"diff", "--symtab", parent, "-o", out, orig, patched}); code != 0 {
			t.Fatalf("good pair: exit %d, want 0; stderr:\n%s", code, msg)
		}
		if _, err := os.Stat(out); err != nil {
			t.Fatalf("good pair: no output: %v", err)
		}
	})

	for _, c := range badInputs {
		t.Run(c.name, func(t *testing.T) {
			good := goodPatched
			if c.badOrig {
				good = goodOrig
			}
			bad := c.make(t, append([]byte(nil), good...))
			forms := []struct {
				name string
				args func(orig, patched, out string) []string
			}{
				{"flags", func(orig, patched, out string) []string {
					return []string{"diff", "--symtab", parent, "-o", out, orig, patched}
				}},
				{"create-diff-object", func(orig, patched, out string) []string {
					return []string{"diff", orig, patched, "vmlinux", parent, symvers, "livepatch-test", out}
				}},
			}
			for _, form := range forms {
				dir := t.TempDir()
				orig, patched, out := filepath.Join(dir, "orig.o"), filepath.Join(dir, "patched.o"), filepath.Join(dir, "out.o")
				origData, patchedData, badPath := goodOrig, bad, patched
				if c.badOrig {
					origData, patchedData, badPath = bad, goodPatched, orig
				}
				if err := os.WriteFile(orig, origData, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(patched, patchedData, 0o644); err != nil {
					t.Fatal(err)
				}
				code, msg := runCaptured(t, form.args(orig, patched, out))
				if code != 1 {
					t.Errorf("%s form: exit status %d, want 1; stderr:\n%s", form.name, code, msg)
				}
				if !strings.Contains(msg, badPath) {
					t.Errorf("%s form: the message does not name the bad file %s:\n%s", form.name, badPath, msg)
				}
				for _, w := range c.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%s form: the message does not say %q:\n%s", form.name, w, msg)
					}
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("%s form: output %s exists after a failure (stat: %v)", form.name, out, err)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, ".out.o*")); len(left) > 0 {
					t.Errorf("%s form: temporary files left behind: %v", form.name, left)
				}
				if form.name == "flags" {
					t.Logf("%s", strings.TrimSpace(msg))
				}
			}
		})
	}
}

// TestBadInputPerArch gives "kpatch-build diff" bad input on each
// architecture of the corpus: a good pair first (which must diff), then
// the patched object truncated, the patched object of another machine
// (x86-64 against aarch64), an e_machine no architecture table knows, and
// a byte order the architecture's kernels do not use. Each is exit 1 with
// a message naming the file and what is wrong, and no output.
func TestBadInputPerArch(t *testing.T) {
	x86Patched, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "testdata", "diffcases", "changed-func", "patched.o"))
	if err != nil {
		t.Fatal(err)
	}
	corpus, _ := testutil.CorpusPath()
	for _, c := range []struct {
		arch, name, machine string
		// bigEndian is what a big-endian pair is told: aarch64 has
		// big-endian hardware (refused by the architecture table),
		// loongarch has none (refused on reading).
		bigEndian string
	}{
		{"aarch64", "cmdline-patch", "EM_AARCH64", "aarch64 objects in ELFDATA2MSB byte order are not supported"},
		{"loongarch64", "proc-version", "EM_LOONGARCH", "big-endian object for machine EM_LOONGARCH, which is little-endian only"},
		{"ppc64le", "meminfo-string", "EM_PPC64", "ppc64le objects in ELFDATA2MSB byte order are not supported"},
	} {
		t.Run(c.arch, func(t *testing.T) {
			dir := filepath.Join(filepath.Dir(corpus), c.arch)
			if _, err := os.Stat(dir); err != nil {
				testutil.Missing(t, "kpatch unit-object corpus for %s not found at %s", c.arch, dir)
			}
			env, err := os.ReadFile(filepath.Join(dir, "ENV"))
			if err != nil {
				t.Fatal(err)
			}
			for _, kv := range strings.Fields(string(env)) {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			goodOrig, err := os.ReadFile(filepath.Join(dir, c.name+".ORIG.o"))
			if err != nil {
				t.Fatal(err)
			}
			goodPatched, err := os.ReadFile(filepath.Join(dir, c.name+".PATCHED.o"))
			if err != nil {
				t.Fatal(err)
			}
			relabel := func(b []byte, m elf.Machine) []byte {
				b = append([]byte(nil), b...)
				le.PutUint16(b[ehMachine:], uint16(m))
				return b
			}
			for _, bc := range []struct {
				name          string
				orig, patched []byte
				code          int
				badOrig       bool
				want          []string
			}{
				{"good pair", goodOrig, goodPatched, 0, false, nil},
				{"truncated patched", goodOrig, goodPatched[:len(goodPatched)/2], 1, false, []string{"truncated"}},
				{"x86-64 patched object", goodOrig, x86Patched, 1, false, []string{"different machines", c.machine, "EM_X86_64"}},
				{"unknown e_machine", relabel(goodOrig, elf.EM_MIPS), relabel(goodPatched, elf.EM_MIPS), 1, true,
					[]string{"EM_MIPS", "not one the diff engine knows"}},
				{"big-endian pair", reencodeBigEndian(t, goodOrig), reencodeBigEndian(t, goodPatched), 1, true,
					[]string{c.bigEndian}},
			} {
				t.Run(bc.name, func(t *testing.T) {
					tmp := t.TempDir()
					orig, patched, out := filepath.Join(tmp, "orig.o"), filepath.Join(tmp, "patched.o"), filepath.Join(tmp, "out.o")
					if err := os.WriteFile(orig, bc.orig, 0o644); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(patched, bc.patched, 0o644); err != nil {
						t.Fatal(err)
					}
					code, msg := runCaptured(t, []string{"diff", "--symtab", filepath.Join(dir, c.name+".ORIG.o"), "-o", out, orig, patched})
					if code != bc.code {
						t.Fatalf("exit status %d, want %d; stderr:\n%s", code, bc.code, msg)
					}
					_, statErr := os.Stat(out)
					if bc.code == 0 {
						if statErr != nil {
							t.Fatalf("good pair: no output: %v", statErr)
						}
						return
					}
					bad := patched
					if bc.badOrig {
						bad = orig
					}
					if !strings.Contains(msg, strings.TrimPrefix(bad, "/")) {
						t.Errorf("the message does not name the bad file %s:\n%s", bad, msg)
					}
					for _, w := range bc.want {
						if !strings.Contains(msg, w) {
							t.Errorf("the message does not say %q:\n%s", w, msg)
						}
					}
					if !os.IsNotExist(statErr) {
						t.Errorf("output %s exists after a failure (stat: %v)", out, statErr)
					}
					t.Logf("%s", strings.TrimSpace(msg))
				})
			}
		})
	}
}
