package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// Apply applies the patch to the tree at dir (see ApplyTo), without notes.
func (p *Patch) Apply(dir string) error { return p.ApplyTo(dir, nil) }

// ApplyTo applies the patch to the tree at dir. First every path is
// checked against the tree (CheckTree): nothing is read through, or
// written through, a symlink that leaves it. Then every file is patched in
// memory: a hunk applies where its lines are, at its stated line or the
// nearest line where all its old lines are found (an offset, reported to
// logf like GNU patch: "FILE: hunk #1 succeeded at 120 (offset 3 lines)"),
// never with fuzz. Only when every file applies are the files written,
// each as a new file renamed into place (so hard links to the user's tree
// are never written through); removed files are unlinked last. logf may
// be nil.
func (p *Patch) ApplyTo(dir string, logf func(format string, args ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if err := p.CheckTree(dir); err != nil {
		return err
	}
	if p.CRLF {
		logf("%s: CRLF line endings: the CRs are stripped, as GNU patch does", filepath.Base(p.Path))
	}
	st := &treeState{dir: dir, files: map[string]*treeFile{}}
	for _, f := range p.Files {
		if err := p.applyFile(st, f, logf); err != nil {
			return err
		}
	}
	return st.write(p.Path)
}

// CheckTree checks every path of the patch against the tree at dir,
// reading only: each must be a valid tree-relative path, the directories
// on the way must be directories, an existing file a regular file, and no
// symlink on the way may point outside the tree or nowhere. It is what
// ApplyTo checks first; a caller can check the user's tree with it before
// anything is built.
func (p *Patch) CheckTree(dir string) error {
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("source tree: %w", err)
	}
	for _, f := range p.Files {
		for _, n := range [][2]string{{f.Old, f.OldName}, {f.New, f.NewName}} {
			if n[0] == "" {
				continue
			}
			if err := p.checkPath(dir, root, f.Line, n[0], n[1]); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPath checks one tree-relative path rel (raw as the patch writes it).
func (p *Patch) checkPath(dir, root string, line int, rel, raw string) error {
	if c := path.Clean(rel); c != rel || path.IsAbs(rel) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return refused(p.Path, line, raw, refusal.New(refusal.PatchOutside, c))
	}
	if err := checkNameLength(rel); err != nil {
		return malformed(p.Path, line, raw, "%v", err)
	}
	parts := strings.Split(rel, "/")
	cur := dir
	for k, c := range parts {
		cur = filepath.Join(cur, c)
		shown := strings.Join(parts[:k+1], "/")
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // the rest is created
		}
		if err != nil {
			return &PatchError{Patch: p.Path, Line: line, Path: raw, Err: fmt.Errorf("cannot check the path in the tree: %w", err)}
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			target, _ := os.Readlink(cur)
			real, err := filepath.EvalSymlinks(cur)
			if err != nil {
				return refused(p.Path, line, raw, refusal.New(refusal.PatchSymlinkBroken, shown))
			}
			if r, err := filepath.Rel(root, real); err != nil || r == ".." || strings.HasPrefix(r, "../") {
				return refused(p.Path, line, raw, refusal.New(refusal.PatchSymlinkOut, shown, target))
			}
			if fi, err = os.Stat(cur); err != nil {
				return refused(p.Path, line, raw, refusal.New(refusal.PatchSymlinkBroken, shown))
			}
		}
		if k < len(parts)-1 && !fi.IsDir() {
			return mismatch(p.Path, line, raw, "%s is not a directory in the source tree", shown)
		}
		if k == len(parts)-1 && !fi.Mode().IsRegular() {
			return mismatch(p.Path, line, raw, "%s is not a regular file in the source tree", shown)
		}
	}
	return nil
}

// treeState is the tree as the patch changes it, in memory until written.
type treeState struct {
	dir   string
	files map[string]*treeFile // by tree-relative path
}

// treeFile is one file of the tree as the patch leaves it so far.
type treeFile struct {
	data    []byte
	perm    fs.FileMode
	exists  bool // the file exists after the changes so far
	existed bool // the file exists in the tree on disk
	changed bool // the patch writes or removes it
}

// load returns a file of the tree, read from disk the first time.
func (st *treeState) load(rel string) (*treeFile, error) {
	if t, ok := st.files[rel]; ok {
		return t, nil
	}
	t := &treeFile{perm: 0o644}
	full := filepath.Join(st.dir, filepath.FromSlash(rel))
	info, err := os.Stat(full)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	default:
		if t.data, err = os.ReadFile(full); err != nil {
			return nil, err
		}
		t.perm, t.exists, t.existed = info.Mode().Perm(), true, true
	}
	st.files[rel] = t
	return t, nil
}

// applyFile applies one file's change to the tree in memory.
func (p *Patch) applyFile(st *treeState, f *FileChange, logf func(string, ...any)) error {
	var src *treeFile
	var data []byte
	perm := fs.FileMode(0o644)
	if !f.IsNew {
		var err error
		if src, err = st.load(f.Old); err != nil {
			return &PatchError{Patch: p.Path, Line: f.Line, Path: f.Old, Err: fmt.Errorf("cannot read the file: %w", err)}
		}
		if !src.exists {
			return mismatch(p.Path, f.Line, f.Old, "no such file in the source tree")
		}
		data, perm = src.data, src.perm
	}
	out, err := p.applyHunks(f, data, logf)
	if err != nil {
		return err
	}
	if f.IsDelete {
		if len(out) != 0 {
			return mismatch(p.Path, f.Line, f.Old, "the deletion does not remove the whole file: the file has lines the patch does not list")
		}
		src.data, src.exists, src.changed = nil, false, true
		return nil
	}
	dst, err := st.load(f.New)
	if err != nil {
		return &PatchError{Patch: p.Path, Line: f.Line, Path: f.New, Err: fmt.Errorf("cannot read the file: %w", err)}
	}
	if dst.exists && dst != src {
		return mismatch(p.Path, f.Line, f.New, "already exists in the source tree")
	}
	if f.NewMode != 0 {
		perm = f.NewMode
	}
	dst.data, dst.perm, dst.exists, dst.changed = out, perm, true, true
	if f.IsRename && dst != src {
		src.data, src.exists, src.changed = nil, false, true
	}
	return nil
}

// applyHunks applies a file's hunks to its content, each where locate
// finds its old lines, after the hunk before it; an offset is logged.
func (p *Patch) applyHunks(f *FileChange, data []byte, logf func(string, ...any)) ([]byte, error) {
	src := splitLines(data)
	var out []string
	cur, lastOff := 0, 0
	for k, h := range f.Hunks {
		want := h.OldPos - 1
		if h.OldLines == 0 {
			want = h.OldPos // an insertion goes after the stated line
		}
		at := locate(src, cur, want, want+lastOff, h, true)
		if at < 0 {
			if locate(src, cur, want, want+lastOff, h, false) >= 0 {
				where := "end"
				if h.lead < h.trail {
					where = "start"
				}
				return nil, refused(p.Path, h.Line, f.path(), refusal.New(refusal.HunkAnchor, k+1, h.header(), f.path(), where))
			}
			return nil, refused(p.Path, h.Line, f.path(), refusal.New(refusal.HunkFails, k+1, h.header(), f.path()))
		}
		out = append(out, src[cur:at]...)
		if off := at - want; off != 0 {
			s := "s"
			if off == 1 || off == -1 {
				s = ""
			}
			// Like GNU patch: the line where the hunk is in the patched file.
			logf("%s: hunk #%d succeeded at %d (offset %d line%s)", f.path(), k+1, len(out)+1, off, s)
		}
		lastOff = at - want
		out = append(out, h.New...)
		cur = at + len(h.Old)
	}
	out = append(out, src[cur:]...)
	return []byte(strings.Join(out, "")), nil
}

// locate returns where hunk h's old lines are in src at or after line
// cur: the nearest line to guess (the stated line want moved by the
// previous hunk's offset) where they all are, forward first; -1 when they
// are nowhere. With anchor, as GNU patch without fuzz: a hunk whose
// context is shorter before its change than after must be at the start of
// the file, and one whose context is shorter after its change must end at
// the end (diff cut the context there).
func locate(src []string, cur, want, guess int, h *Hunk, anchor bool) int {
	if len(h.Old) == 0 {
		// Nothing to find: an insertion goes where the offset puts it.
		for _, at := range []int{guess, want} {
			if at >= cur && at <= len(src) {
				return at
			}
		}
		return -1
	}
	last := len(src) - len(h.Old) // the last line where the old lines fit
	if last < cur {
		return -1
	}
	fits := func(at int) bool {
		if !slices.Equal(src[at:at+len(h.Old)], h.Old) {
			return false
		}
		switch {
		case !anchor:
			return true
		case h.lead < h.trail:
			return at == 0
		case h.trail < h.lead:
			return at == last
		}
		return true
	}
	guess = min(max(guess, cur), last)
	for d := 0; guess+d <= last || guess-d >= cur; d++ {
		if at := guess + d; at <= last && fits(at) {
			return at
		}
		if at := guess - d; d > 0 && at >= cur && fits(at) {
			return at
		}
	}
	return -1
}

// write writes the changed files of the tree: every new content is first
// staged as a temporary file beside its path (a failure removes the
// staged files and the directories made for them, leaving the tree as it
// was), then renamed into place; removals come last. A path that would be
// both a file and a directory is refused before anything is written.
func (st *treeState) write(patch string) error {
	var paths []string
	for rel, t := range st.files {
		if t.changed {
			paths = append(paths, rel)
		}
	}
	slices.Sort(paths)
	for _, rel := range paths {
		if !st.files[rel].exists {
			continue
		}
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			if t, ok := st.files[d]; ok && t.exists {
				return mismatch(patch, 0, rel, "the patch makes %s both a file and a directory", d)
			}
		}
	}
	type staged struct{ tmp, full, rel string }
	var files []staged
	var dirs []string // made for the staged files, parents first
	undo := func() {
		for _, f := range files {
			os.Remove(f.tmp)
		}
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
	}
	for _, rel := range paths {
		t := st.files[rel]
		if !t.exists {
			continue
		}
		full := filepath.Join(st.dir, filepath.FromSlash(rel))
		made, err := mkdirs(filepath.Dir(full))
		dirs = append(dirs, made...)
		var tmp string
		if err == nil {
			tmp, err = stageFile(filepath.Dir(full), t.data, t.perm)
		}
		if err != nil {
			undo()
			return &PatchError{Patch: patch, Path: rel, Err: fmt.Errorf("cannot write the patched file: %w", err)}
		}
		files = append(files, staged{tmp, full, rel})
	}
	for i, f := range files {
		if err := os.Rename(f.tmp, f.full); err != nil {
			files = files[i:]
			undo()
			return &PatchError{Patch: patch, Path: f.rel, Err: fmt.Errorf("cannot write the patched file: %w", err)}
		}
	}
	for _, rel := range paths {
		if t := st.files[rel]; !t.exists && t.existed {
			if err := os.Remove(filepath.Join(st.dir, filepath.FromSlash(rel))); err != nil {
				return &PatchError{Patch: patch, Path: rel, Err: fmt.Errorf("cannot remove the file: %w", err)}
			}
		}
	}
	return nil
}

// mkdirs makes dir and its missing parents, returning those it made,
// parents first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append(missing, d)
	}
	slices.Reverse(missing)
	for i, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return missing[:i], err
		}
	}
	return missing, nil
}
