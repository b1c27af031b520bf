package guest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleFile is one module to load in the guest, in load order.
type ModuleFile struct {
	// Name is the module's name as the kernel knows it (dashes become
	// underscores).
	Name string
	// Path is the module file on the host.
	Path string
	// Optional marks a soft dependency (modules.softdep): loading it may
	// fail, e.g. crc32c_intel on a CPU without SSE4.2.
	Optional bool
	// For names the module that asked for this one, empty for a module
	// named by the caller.
	For string
}

// moduleIndex holds a kernel's modules.dep, modules.softdep,
// modules.alias and modules.builtin.
type moduleIndex struct {
	dir     string
	path    map[string]string   // name -> path relative to dir
	deps    map[string][]string // name -> names of its hard dependencies
	soft    map[string][]string // name -> its "pre:" soft dependencies (names or aliases)
	alias   map[string][]string // plain alias -> names
	builtin map[string]bool
}

// modName turns a module path or name into the kernel's module name.
func modName(p string) string {
	b := filepath.Base(p)
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// readModuleIndex reads the index files depmod writes in dir
// (/lib/modules/RELEASE). modules.dep is required, the others optional.
func readModuleIndex(dir string) (*moduleIndex, error) {
	ix := &moduleIndex{dir: dir, path: map[string]string{}, deps: map[string][]string{},
		soft: map[string][]string{}, alias: map[string][]string{}, builtin: map[string]bool{}}
	err := eachLine(filepath.Join(dir, "modules.dep"), true, func(line string) error {
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("no ':' in %q", line)
		}
		n := modName(mod)
		ix.path[n] = mod
		for _, d := range strings.Fields(deps) {
			ix.deps[n] = append(ix.deps[n], modName(d))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(filepath.Join(dir, "modules.softdep"), false, func(line string) error {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "softdep" {
			return nil
		}
		pre := false
		for _, w := range f[2:] {
			switch w {
			case "pre:":
				pre = true
			case "post:":
				pre = false
			default:
				if pre {
					ix.soft[modName(f[1])] = append(ix.soft[modName(f[1])], w)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(filepath.Join(dir, "modules.alias"), false, func(line string) error {
		f := strings.Fields(line)
		if len(f) == 3 && f[0] == "alias" && !strings.ContainsAny(f[1], "*?[") {
			ix.alias[f[1]] = append(ix.alias[f[1]], modName(f[2]))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(filepath.Join(dir, "modules.builtin"), false, func(line string) error {
		ix.builtin[modName(line)] = true
		return nil
	})
	return ix, err
}

// eachLine calls fn for every non-empty, non-comment line of a file,
// naming the file and line in errors.
func eachLine(file string, required bool, fn func(string) error) error {
	f, err := os.Open(file)
	if err != nil {
		if !required && os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("module index: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := fn(line); err != nil {
			return fmt.Errorf("%s:%d: %w", file, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// ResolveModules returns the modules to load, in order, for the named
// modules of the kernel whose modules live in modulesDir: each one after
// its dependencies (modules.dep) and its pre soft dependencies
// (modules.softdep, through modules.alias; those are optional). A module
// built into the kernel (modules.builtin) needs nothing and is left out.
func ResolveModules(modulesDir string, names []string) ([]ModuleFile, error) {
	ix, err := readModuleIndex(modulesDir)
	if err != nil {
		return nil, err
	}
	r := resolver{ix: ix, state: map[string]int{}, index: map[string]int{}}
	for _, n := range names {
		name := modName(n)
		if _, ok := ix.path[name]; !ok {
			if ix.builtin[name] {
				continue
			}
			return nil, fmt.Errorf("module %q: not in %s", n, filepath.Join(modulesDir, "modules.dep"))
		}
		if err := r.visit(name, "", false); err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

// resolver orders modules depth first, dependencies before dependents.
type resolver struct {
	ix    *moduleIndex
	state map[string]int // 1 visiting, 2 done
	index map[string]int // name -> position in out
	out   []ModuleFile
}

// visit adds name after its dependencies. A module first reached as an
// optional (soft) dependency becomes required, with its dependencies,
// when a required module needs it too.
func (r *resolver) visit(name, parent string, optional bool) error {
	switch r.state[name] {
	case 1:
		return fmt.Errorf("module %q: dependency cycle", name)
	case 2:
		if m := &r.out[r.index[name]]; m.Optional && !optional {
			m.Optional, m.For = false, parent
			for _, d := range r.ix.deps[name] {
				r.visit(d, name, false)
			}
		}
		return nil
	}
	r.state[name] = 1
	for _, s := range r.ix.soft[name] {
		targets := r.ix.alias[s]
		if _, ok := r.ix.path[modName(s)]; ok {
			targets = []string{modName(s)}
		}
		for _, t := range targets {
			if _, ok := r.ix.path[t]; ok {
				if err := r.visit(t, name, true); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range r.ix.deps[name] {
		if _, ok := r.ix.path[d]; !ok {
			return fmt.Errorf("module %q: dependency %q has no line in modules.dep", name, d)
		}
		if err := r.visit(d, name, optional); err != nil {
			return err
		}
	}
	r.state[name] = 2
	r.index[name] = len(r.out)
	p := r.ix.path[name]
	if !filepath.IsAbs(p) {
		p = filepath.Join(r.ix.dir, p)
	}
	r.out = append(r.out, ModuleFile{Name: name, Path: p, Optional: optional, For: parent})
	return nil
}

// moduleDecompressors are the programs that decompress the module
// compressions the standard library cannot read (Debian's 6.12 modules are
// .ko.xz), by suffix.
var moduleDecompressors = map[string][]string{
	".ko.xz":  {"xz", "-dc"},
	".ko.zst": {"zstd", "-dc"},
}

// readModuleFile returns a module's ELF bytes: decompressed for .ko.gz,
// through the system's xz or zstd for .ko.xz and .ko.zst, as they are for
// .ko or kpatch-build's NAME.ko.unverified. Other compressions are
// refused.
func readModuleFile(p string) ([]byte, error) {
	if strings.HasSuffix(p, ".ko.gz") {
		f, err := os.Open(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", p, err)
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", p, err)
		}
		return b, nil
	}
	for suffix, argv := range moduleDecompressors {
		if !strings.HasSuffix(p, suffix) {
			continue
		}
		var stderr bytes.Buffer
		cmd := exec.Command(argv[0], append(argv[1:], p)...)
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w: %s (install %s)", p, strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()), argv[0])
		}
		return b, nil
	}
	for _, c := range []string{".ko.lz4", ".ko.bz2", ".ko.lzma", ".ko.lzo"} {
		if strings.HasSuffix(p, c) {
			return nil, fmt.Errorf("%s: compressed module format not supported (only .ko, .ko.gz, .ko.xz and .ko.zst); decompress it first", p)
		}
	}
	return os.ReadFile(p)
}

// Modinfo holds the .modinfo fields the guest needs of a module.
type Modinfo struct {
	Name, Vermagic string
	Livepatch      bool
}

// ReadModinfo reads the .modinfo section of a module's ELF bytes; file
// names the module in errors.
func ReadModinfo(file string, b []byte) (mi Modinfo, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s: malformed ELF: %v", file, r)
		}
	}()
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return mi, fmt.Errorf("%s: %w", file, err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return mi, fmt.Errorf("%s: no .modinfo section: not a kernel module", file)
	}
	data, err := sec.Data()
	if err != nil {
		return mi, fmt.Errorf("%s: .modinfo: %w", file, err)
	}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, _ := strings.Cut(string(kv), "=")
		switch k {
		case "name":
			mi.Name = v
		case "vermagic":
			mi.Vermagic = v
		case "livepatch":
			mi.Livepatch = v == "Y"
		}
	}
	if mi.Name == "" {
		mi.Name = modName(file)
	}
	return mi, nil
}
