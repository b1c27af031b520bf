// Package cabi reads the C side of the machine ABI from the bundled
// kernel's headers with gcc: the integer macros the Go side uses
// (hypercall numbers, flags, sizes) and the layout of the structures it
// reads and writes (offset and size of every member). The generator of
// package abi renders them as Go constants; package abi's drift test
// compares them with the constants it was generated with.
package cabi

import (
	"bufio"
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Headers are the headers always read, as the kernel's C files include
// them. Every other header of the tree that defines an HC_* hypercall
// number is read too (HeaderFiles), so a header added later cannot hide
// a hypercall.
var Headers = []string{
	"linux/kernel.h",
	"linux/errno.h",
	"asm/hypercall.h",
	"asm/unistd.h",
	"asm/page.h",
	"asm/cpufeatures.h",
	"linux/percpu.h",
	"asm/bug.h",
	"asm/extable.h",
	"asm/alternative.h",
	"linux/jump_label.h",
	"linux/export.h",
	"linux/sched.h",
	"linux/livepatch.h",
	"asm/thread_info.h",
	"asm/ptrace.h",
}

// MacroPrefixes select the object-like integer macros that are ABI: a
// macro is taken when its name starts with one of them.
var MacroPrefixes = []string{
	"HC_", "KLP_", "PF_", "TASK_", "TI_", "MODULE_NAME_LEN", "THREAD_SIZE", "BUGFLAG_", "EX_TYPE_", "EX_DATA_",
	"ALT_FLAG_", "JUMP_LABEL_NOP_SIZE", "JUMP_TYPE_",
	"NCAPINTS", "X86_FEATURE_", "NR_CPUS", "__NR_", "NR_syscalls",
	"TIF_", "PT_",
}

// MacroHeaders are headers all of whose object-like integer macros are
// ABI, whatever their names (the errno values the Go services return).
var MacroHeaders = []string{"include/linux/errno.h"}

// Structs are the structures whose layout is ABI: the machine writes
// task_struct, decodes the livepatch structures and the special
// sections' entries.
var Structs = []string{
	"task_struct", "restart_block", "pt_regs",
	"klp_func", "klp_callbacks", "klp_object", "klp_state", "klp_patch", "klp_call",
	"task_info", "klp_check", "klp_range", "module",
	"bug_entry", "exception_table_entry", "alt_instr", "jump_entry", "static_key", "kernel_symbol",
}

// Enums are the enumerations whose values are ABI: the livepatch core
// hands callbacks a struct module whose state is an enum module_state.
// Their enumerators are rendered as macros are.
var Enums = []string{"module_state"}

// Macro is one integer macro (or enumerator, see Enums).
type Macro struct {
	// Name is the C name (HC_CONSOLE_WRITE).
	Name string
	// Header is the header defining it, relative to the kernel tree.
	Header string
	// Value is what the macro evaluates to in C.
	Value int64
	// Hex is set when the header writes the value in hexadecimal.
	Hex bool
}

// GoName is the macro's Go name: its C name without leading underscores
// (__NR_getpid is NR_getpid), so that it is exported.
func (m Macro) GoName() string { return strings.TrimLeft(m.Name, "_") }

// Field is one member of a structure.
type Field struct {
	Name         string
	Offset, Size int64
}

// Struct is the layout of one structure.
type Struct struct {
	// Name is the tag (klp_patch for struct klp_patch).
	Name string
	// Header is the header defining it, relative to the kernel tree.
	Header string
	Size   int64
	Fields []Field
}

// ABI is the C side of the ABI.
type ABI struct {
	Macros  []Macro
	Structs []Struct
}

// Values flattens a into Go constant names and values, in order: each
// macro under its GoName, each structure as Sizeof_TAG, and each member
// as Offsetof_TAG_MEMBER and Sizeof_TAG_MEMBER.
func (a *ABI) Values() []Value {
	var out []Value
	for _, m := range a.Macros {
		out = append(out, Value{m.GoName(), m.Value})
	}
	for _, s := range a.Structs {
		out = append(out, Value{"Sizeof_" + s.Name, s.Size})
		for _, f := range s.Fields {
			out = append(out, Value{"Offsetof_" + s.Name + "_" + f.Name, f.Offset},
				Value{"Sizeof_" + s.Name + "_" + f.Name, f.Size})
		}
	}
	return out
}

// Value is one named constant.
type Value struct {
	Name  string
	Value int64
}

// cflags are the flags the kernel's Makefile compiles with that matter
// for layouts and macros (the rest are code generation).
var cflags = []string{"-nostdinc", "-ffreestanding", "-std=gnu11", "-mcmodel=kernel", "-mno-red-zone",
	"-mgeneral-regs-only", "-fno-pic", "-Iinclude", "-Iarch/x86/include"}

// HeaderFiles returns the headers Extract reads, as #include names: the
// fixed Headers, then every header under include/ or arch/x86/include/
// of the kernel tree at dir that defines an HC_* macro, sorted.
func HeaderFiles(dir string) ([]string, error) {
	out := slices.Clone(Headers)
	def := regexp.MustCompile(`(?m)^\s*#\s*define\s+HC_\w+`)
	for _, root := range []string{"include", "arch/x86/include"} {
		var found []string
		err := filepath.WalkDir(filepath.Join(dir, root), func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".h") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if def.Match(b) {
				rel, _ := filepath.Rel(filepath.Join(dir, root), p)
				found = append(found, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("scanning %s for hypercall headers: %w", root, err)
		}
		sort.Strings(found)
		for _, h := range found {
			if !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out, nil
}

// Extract compiles the ABI headers of the kernel tree at dir with gcc
// (the CC environment variable, else gcc) and returns their macros and
// layouts.
func Extract(dir string) (*ABI, error) {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		return nil, fmt.Errorf("%s: %w", cc, err)
	}
	headers, err := HeaderFiles(dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "cabi-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var src strings.Builder
	for _, h := range headers {
		fmt.Fprintf(&src, "#include <%s>\n", h)
	}
	incl := filepath.Join(tmp, "headers.c")
	if err := os.WriteFile(incl, []byte(src.String()), 0o644); err != nil {
		return nil, err
	}
	// The macros, with the file defining each (-dD keeps line markers).
	pp, err := run(dir, cc, append(slices.Clone(cflags), "-E", "-dD", incl)...)
	if err != nil {
		return nil, err
	}
	macros, err := parseDefines(pp, dir)
	if err != nil {
		return nil, err
	}
	// Their values and the layouts: an object whose .rodata holds every
	// macro's value, and whose DWARF describes every structure.
	for _, m := range macros {
		fmt.Fprintf(&src, "const long long abi_m_%s = (long long)(%s);\n", m.Name, m.Name)
	}
	for _, s := range Structs {
		fmt.Fprintf(&src, "struct %s *abi_s_%s;\n", s, s)
	}
	for _, e := range Enums {
		fmt.Fprintf(&src, "enum %s abi_e_%s;\n", e, e)
	}
	csrc := filepath.Join(tmp, "abi.c")
	obj := filepath.Join(tmp, "abi.o")
	if err := os.WriteFile(csrc, []byte(src.String()), 0o644); err != nil {
		return nil, err
	}
	if _, err := run(dir, cc, append(slices.Clone(cflags), "-c", "-g", "-O0", "-o", obj, csrc)...); err != nil {
		return nil, err
	}
	f, err := elf.Open(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", obj, err)
	}
	defer f.Close()
	if err := readValues(f, macros); err != nil {
		return nil, err
	}
	structs, enums, err := readStructs(f, dir)
	if err != nil {
		return nil, err
	}
	return &ABI{Macros: append(macros, enums...), Structs: structs}, nil
}

func run(dir, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

var (
	lineMarker = regexp.MustCompile(`^# \d+ "([^"]*)"`)
	defineRe   = regexp.MustCompile(`^#define (\w+)(\(?)\s*(.*)$`)
	// An integer expression: numbers, names, operators, parentheses.
	intExpr = regexp.MustCompile(`^[\w\s()<>|&+\-*~^]+$`)
)

// parseDefines returns the ABI macros of gcc -E -dD output, with the
// header defining each relative to dir.
func parseDefines(pp []byte, dir string) ([]Macro, error) {
	var out []Macro
	seen := map[string]bool{}
	file := ""
	sc := bufio.NewScanner(bytes.NewReader(pp))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := lineMarker.FindStringSubmatch(line); m != nil {
			file = m[1]
			continue
		}
		m := defineRe.FindStringSubmatch(line)
		if m == nil || m[2] == "(" || seen[m[1]] {
			continue
		}
		header := relHeader(file, dir)
		if !abiMacro(m[1]) && (!slices.Contains(MacroHeaders, header) || strings.TrimSpace(m[3]) == "") {
			continue
		}
		if !intExpr.MatchString(m[3]) {
			return nil, fmt.Errorf("%s: macro %s = %q is not an integer expression", file, m[1], m[3])
		}
		seen[m[1]] = true
		out = append(out, Macro{Name: m[1], Header: header, Hex: strings.HasPrefix(strings.TrimLeft(m[3], "("), "0x")})
	}
	if len(out) == 0 {
		return nil, errors.New("no ABI macros in the headers")
	}
	return out, sc.Err()
}

func abiMacro(name string) bool {
	for _, p := range MacroPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// relHeader names a header gcc reports: relative to the kernel tree at
// dir (gcc runs there, so its own names are already relative).
func relHeader(file, dir string) string {
	if filepath.IsAbs(file) {
		if abs, err := filepath.Abs(dir); err == nil {
			if r, err := filepath.Rel(abs, file); err == nil && !strings.HasPrefix(r, "..") {
				return filepath.ToSlash(r)
			}
		}
	}
	return filepath.ToSlash(file)
}

// readValues fills in each macro's value from its abi_m_ object in f.
func readValues(f *elf.File, macros []Macro) error {
	syms, err := f.Symbols()
	if err != nil {
		return fmt.Errorf("abi.o: %w", err)
	}
	byName := map[string]elf.Symbol{}
	for _, s := range syms {
		byName[s.Name] = s
	}
	for i := range macros {
		s, ok := byName["abi_m_"+macros[i].Name]
		if !ok || int(s.Section) >= len(f.Sections) || s.Size != 8 {
			return fmt.Errorf("abi.o: no 8-byte value for macro %s", macros[i].Name)
		}
		data, err := f.Sections[s.Section].Data()
		if err != nil || s.Value+8 > uint64(len(data)) {
			return fmt.Errorf("abi.o: value of macro %s: section %s unreadable", macros[i].Name, f.Sections[s.Section].Name)
		}
		macros[i].Value = int64(binary.LittleEndian.Uint64(data[s.Value:]))
	}
	return nil
}

// readStructs returns the layout of every Structs entry and the
// enumerators of every Enums entry from f's DWARF.
func readStructs(f *elf.File, dir string) ([]Struct, []Macro, error) {
	d, err := f.DWARF()
	if err != nil {
		return nil, nil, fmt.Errorf("abi.o: DWARF: %w", err)
	}
	found := map[string]Struct{}
	enums := map[string][]Macro{}
	r := d.Reader()
	var files []*dwarf.LineFile
	for {
		e, err := r.Next()
		if err != nil {
			return nil, nil, fmt.Errorf("abi.o: DWARF: %w", err)
		}
		if e == nil {
			break
		}
		switch e.Tag {
		case dwarf.TagCompileUnit:
			if lr, err := d.LineReader(e); err == nil && lr != nil {
				files = lr.Files()
			}
			continue
		case dwarf.TagStructType:
		case dwarf.TagEnumerationType:
			name, _ := e.Val(dwarf.AttrName).(string)
			if !slices.Contains(Enums, name) || !e.Children {
				if e.Children {
					r.SkipChildren()
				}
				continue
			}
			header := declHeader(e, files, dir)
			for {
				m, err := r.Next()
				if err != nil {
					return nil, nil, fmt.Errorf("abi.o: DWARF of enum %s: %w", name, err)
				}
				if m == nil || m.Tag == 0 {
					break
				}
				if m.Tag != dwarf.TagEnumerator {
					continue
				}
				en, _ := m.Val(dwarf.AttrName).(string)
				v, ok := m.Val(dwarf.AttrConstValue).(int64)
				if !ok {
					return nil, nil, fmt.Errorf("enum %s: enumerator %s has no value", name, en)
				}
				enums[name] = append(enums[name], Macro{Name: en, Header: header, Value: v})
			}
			continue
		default:
			if !e.Children {
				continue
			}
			r.SkipChildren()
			continue
		}
		name, _ := e.Val(dwarf.AttrName).(string)
		size, hasSize := e.Val(dwarf.AttrByteSize).(int64)
		if !slices.Contains(Structs, name) || !hasSize {
			if e.Children {
				r.SkipChildren()
			}
			continue
		}
		s := Struct{Name: name, Size: size}
		s.Header = declHeader(e, files, dir)
		if !e.Children {
			continue
		}
		for {
			m, err := r.Next()
			if err != nil {
				return nil, nil, fmt.Errorf("abi.o: DWARF of struct %s: %w", name, err)
			}
			if m == nil || m.Tag == 0 {
				break
			}
			if m.Children {
				r.SkipChildren()
			}
			if m.Tag != dwarf.TagMember {
				continue
			}
			fn, _ := m.Val(dwarf.AttrName).(string)
			off, ok := m.Val(dwarf.AttrDataMemberLoc).(int64)
			if !ok {
				return nil, nil, fmt.Errorf("struct %s: member %s has no constant offset (a bit-field?)", name, fn)
			}
			to, _ := m.Val(dwarf.AttrType).(dwarf.Offset)
			typ, err := d.Type(to)
			if err != nil {
				return nil, nil, fmt.Errorf("struct %s: member %s: %w", name, fn, err)
			}
			s.Fields = append(s.Fields, flatten(fn, off, typ)...)
		}
		found[name] = s
	}
	var out []Struct
	for _, n := range Structs {
		s, ok := found[n]
		if !ok {
			return nil, nil, fmt.Errorf("struct %s: not defined by the ABI headers", n)
		}
		out = append(out, s)
	}
	var consts []Macro
	for _, n := range Enums {
		if len(enums[n]) == 0 {
			return nil, nil, fmt.Errorf("enum %s: not defined by the ABI headers", n)
		}
		consts = append(consts, enums[n]...)
	}
	return out, consts, nil
}

// declHeader returns the header declaring DWARF entry e, relative to the
// kernel tree at dir ("" when the entry names no file).
func declHeader(e *dwarf.Entry, files []*dwarf.LineFile, dir string) string {
	if fi, ok := e.Val(dwarf.AttrDeclFile).(int64); ok && int(fi) < len(files) && files[fi] != nil {
		return relHeader(files[fi].Name, dir)
	}
	return ""
}

// flatten returns the member name at off of type typ; an anonymous
// structure or union member gives its own members instead, as C lets
// them be named (static_key.type).
func flatten(name string, off int64, typ dwarf.Type) []Field {
	if name != "" {
		return []Field{{Name: name, Offset: off, Size: typ.Size()}}
	}
	st, ok := typ.(*dwarf.StructType)
	if !ok {
		return nil
	}
	var out []Field
	for _, f := range st.Field {
		out = append(out, flatten(f.Name, off+f.ByteOffset, f.Type)...)
	}
	return out
}

// Render returns the Go source of package abi's generated file.
func Render(a *ABI, pkg string) []byte {
	var b bytes.Buffer
	b.WriteString("// Code generated by go generate (emulator/abi/internal/gen) from the bundled kernel's headers; DO NOT EDIT.\n\n")
	fmt.Fprintf(&b, "package %s\n\n", pkg)
	header := ""
	for i, m := range a.Macros {
		if m.Header != header || i == 0 {
			if i > 0 {
				b.WriteString(")\n\n")
			}
			header = m.Header
			fmt.Fprintf(&b, "// Macros of %s.\nconst (\n", header)
		}
		fmt.Fprintf(&b, "\t%s = %s\n", m.GoName(), lit(m.Value, m.Hex))
	}
	if len(a.Macros) > 0 {
		b.WriteString(")\n\n")
	}
	for _, s := range a.Structs {
		fmt.Fprintf(&b, "// struct %s (%s).\nconst (\n", s.Name, s.Header)
		fmt.Fprintf(&b, "\tSizeof_%s = %d\n", s.Name, s.Size)
		for _, f := range s.Fields {
			fmt.Fprintf(&b, "\tOffsetof_%s_%s = %d\n", s.Name, f.Name, f.Offset)
			fmt.Fprintf(&b, "\tSizeof_%s_%s = %d\n", s.Name, f.Name, f.Size)
		}
		b.WriteString(")\n\n")
	}
	b.WriteString("// generated lists every constant above with its value, for the drift test.\nvar generated = []value{\n")
	for _, v := range a.Values() {
		fmt.Fprintf(&b, "\t{%q, %s},\n", v.Name, v.Name)
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// lit writes v as the header does: in hexadecimal or decimal.
func lit(v int64, hex bool) string {
	if hex && v >= 0 {
		return fmt.Sprintf("%#x", v)
	}
	return strconv.FormatInt(v, 10)
}
