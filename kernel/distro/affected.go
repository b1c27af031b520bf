package distro

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kpatchgo/kpatch-build/kerneltree"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// lineOf returns the line of the patch's header for the tree path f.
func lineOf(p *patch.Patch, f string) int {
	for _, tp := range p.Paths() {
		if tp.Path == f {
			return tp.Line
		}
	}
	return 0
}

// affectedObjects are the objects of the running kernel a patch can
// change: a C file's object, a header's every includer (in vmlinux and
// in modules, through the prepared tree's include lines).
func affectedObjects(ix *kerneltree.Index, tree string, patches []*patch.Patch) ([]*kerneltree.Object, error) {
	seen := map[*kerneltree.Object]bool{}
	var out []*kerneltree.Object
	for _, p := range patches {
		for old, nw := range p.Renames() {
			if strings.HasSuffix(old, ".c") || strings.HasSuffix(old, ".h") {
				return nil, &patch.Error{Patch: p.Path, Line: lineOf(p, old), Err: refusal.New(refusal.RealRename, old, nw)}
			}
		}
		for _, touched := range p.Touched() {
			// The file the kernel's build reads: a path through a
			// symlinked directory of the tree
			// (scripts/dtc/include-prefixes/...) is its target's.
			f, err := patch.ResolveParentInTree(tree, touched)
			if err != nil {
				return nil, &patch.Error{Patch: p.Path, Line: lineOf(p, touched), Path: touched, Err: err}
			}
			var objs []*kerneltree.Object
			if strings.HasSuffix(f, ".h") {
				users, err := ix.HeaderUsers(tree, f)
				if err != nil {
					return nil, fmt.Errorf("objects including %s: %w", f, err)
				}
				objs = users
			}
			own := 0
			for _, obj := range ix.ObjectsOf(f) {
				if ix.Source(obj) == f {
					objs = append(objs, obj)
					own++
				}
			}
			if own == 0 && strings.HasSuffix(f, ".c") {
				// A C file with no object of its own is #included
				// by others (kernel/sched/stats.c by
				// build_utility.c): their line tables name it.
				objs = append(objs, ix.ObjectsOf(f)...)
				users, err := ix.HeaderUsers(tree, f)
				if err != nil {
					return nil, fmt.Errorf("objects including %s: %w", f, err)
				}
				objs = append(objs, users...)
			}
			if len(objs) == 0 {
				if strings.HasSuffix(f, ".c") || strings.HasSuffix(f, ".h") {
					return nil, &patch.Error{Patch: p.Path, Line: lineOf(p, touched), Path: touched, Err: notCompiled(touched, f)}
				}
				continue // Makefiles, documentation: nothing to diff
			}
			for _, obj := range objs {
				if !seen[obj] {
					seen[obj] = true
					out = append(out, obj)
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, refusal.New(refusal.NoCSource)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Path != out[b].Path {
			return out[a].Path < out[b].Path
		}
		return out[a].Parent < out[b].Parent
	})
	return out, nil
}

// notCompiled is the refusal of a patched file no object is built from;
// for a path through a symlink, it names the file the link leads to.
func notCompiled(touched, real string) error {
	if real != touched {
		return fmt.Errorf("%w (the file is %s, through a symlink of the tree)", refusal.New(refusal.NotCompiled), real)
	}
	return refusal.New(refusal.NotCompiled)
}
