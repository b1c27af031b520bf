package kerneltree

import (
	"bytes"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kpatchgo/kpatch-build/cache"
)

// Running is what kpatch-build needs to know about the running kernel.
type Running struct {
	// Vmlinux is the kernel with symbols (the -dbg package's vmlinux).
	Vmlinux string `json:"-"`
	// BuildID is the vmlinux's GNU build-id (hex), or a digest of its path,
	// size and modification time when it has none.
	BuildID string `json:"build_id"`
	// Release is KVER, as in the vmlinux's "Linux version" banner.
	Release string `json:"release"`
	// Compiler is the compiler of the vmlinux's .comment, e.g.
	// "GCC: (Debian 12.2.0-14+deb12u1) 12.2.0".
	Compiler string `json:"compiler"`
	// StructSizes are the special-section struct sizes from the vmlinux's
	// DWARF, by their environment name (BUG_STRUCT_SIZE, ...); a struct
	// the kernel does not define is absent.
	StructSizes map[string]string `json:"struct_sizes"`
	// Symvers is the kernel's Module.symvers.
	Symvers string `json:"-"`
	// DebugModules is the directory of the debug modules (with symbols
	// and DWARF), /usr/lib/debug/lib/modules/KVER.
	DebugModules string `json:"-"`
	// CC is the compiler binary matching Compiler, spelled as the
	// configuration's CONFIG_CC_VERSION_TEXT names it when it does (e.g.
	// x86_64-linux-gnu-gcc-12 for Debian's 6.12), else gcc-MAJOR.
	CC string `json:"-"`
	// Config is the kernel's configuration (Overrides.Config, else the
	// headers' /lib/modules/KVER/build/.config when it exists).
	Config string `json:"-"`
}

// Overrides replace what FindRunning would find; empty fields are found.
type Overrides struct {
	Release      string // KVER
	Symvers      string // Module.symvers
	DebugModules string // the debug modules' directory
	CC           string // the compiler
	// Config is the kernel's configuration: the compiler is the one its
	// CONFIG_CC_VERSION_TEXT names (default: the headers' .config).
	Config string
	// SkipCompilerCheck accepts CC (default gcc) without comparing its
	// version with the vmlinux's .comment.
	SkipCompilerCheck bool
	// Getenv overrides struct sizes by their environment names (default
	// os.LookupEnv).
	Getenv func(string) (string, bool)
	// CacheDir keeps the facts read from the vmlinux, by build-id
	// (optional).
	CacheDir string
	// Root is prefixed to the default locations of Module.symvers and
	// the debug modules (tests; default "/").
	Root string
}

// structNames are the special-section structs whose sizes the diff
// engine needs, by the environment variable that overrides each.
var structNames = []struct{ env, name string }{
	{"BUG_STRUCT_SIZE", "bug_entry"},
	{"EX_STRUCT_SIZE", "exception_table_entry"},
	{"JUMP_STRUCT_SIZE", "jump_entry"},
	{"ALT_STRUCT_SIZE", "alt_instr"},
	{"PARA_STRUCT_SIZE", "paravirt_patch_site"},
	{"STATIC_CALL_STRUCT_SIZE", "static_call_site"},
	{"ORC_STRUCT_SIZE", "orc_entry"},
	{"PRINTK_INDEX_STRUCT_SIZE", "pi_entry"},
}

// factsVersion changes when the cached facts' meaning changes.
const factsVersion = "1"

// FindRunning reads the running kernel's facts from vmlinux (cached by
// its build-id under o.CacheDir: reading the DWARF of a 600 MB vmlinux
// takes seconds) and finds the files that go with it, each replaceable
// by o.
func FindRunning(vmlinux string, o Overrides) (*Running, error) {
	f, err := openVmlinux(vmlinux)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	id, err := buildID(f, vmlinux)
	if err != nil {
		return nil, err
	}
	r := &Running{}
	read := func() ([]byte, error) {
		r := &Running{BuildID: id}
		var err error
		if r.Release, err = banner(f, vmlinux); err != nil {
			return nil, err
		}
		if r.Compiler, err = comment(f, vmlinux); err != nil {
			return nil, err
		}
		if r.StructSizes, err = structSizes(f, vmlinux); err != nil {
			return nil, err
		}
		return json.MarshalIndent(r, "", "  ")
	}
	decode := func(b []byte) error {
		*r = Running{}
		if err := json.Unmarshal(b, r); err != nil {
			return err
		}
		if r.BuildID != id {
			return fmt.Errorf("facts of build-id %s, not %s", r.BuildID, id)
		}
		return nil
	}
	if o.CacheDir == "" {
		b, err := read()
		if err == nil {
			err = decode(b)
		}
		if err != nil {
			return nil, err
		}
	} else if _, err := cache.Load(o.CacheDir, "facts-"+cache.Key(cache.Parts{"facts": factsVersion, "build-id": id}), read, decode); err != nil {
		return nil, err
	}
	r.Vmlinux = vmlinux
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	for _, s := range structNames {
		if v, ok := getenv(s.env); ok && v != "" {
			if _, err := strconv.Atoi(v); err != nil {
				return nil, fmt.Errorf("%s=%q: not a number", s.env, v)
			}
			r.StructSizes[s.env] = v
		}
	}
	if o.Release != "" {
		r.Release = o.Release
	}
	root := o.Root
	if root == "" {
		root = "/"
	}
	r.Symvers = o.Symvers
	if r.Symvers == "" {
		r.Symvers = filepath.Join(root, "lib/modules", r.Release, "build/Module.symvers")
		if _, err := os.Stat(r.Symvers); err != nil {
			return nil, fmt.Errorf("Module.symvers of %s: %w (install linux-headers-%s or give it with --symvers)", r.Release, err, r.Release)
		}
	}
	r.DebugModules = o.DebugModules
	if r.DebugModules == "" {
		r.DebugModules = filepath.Join(root, "usr/lib/debug/lib/modules", r.Release)
		if _, err := os.Stat(r.DebugModules); err != nil {
			return nil, fmt.Errorf("debug modules of %s: %w (install linux-image-%s-dbg or give the directory with --debug-modules)", r.Release, err, r.Release)
		}
	}
	r.Config = o.Config
	if r.Config == "" {
		if c := filepath.Join(root, "lib/modules", r.Release, "build/.config"); fileExists(c) {
			r.Config = c
		}
	}
	configCC := ""
	if r.Config != "" && o.CC == "" {
		if configCC, err = ConfigCompiler(r.Config); err != nil {
			return nil, err
		}
	}
	if r.CC, err = findCompiler(r.Compiler, o.CC, configCC, o.SkipCompilerCheck); err != nil {
		return nil, err
	}
	return r, nil
}

// openVmlinux opens the vmlinux as ELF and checks that it is whole: a
// file cut short (a copy or a download that did not finish) is named as
// truncated, not as an EOF somewhere in its reading.
func openVmlinux(path string) (*elf.File, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vmlinux: %w", err)
	}
	f, err := elf.Open(path)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("vmlinux %s is truncated (%d bytes): its ELF headers are cut short (%w)", path, info.Size(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("vmlinux %s: %w", path, err)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_NOBITS || s.Type == elf.SHT_NULL {
			continue
		}
		if end := s.Offset + s.FileSize; end > uint64(info.Size()) || end < s.Offset {
			f.Close()
			return nil, fmt.Errorf("vmlinux %s is truncated: it has %d bytes, its section %s ends at byte %d", path, info.Size(), s.Name, end)
		}
	}
	return f, nil
}

// buildID returns the vmlinux's GNU build-id note, or a digest of its
// identity when it has none.
func buildID(f *elf.File, path string) (string, error) {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOTE {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return "", fmt.Errorf("%s: section %s: %w", path, s.Name, err)
		}
		for len(b) >= 12 {
			namesz := int(binary.LittleEndian.Uint32(b))
			descsz := int(binary.LittleEndian.Uint32(b[4:]))
			typ := binary.LittleEndian.Uint32(b[8:])
			nameEnd := 12 + (namesz+3)&^3
			end := nameEnd + (descsz+3)&^3
			if namesz < 0 || descsz < 0 || end > len(b) || end < 12 {
				break
			}
			if typ == 3 && namesz == 4 && string(b[12:15]) == "GNU" && descsz > 0 {
				return hex.EncodeToString(b[nameEnd : nameEnd+descsz]), nil
			}
			b = b[end:]
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	abs, _ := filepath.Abs(path)
	return fmt.Sprintf("nobuildid-%x", []byte(fmt.Sprintf("%s %d %d", abs, info.Size(), info.ModTime().UnixNano()))), nil
}

// banner returns the release of the "Linux version RELEASE ..." string.
func banner(f *elf.File, path string) (string, error) {
	const prefix = "Linux version "
	for _, name := range []string{".rodata", ".data"} {
		s := f.Section(name)
		if s == nil || s.Type == elf.SHT_NOBITS {
			continue
		}
		b, err := s.Data()
		if err != nil {
			return "", fmt.Errorf("%s: section %s: %w", path, name, err)
		}
		for off := 0; ; {
			i := bytes.Index(b[off:], []byte(prefix))
			if i < 0 {
				break
			}
			rest := b[off+i+len(prefix):]
			end := bytes.IndexAny(rest, " \x00\n")
			// The banner is "Linux version %s (%s) ..."; format strings
			// such as "Linux version %s" do not count.
			if end > 0 && rest[0] != '%' && end < 200 {
				return string(rest[:end]), nil
			}
			off += i + len(prefix)
		}
	}
	return "", fmt.Errorf("%s: no \"Linux version\" banner in .rodata: is this a vmlinux?", path)
}

// comment returns the compiler string of the vmlinux's .comment.
func comment(f *elf.File, path string) (string, error) {
	s := f.Section(".comment")
	if s == nil {
		return "", fmt.Errorf("%s: no .comment section: cannot tell the compiler that built the kernel", path)
	}
	b, err := s.Data()
	if err != nil {
		return "", fmt.Errorf("%s: .comment: %w", path, err)
	}
	for _, part := range strings.Split(string(b), "\x00") {
		if strings.HasPrefix(part, "GCC:") {
			return part, nil
		}
	}
	return "", fmt.Errorf("%s: no GCC version in .comment", path)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// ConfigCompiler returns the compiler program a kernel configuration
// names: the first word of CONFIG_CC_VERSION_TEXT (the first line of
// "$(CC) --version" when the kernel was configured), or "" when the
// configuration has none (kernels before 5.8). Building with another
// spelling of the same compiler (gcc-12 for x86_64-linux-gnu-gcc-12)
// changes CONFIG_CC_VERSION_TEXT, so olddefconfig rewrites the
// configuration and everything depending on it rebuilds.
func ConfigCompiler(config string) (string, error) {
	b, err := os.ReadFile(config)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		v, ok := strings.CutPrefix(line, "CONFIG_CC_VERSION_TEXT=")
		if !ok {
			continue
		}
		text, err := strconv.Unquote(strings.TrimSpace(v))
		if err != nil {
			return "", fmt.Errorf("%s: CONFIG_CC_VERSION_TEXT=%s: %w", config, v, err)
		}
		if f := strings.Fields(text); len(f) > 0 {
			return f[0], nil
		}
		return "", nil
	}
	return "", nil
}

// findCompiler returns the compiler binary whose version string matches
// the .comment's: cc when given, else the configuration's spelling
// (configCC) when there is one, else gcc-MAJOR, else gcc.
func findCompiler(comment, cc, configCC string, skipCheck bool) (string, error) {
	// "GCC: (Debian 12.2.0-14+deb12u1) 12.2.0" -> "(Debian 12.2.0-14+deb12u1) 12.2.0"
	want := strings.TrimSpace(strings.TrimPrefix(comment, "GCC:"))
	candidates := []string{cc}
	if cc == "" {
		candidates = nil
		if configCC != "" {
			candidates = append(candidates, configCC)
		}
		fields := strings.Fields(want)
		if len(fields) > 0 {
			if major, _, ok := strings.Cut(fields[len(fields)-1], "."); ok {
				candidates = append(candidates, "gcc-"+major)
			}
		}
		candidates = append(candidates, "gcc")
	}
	var seen []string
	var errs []error
	for _, c := range candidates {
		out, err := exec.Command(c, "--version").Output()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c, err))
			seen = append(seen, errs[len(errs)-1].Error())
			continue
		}
		first, _, _ := strings.Cut(string(out), "\n")
		// "gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0": the program name, then the version.
		_, ver, _ := strings.Cut(first, " ")
		if skipCheck || strings.TrimSpace(ver) == want {
			return c, nil
		}
		seen = append(seen, fmt.Sprintf("%s is %q", c, strings.TrimSpace(ver)))
	}
	return "", &CompilerError{Want: comment, Tried: seen, Errs: errs}
}

// CompilerError is a compiler that does not match the kernel's.
type CompilerError struct {
	Want  string   // the vmlinux's .comment
	Tried []string // each candidate and what it is
	// Errs are the errors of the candidates that did not run.
	Errs []error
}

func (e *CompilerError) Error() string {
	return fmt.Sprintf("compiler mismatch: the kernel was built with %q; %s", e.Want, strings.Join(e.Tried, "; "))
}

// Unwrap returns the errors of the candidates that did not run.
func (e *CompilerError) Unwrap() []error { return e.Errs }

// structSizes reads the special-section struct sizes from the DWARF's
// type definitions (the first complete definition of each name).
func structSizes(f *elf.File, path string) (map[string]string, error) {
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: DWARF: %w (use the -dbg package's vmlinux, e.g. /usr/lib/debug/boot/vmlinux-KVER)", path, err)
	}
	want := map[string]string{}
	for _, s := range structNames {
		want[s.name] = s.env
	}
	sizes := map[string]string{}
	r := d.Reader()
	for len(want) > 0 {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: DWARF: %w", path, err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit || e.Tag == 0 {
			continue // descend into the unit / end of a unit
		}
		if e.Tag == dwarf.TagStructType {
			if name, _ := e.Val(dwarf.AttrName).(string); want[name] != "" {
				if size, ok := e.Val(dwarf.AttrByteSize).(int64); ok {
					sizes[want[name]] = strconv.FormatInt(size, 10)
					delete(want, name)
				}
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	if len(sizes) == 0 {
		return nil, errors.New(path + ": DWARF defines none of the special-section structs (bug_entry, jump_entry, ...)")
	}
	return sizes, nil
}
