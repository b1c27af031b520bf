package kerneltree

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// Why an object is chosen (Reason.Why).
const (
	// WhySource: the object is compiled from the patched C file.
	WhySource = "compiled from it"
	// WhyIncludedC: the patched C file has no object of its own; the
	// object's line table names it (an #include of a .c file).
	WhyIncludedC = "includes it (a C file with no object of its own)"
	// WhyInstance: a changed function's instance (inlined, or out of
	// line, which also covers taking its address) is in the object's
	// debug info.
	WhyInstance = "its debug info has an instance of it (inlined or out of line)"
	// WhyDebugInfo: a changed type or declaration is in the object's
	// debug info.
	WhyDebugInfo = "its debug info uses it"
	// WhyIncludes: the object reaches the header through #include lines
	// (a macro or a directive: the debug info records no macros).
	WhyIncludes = "includes the header (the debug info cannot narrow this)"
)

// Reason says why an object is compiled: the patched file, the entity of
// the file the change belongs to ("" for a C file's own object) and why
// the entity reaches the object.
type Reason struct {
	Object *Object
	File   string
	Entity string
	Why    string
}

// Choice is one entity's share of the objects: the patched file, the
// entity and why, and how many objects it reaches (the progress lines
// and --max-objects' refusal name the large ones).
type Choice struct {
	File, Entity, Why string
	Objects           int
}

// String is the choice as the progress lines show it.
func (c Choice) String() string {
	if c.Entity == "" {
		return fmt.Sprintf("%s: %d object(s) %s", c.File, c.Objects, c.Why)
	}
	return fmt.Sprintf("%s: %s: %d object(s): %s", c.File, c.Entity, c.Objects, c.Why)
}

// Affected returns the objects of the running kernel the patches can
// change, each with the reasons it was chosen, and each changed entity's
// share. The tree at dir must hold the original sources (the prepared
// tree, under its lock).
//
// A C file's objects are those compiled from it (or, for a C file with
// none, those that include it). A header's changed lines are mapped to
// the header's top-level entities (HeaderEntities) in the original file:
//   - a function (a static inline): the objects whose debug info holds
//     an instance of it, inlined or out of line (Index.Declaring);
//   - a type or a global declaration: the objects whose debug info
//     holds it;
//   - a macro or anything else (a directive, a macro invoked at the top
//     level, a hunk that does not apply exactly, new top-level code that
//     is not a function, type or declaration): every object that
//     includes the header (HeaderUsers).
//
// Comments and blank lines change no entity (only line numbers, which
// the diff ignores).
func Affected(ix *Index, dir string, patches []*patch.Patch) ([]*Object, []Reason, []Choice, error) {
	a := &affected{ix: ix, dir: dir, seen: map[*Object]bool{}, users: map[string][]*Object{}, touched: map[string]bool{}, given: map[reasonKey]bool{}}
	for _, p := range patches {
		for old, nw := range p.Renames() {
			if strings.HasSuffix(old, ".c") || strings.HasSuffix(old, ".h") {
				return nil, nil, nil, &patch.Error{Patch: p.Path, Line: lineOf(p, old), Err: refusal.New(refusal.RealRename, old, nw)}
			}
		}
		for _, f := range p.Files {
			if err := a.file(p, f); err != nil {
				return nil, nil, nil, err
			}
		}
	}
	if len(a.out) == 0 {
		if len(a.touched) > 0 {
			// Headers changed only in comments, blank lines or
			// entities no object uses.
			return nil, nil, a.choices, refusal.New(refusal.NoFunctionalChange)
		}
		return nil, nil, nil, refusal.New(refusal.NoCSource)
	}
	sort.Slice(a.out, func(i, j int) bool {
		if a.out[i].Path != a.out[j].Path {
			return a.out[i].Path < a.out[j].Path
		}
		return a.out[i].Parent < a.out[j].Parent
	})
	return a.out, a.reasons, a.choices, nil
}

// affected is the state of one Affected call.
type affected struct {
	ix      *Index
	dir     string
	seen    map[*Object]bool
	out     []*Object
	reasons []Reason
	choices []Choice
	users   map[string][]*Object // HeaderUsers by header
	touched map[string]bool      // headers an earlier patch changed
	given   map[reasonKey]bool
}

// reasonKey is an object chosen for an entity of a file.
type reasonKey struct {
	o            *Object
	file, entity string
}

// add records objects chosen for one reason.
func (a *affected) add(file, entity, why string, objs []*Object) {
	n := 0
	for _, o := range objs {
		k := reasonKey{o, file, entity}
		if a.given[k] {
			continue
		}
		a.given[k] = true
		n++
		a.reasons = append(a.reasons, Reason{Object: o, File: file, Entity: entity, Why: why})
		if !a.seen[o] {
			a.seen[o] = true
			a.out = append(a.out, o)
		}
	}
	a.choices = append(a.choices, Choice{File: file, Entity: entity, Why: why, Objects: n})
}

// headerUsers is HeaderUsers, once per header.
func (a *affected) headerUsers(f string) ([]*Object, error) {
	if u, ok := a.users[f]; ok {
		return u, nil
	}
	u, err := a.ix.HeaderUsers(a.dir, f)
	if err != nil {
		return nil, fmt.Errorf("objects including %s: %w", f, err)
	}
	a.users[f] = u
	return u, nil
}

// file chooses the objects of one changed file of a patch.
func (a *affected) file(p *patch.Patch, fc *patch.FileChange) error {
	touched := fc.New
	if touched == "" {
		touched = fc.Old
	}
	// The file the kernel's build reads: a path through a symlinked
	// directory of the tree (scripts/dtc/include-prefixes/...) is its
	// target's.
	f, err := patch.ResolveParentInTree(a.dir, touched)
	if err != nil {
		return &patch.Error{Patch: p.Path, Line: lineOf(p, touched), Path: touched, Err: err}
	}
	if strings.HasSuffix(f, ".h") {
		if err := a.ix.LoadDecls(); err != nil {
			return err
		}
	}
	if (strings.HasSuffix(f, ".h") || strings.HasSuffix(f, ".c")) && !a.anyUser(f) {
		return &patch.Error{Patch: p.Path, Line: lineOf(p, touched), Path: touched, Err: notCompiled(touched, f)}
	}
	switch {
	case strings.HasSuffix(f, ".h"):
		if err := a.header(p, fc, f); err != nil {
			return err
		}
	case strings.HasSuffix(f, ".c"):
		var own []*Object
		for _, obj := range a.ix.ObjectsOf(f) {
			if a.ix.Source(obj) == f {
				own = append(own, obj)
			}
		}
		if len(own) > 0 {
			a.add(f, "", WhySource, own)
			break
		}
		// A C file with no object of its own is #included by others
		// (kernel/sched/stats.c by build_utility.c): their line
		// tables name it.
		users, err := a.headerUsers(f)
		if err != nil {
			return err
		}
		a.add(f, "", WhyIncludedC, append(a.ix.ObjectsOf(f), users...))
	default:
		return nil // Makefiles, documentation: nothing to diff
	}
	a.touched[f] = true
	return nil
}

// anyUser reports whether any object is built from or includes f (a
// header whose change reaches no object is still compiled).
func (a *affected) anyUser(f string) bool {
	if len(a.ix.ObjectsOf(f)) > 0 || a.ix.DeclaresIn(f) {
		return true
	}
	u, err := a.headerUsers(f)
	return err == nil && len(u) > 0
}

// header chooses the objects of a changed header, entity by entity.
func (a *affected) header(p *patch.Patch, fc *patch.FileChange, f string) error {
	all := func(entity string) error {
		users, err := a.headerUsers(f)
		if err != nil {
			return err
		}
		a.add(f, entity, WhyIncludes, users)
		return nil
	}
	if fc.IsNew || fc.IsDelete || a.touched[f] {
		return all("the whole file")
	}
	src, err := os.ReadFile(filepath.Join(a.dir, f))
	if err != nil {
		return fmt.Errorf("objects of %s: %w", f, err)
	}
	lines := strings.SplitAfter(string(src), "\n")
	ents := HeaderEntities(src)
	done := map[string]bool{}
	entity := func(e Entity) error {
		key := e.String()
		if done[key] {
			return nil
		}
		done[key] = true
		switch e.Kind {
		case KindFunction, KindType, KindDeclaration:
			var objs []*Object
			for _, n := range e.Names {
				objs = append(objs, a.ix.Declaring(n, f)...)
			}
			why := WhyDebugInfo
			if e.Kind == KindFunction {
				why = WhyInstance
			}
			a.add(f, key, why, objs)
			return nil
		}
		return all(key)
	}
	for k, h := range fc.Hunks {
		base := locateHunk(lines, h)
		if base < 0 {
			if err := all(fmt.Sprintf("hunk #%d (it does not apply exactly)", k+1)); err != nil {
				return err
			}
			continue
		}
		for _, ed := range h.Edits() {
			first := base + ed.OldLine + 1 // 1-based line of the first removed line, or the line the insertion goes before
			for l := first; l < first+ed.Removed; l++ {
				if e, ok := innermost(ents, l, l); ok {
					if err := entity(e); err != nil {
						return err
					}
				}
			}
			if len(ed.Added) == 0 {
				continue
			}
			from, to := first-1, first // an insertion between two lines
			if ed.Removed > 0 {
				from, to = first, first+ed.Removed-1 // a replacement
			}
			if e, ok := innermost(ents, from, to); ok {
				if err := entity(e); err != nil {
					return err
				}
				continue
			}
			// New top-level text: its own entities (none for comments
			// and blank lines). A function, type or declaration
			// nothing had before reaches only the objects that other
			// changes make use it; one of a name the header already
			// declares (a second definition under #if) reaches that
			// name's users.
			//
			// The added lines are read where they go, in the header
			// with this edit made: a line added inside a comment that
			// begins above it is comment text, not code.
			if first-1 > len(lines) || first-1+ed.Removed > len(lines) {
				return all(fmt.Sprintf("hunk #%d (beyond the file's end)", k+1))
			}
			edited := strings.Join(lines[:first-1], "") + strings.Join(ed.Added, "") + strings.Join(lines[first-1+ed.Removed:], "")
			addedFrom, addedTo := first, first+len(ed.Added)-1
			for _, e := range HeaderEntities([]byte(edited)) {
				if e.End < addedFrom || e.Start > addedTo {
					continue
				}
				if e.Kind == KindFunction || e.Kind == KindType || e.Kind == KindDeclaration {
					e.Kind = EntityKind("new " + string(e.Kind))
					var objs []*Object
					for _, n := range e.Names {
						objs = append(objs, a.ix.Declaring(n, f)...)
					}
					a.add(f, e.String(), WhyDebugInfo, objs)
					continue
				}
				if err := entity(e); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// locateHunk returns the 0-based line of the original file where the
// hunk's old lines are, nearest its header's line, or -1 when they are
// nowhere exactly.
func locateHunk(lines []string, h *patch.Hunk) int {
	at := func(b int) bool {
		if b < 0 || b+len(h.Old) > len(lines) {
			return false
		}
		for i, l := range h.Old {
			if lines[b+i] != l {
				return false
			}
		}
		return true
	}
	want := h.OldPos - 1
	if h.OldLines == 0 {
		want = h.OldPos
	}
	for d := 0; d <= len(lines); d++ {
		if at(want - d) {
			return want - d
		}
		if at(want + d) {
			return want + d
		}
	}
	return -1
}

// innermost returns the smallest entity whose lines hold lines from and
// to (1-based).
func innermost(ents []Entity, from, to int) (Entity, bool) {
	best, ok := Entity{}, false
	for _, e := range ents {
		if e.Start <= from && to <= e.End && (!ok || e.End-e.Start < best.End-best.Start) {
			best, ok = e, true
		}
	}
	return best, ok
}

// lineOf returns the line of the patch's header for the tree path f.
func lineOf(p *patch.Patch, f string) int {
	for _, tp := range p.Paths() {
		if tp.Path == f {
			return tp.Line
		}
	}
	return 0
}

// notCompiled is the refusal of a patched file no object is built from;
// for a path through a symlink, it names the file the link leads to.
func notCompiled(touched, real string) error {
	if real != touched {
		return fmt.Errorf("%w (the file is %s, through a symlink of the tree)", refusal.New(refusal.NotCompiled), real)
	}
	return refusal.New(refusal.NotCompiled)
}
