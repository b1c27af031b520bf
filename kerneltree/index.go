package kerneltree

import (
	"bytes"
	"crypto/sha256"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/kpatchgo/kpatch-build/cache"
)

// Index maps the running kernel's sources to its objects, from the
// compile units of the debug vmlinux and debug modules: each C compile
// unit is one object (its name with .o), the files of its line table are
// the sources and headers it was built from (every file that holds code
// or a declaration the debug info refers to: a header that only defines
// macros the object uses is not listed), and the binary it was found in
// is its parent. Only objects linked into vmlinux or a module appear:
// kbuild's helper objects (scripts/, *.mod.o, the vDSO, the boot code)
// never do.
type Index struct {
	// Files are the tree-relative source paths.
	Files []string
	// Objects are the kernel's C objects.
	Objects []Object
	// Modules maps each module name to its debug .ko.
	Modules map[string]string
	// Decls are the named entities headers declare that some compile
	// unit's debug info holds (see Object.Decls).
	Decls []Decl

	byFile  map[string][]int // fileMap's, nil until a header needs it
	byPath  map[string][]int
	byDecl  map[Decl][]int
	fileIDs map[string]int32
	// declFiles are the headers some object's Decls name.
	declFiles map[string]bool
	declOnce  sync.Once
	fileOnce  sync.Once
	// declData are Decls and every object's Decls as cached (a
	// declTable's gob), decoded on the first use; declErr is that
	// decoding's error.
	declData []byte
	declErr  error
}

// onDisk is the index as it is cached, followed by its header entities
// (a declTable's gob) kept apart, so that a patch of C files, which
// never needs them, does not even copy them (they are three quarters of
// the index): the cached bytes are the length of onDisk's gob
// (uvarint), that gob, and the entities'.
type onDisk struct {
	Files   []string
	Objects []Object // without Decls
	Modules map[string]string
}

// declTable are the index's header entities and each object's.
type declTable struct {
	Decls []Decl
	Of    [][]int32 // Of[i] is Objects[i].Decls
}

// encode returns the index as cached.
func (ix *Index) encode() ([]byte, error) {
	t := declTable{Decls: ix.Decls, Of: make([][]int32, len(ix.Objects))}
	d := onDisk{Files: ix.Files, Modules: ix.Modules, Objects: make([]Object, len(ix.Objects))}
	for i, o := range ix.Objects {
		t.Of[i] = o.Decls
		o.Decls = nil
		d.Objects[i] = o
	}
	var core, decls bytes.Buffer
	if err := gob.NewEncoder(&core).Encode(d); err != nil {
		return nil, err
	}
	if err := gob.NewEncoder(&decls).Encode(t); err != nil {
		return nil, err
	}
	out := binary.AppendUvarint(nil, uint64(core.Len()))
	out = append(out, core.Bytes()...)
	return append(out, decls.Bytes()...), nil
}

// decode reads the index as cached, leaving the entities to LoadDecls.
func (ix *Index) decode(b []byte) error {
	n, w := binary.Uvarint(b)
	if w <= 0 || n > uint64(len(b)-w) {
		return fmt.Errorf("index: a length of %d bytes in %d", n, len(b))
	}
	var d onDisk
	if err := gob.NewDecoder(bytes.NewReader(b[w : w+int(n)])).Decode(&d); err != nil {
		return err
	}
	*ix = Index{Files: d.Files, Objects: d.Objects, Modules: d.Modules, declData: b[w+int(n):]}
	return nil
}

// LoadDecls decodes the header entities of a cached index, once (an
// index just built has them); Declaring and DeclaresIn see none when it
// fails, so a caller that needs them calls it first for the error.
func (ix *Index) LoadDecls() error {
	ix.declOnce.Do(ix.indexDecls)
	return ix.declErr
}

// Decl is a named entity a header declares, as debug info records it:
// a function (a static inline's abstract or out-of-line instance, or an
// extern function's declaration), a variable, or a struct, union, enum
// or typedef, by its name and the file that declares it.
type Decl struct {
	Name string
	File int32 // index into Index.Files
}

// Object is one object file of the kernel.
type Object struct {
	Path   string  // tree-relative, e.g. fs/proc/meminfo.o
	Parent string  // "vmlinux" or the module's name (xfs, nf_conntrack, ...)
	Files  []int32 // indexes into Index.Files, the compile unit's first
	// Decls are indexes into Index.Decls: the header entities whose
	// debug information entries the compile unit holds at its top
	// level. A static inline function is there when the unit inlines it
	// or keeps an out-of-line copy (whose address it may take); a type
	// when the unit declares something of that type; an extern function
	// or variable when the unit refers to it.
	Decls []int32
}

// Vmlinux is the parent name of objects linked into the kernel image.
const Vmlinux = "vmlinux"

// Source returns the tree-relative C file the object was compiled from.
func (ix *Index) Source(o *Object) string { return ix.Files[o.Files[0]] }

// ObjectsOf returns the objects built from the tree-relative file (a C
// file: its object, in vmlinux or a module, or both when kbuild builds
// it twice; a header: every object that includes it).
func (ix *Index) ObjectsOf(file string) []*Object {
	file = path.Clean(filepath.ToSlash(file))
	var out []*Object
	if ix.byFile != nil {
		for _, i := range ix.byFile[file] {
			out = append(out, &ix.Objects[i])
		}
		return out
	}
	// One lookup: a scan of the line tables costs less than the map of
	// every file (millions of entries) that HeaderUsers needs.
	id := slices.Index(ix.Files, file)
	if id < 0 {
		return nil
	}
	for i := range ix.Objects {
		if slices.Contains(ix.Objects[i].Files, int32(id)) {
			out = append(out, &ix.Objects[i])
		}
	}
	return out
}

// fileMap maps every file to the objects whose line tables name it, once.
func (ix *Index) fileMap() map[string][]int {
	ix.fileOnce.Do(func() {
		byFile := map[string][]int{}
		for i, o := range ix.Objects {
			seen := map[int32]bool{}
			for _, f := range o.Files {
				if !seen[f] {
					seen[f] = true
					byFile[ix.Files[f]] = append(byFile[ix.Files[f]], i)
				}
			}
		}
		ix.byFile = byFile
	})
	return ix.byFile
}

// Object returns the objects with the tree-relative path (one, or one
// per parent when the path is linked twice), or nil.
func (ix *Index) Object(p string) []*Object {
	var out []*Object
	for _, i := range ix.byPath[path.Clean(p)] {
		out = append(out, &ix.Objects[i])
	}
	return out
}

// DeclaresIn reports whether some object's debug info holds an entity
// the tree-relative header declares.
func (ix *Index) DeclaresIn(file string) bool {
	ix.declOnce.Do(ix.indexDecls)
	return ix.declFiles[path.Clean(filepath.ToSlash(file))]
}

// Declaring returns the objects whose debug info holds the entity name
// declared in the tree-relative header file (see Object.Decls).
func (ix *Index) Declaring(name, file string) []*Object {
	ix.declOnce.Do(ix.indexDecls)
	id, ok := ix.fileIDs[path.Clean(filepath.ToSlash(file))]
	if !ok {
		return nil
	}
	var out []*Object
	for _, i := range ix.byDecl[Decl{name, id}] {
		out = append(out, &ix.Objects[i])
	}
	return out
}

// indexDecls maps the entities to their objects, on the first use (a
// patch of C files never needs it: it costs about a second).
func (ix *Index) indexDecls() {
	if ix.declData != nil {
		var t declTable
		err := gob.NewDecoder(bytes.NewReader(ix.declData)).Decode(&t)
		if err == nil && len(t.Of) != len(ix.Objects) {
			err = fmt.Errorf("%d objects' entities for %d objects", len(t.Of), len(ix.Objects))
		}
		for _, of := range t.Of {
			for _, d := range of {
				if err == nil && (d < 0 || int(d) >= len(t.Decls)) {
					err = fmt.Errorf("entity %d of %d", d, len(t.Decls))
				}
			}
		}
		for _, d := range t.Decls {
			if err == nil && (d.File < 0 || int(d.File) >= len(ix.Files)) {
				err = fmt.Errorf("entity %s in file %d of %d", d.Name, d.File, len(ix.Files))
			}
		}
		if err != nil {
			ix.declErr = fmt.Errorf("the cached index's header entities: %w (remove the cache's index-* entry)", err)
			t = declTable{Of: make([][]int32, len(ix.Objects))}
		}
		ix.Decls = t.Decls
		for i := range ix.Objects {
			ix.Objects[i].Decls = t.Of[i]
		}
		ix.declData = nil
	}
	ix.byDecl = map[Decl][]int{}
	ix.fileIDs = map[string]int32{}
	ix.declFiles = map[string]bool{}
	for _, d := range ix.Decls {
		ix.declFiles[ix.Files[d.File]] = true
	}
	for i, f := range ix.Files {
		ix.fileIDs[f] = int32(i)
	}
	for i, o := range ix.Objects {
		for _, d := range o.Decls {
			ix.byDecl[ix.Decls[d]] = append(ix.byDecl[ix.Decls[d]], i)
		}
	}
}

func (ix *Index) finish() {
	ix.byFile = nil
	ix.byPath = map[string][]int{}
	ix.declOnce = sync.Once{}
	ix.fileOnce = sync.Once{}
	for i, o := range ix.Objects {
		ix.byPath[o.Path] = append(ix.byPath[o.Path], i)
	}
}

// indexVersion changes when the index's format or meaning changes.
const indexVersion = "3"

// LoadIndex returns the index of the running kernel, cached under
// cacheDir by the vmlinux's build-id and the debug modules' listing
// (paths, sizes, modification times), built when not cached (about a
// minute on two cores for Debian's 4,000 modules).
func LoadIndex(r *Running, cacheDir string, logf func(string, ...any)) (*Index, error) {
	mods, listing, err := debugModules(r.DebugModules)
	if err != nil {
		return nil, err
	}
	name := "index-" + cache.Key(cache.Parts{"index": indexVersion, "build-id": r.BuildID, "debug modules": fmt.Sprintf("%x", sha256.Sum256([]byte(listing)))})
	ix := &Index{}
	_, err = cache.Load(cacheDir, name, func() ([]byte, error) {
		if logf != nil {
			logf("indexing the kernel's objects (vmlinux and %d debug modules)", len(mods))
		}
		built, err := BuildIndex(r.Vmlinux, mods)
		if err != nil {
			return nil, err
		}
		b, err := built.encode()
		if err != nil {
			return nil, fmt.Errorf("index: %w", err)
		}
		return b, nil
	}, ix.decode)
	if err != nil {
		return nil, err
	}
	ix.finish()
	return ix, nil
}

// debugModules lists the debug modules under dir/kernel (and dir/updates,
// dir/extra), with a listing for the cache key.
func debugModules(dir string) ([]string, string, error) {
	var mods []string
	var listing strings.Builder
	for _, sub := range []string{"kernel", "updates", "extra"} {
		root := filepath.Join(dir, sub)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(p, ".ko") {
				return err
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			mods = append(mods, p)
			fmt.Fprintf(&listing, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
			return nil
		})
		if err != nil {
			return nil, "", fmt.Errorf("debug modules: %w", err)
		}
	}
	if len(mods) == 0 {
		return nil, "", fmt.Errorf("debug modules: no .ko under %s/kernel", dir)
	}
	return mods, listing.String(), nil
}

// unit is one C compile unit as read from a binary.
type unit struct {
	name, compDir string
	files         []string // the line table's files, "" for an empty slot
	decls         []unitDecl
}

// unitDecl is a named top-level entry of a compile unit declared in a
// file of its line table (an index into unit.files).
type unitDecl struct {
	name string
	file int32
}

// declTags are the entries a header's entities leave at a compile unit's
// top level.
var declTags = map[dwarf.Tag]bool{dwarf.TagSubprogram: true, dwarf.TagVariable: true, dwarf.TagStructType: true,
	dwarf.TagUnionType: true, dwarf.TagEnumerationType: true, dwarf.TagTypedef: true}

// readUnits reads the compile units of an ELF file with DWARF: their
// line tables' files and their named top-level entries declared in a
// header (children are skipped through their sibling links: the whole
// debug vmlinux takes about 1.5 s).
func readUnits(file string) ([]unit, error) {
	f, err := elf.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	d, err := f.DWARF()
	if err != nil {
		return nil, fmt.Errorf("%s: DWARF: %w", file, err)
	}
	var units []unit
	var u *unit
	var headers []bool
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, fmt.Errorf("%s: DWARF: %w", file, err)
		}
		if e == nil {
			break
		}
		if e.Tag == dwarf.TagCompileUnit {
			units = append(units, unit{})
			u = &units[len(units)-1]
			u.name, _ = e.Val(dwarf.AttrName).(string)
			u.compDir, _ = e.Val(dwarf.AttrCompDir).(string)
			headers = headers[:0]
			if lr, err := d.LineReader(e); err == nil && lr != nil {
				for _, lf := range lr.Files() {
					name := ""
					if lf != nil {
						name = lf.Name
					}
					u.files = append(u.files, name)
					headers = append(headers, strings.HasSuffix(name, ".h"))
				}
			}
			if !e.Children {
				u = nil
			}
			continue
		}
		if e.Tag == 0 {
			continue
		}
		if u != nil && declTags[e.Tag] {
			name, _ := e.Val(dwarf.AttrName).(string)
			fi, _ := e.Val(dwarf.AttrDeclFile).(int64)
			if name != "" && fi > 0 && int(fi) < len(headers) && headers[fi] {
				u.decls = append(u.decls, unitDecl{name, int32(fi)})
			}
		}
		if e.Children {
			r.SkipChildren()
		}
	}
	return units, nil
}

// BuildIndex reads the compile units of vmlinux and of every debug
// module, in parallel.
func BuildIndex(vmlinux string, modules []string) (*Index, error) {
	type result struct {
		units []unit
		err   error
	}
	all := append([]string{vmlinux}, modules...)
	results := make([]result, len(all))
	parallelFor(len(all), func(i int) { results[i].units, results[i].err = readUnits(all[i]) })
	for _, r := range results {
		if r.err != nil {
			return nil, r.err
		}
	}
	n := newNormalizer(results[0].units)
	ix := &Index{Modules: map[string]string{}}
	fileID := map[string]int32{}
	declID := map[Decl]int32{}
	id := func(f string) int32 {
		if i, ok := fileID[f]; ok {
			return i
		}
		fileID[f] = int32(len(ix.Files))
		ix.Files = append(ix.Files, f)
		return fileID[f]
	}
	for i, r := range results {
		parent := Vmlinux
		if i > 0 {
			parent = ModuleName(all[i])
			ix.Modules[parent] = all[i]
		}
		for _, u := range r.units {
			src := n.rel(u.name)
			if src == "" || !strings.HasSuffix(src, ".c") || strings.HasSuffix(src, ".mod.c") {
				continue // assembly, generated and kbuild's own units
			}
			o := Object{Path: strings.TrimSuffix(src, ".c") + ".o", Parent: parent, Files: []int32{id(src)}}
			ids := make([]int32, len(u.files))
			for k, f := range u.files {
				ids[k] = -1
				if f == "" {
					continue
				}
				if rel := n.rel(f); rel != "" {
					ids[k] = id(rel)
					if rel != src {
						o.Files = append(o.Files, ids[k])
					}
				}
			}
			for _, dl := range u.decls {
				if ids[dl.file] < 0 {
					continue // a generated or compiler header
				}
				k := Decl{dl.name, ids[dl.file]}
				di, ok := declID[k]
				if !ok {
					di = int32(len(ix.Decls))
					declID[k] = di
					ix.Decls = append(ix.Decls, k)
				}
				o.Decls = append(o.Decls, di)
			}
			slices.Sort(o.Decls)
			o.Decls = slices.Compact(o.Decls)
			ix.Objects = append(ix.Objects, o)
		}
	}
	sort.SliceStable(ix.Objects, func(a, b int) bool {
		if ix.Objects[a].Path != ix.Objects[b].Path {
			return ix.Objects[a].Path < ix.Objects[b].Path
		}
		return ix.Objects[a].Parent < ix.Objects[b].Parent
	})
	ix.finish()
	return ix, nil
}

// ModuleName is a module's name from its file: the base name without
// .ko, dashes as underscores (as the kernel names it).
func ModuleName(ko string) string {
	return strings.ReplaceAll(strings.TrimSuffix(filepath.Base(ko), ".ko"), "-", "_")
}

// normalizer turns the file names of the debug info into tree-relative
// paths. Kbuild names sources relative to the source tree; files the
// build generated sit under the build directory (the units' comp_dir);
// assembly units and some headers carry the absolute source directory,
// found from the top-level directories relative names start with.
type normalizer struct {
	top     map[string]bool // first components of relative unit names
	compDir map[string]bool
}

func newNormalizer(units []unit) *normalizer {
	n := &normalizer{top: map[string]bool{}, compDir: map[string]bool{}}
	for _, u := range units {
		if u.compDir != "" {
			n.compDir[path.Clean(u.compDir)] = true
		}
		if u.name != "" && !path.IsAbs(u.name) {
			first, _, _ := strings.Cut(path.Clean(u.name), "/")
			n.top[first] = true
		}
	}
	return n
}

// rel returns the tree-relative path of a debug-info file name, or "" for
// a file outside the source tree (compiler headers, generated files).
func (n *normalizer) rel(name string) string {
	name = path.Clean(name)
	for d := range n.compDir {
		if strings.HasPrefix(name, d+"/") {
			return "" // generated in the build directory
		}
	}
	if !path.IsAbs(name) {
		if name == ".." || strings.HasPrefix(name, "../") {
			return ""
		}
		return name
	}
	parts := strings.Split(name, "/")
	for i := 1; i < len(parts)-1; i++ {
		if n.top[parts[i]] {
			return strings.Join(parts[i:], "/")
		}
	}
	return ""
}

// parallelFor calls fn(0) ... fn(n-1) on GOMAXPROCS goroutines and returns
// when all calls have; each fn(i) must only write what index i owns.
func parallelFor(n int, fn func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				fn(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
