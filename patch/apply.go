package patch

import (
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/worktree"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// DefaultFuzz is GNU patch's default fuzz factor, and kpatch-build's: at
// most 2 lines of a hunk's context may differ from the file.
const DefaultFuzz = 2

// ApplyOptions say how a patch is applied.
type ApplyOptions struct {
	// Fuzz is the most lines of a hunk's context, at its ends, that may
	// be ignored to find where it applies (GNU patch's --fuzz); 0 applies
	// every hunk exactly, at its line or at an offset.
	Fuzz int
	// Log, if set, receives GNU patch's notes: a hunk applied at an
	// offset or with fuzz, CRLF line endings stripped.
	Log func(format string, args ...any)
}

// FuzzedHunk is a hunk applied with fuzz: some of its context lines
// differ from the file.
type FuzzedHunk struct {
	Patch     string `json:"patch"`      // the patch file
	File      string `json:"file"`       // the tree-relative file
	Hunk      int    `json:"hunk"`       // its number in the file's changes, from 1
	Header    string `json:"header"`     // its @@ line
	PatchLine int    `json:"patch_line"` // the line of the patch where its @@ line is
	Fuzz      int    `json:"fuzz"`       // the context lines ignored at its ends
	Line      int    `json:"line"`       // where it is in the patched file (GNU patch's "succeeded at")
	Offset    int    `json:"offset"`     // how far from where its header says (GNU patch's offset)
}

// String is GNU patch's note of the hunk: "FILE: hunk #N succeeded at L
// with fuzz F (offset O lines)".
func (f FuzzedHunk) String() string { return hunkNote(f.File, f.Hunk, f.Line, f.Fuzz, f.Offset) }

// hunkNote is GNU patch's note of a hunk applied at an offset or with
// fuzz.
func hunkNote(file string, n, line, fuzz, offset int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: hunk #%d succeeded at %d", file, n, line)
	if fuzz > 0 {
		fmt.Fprintf(&b, " with fuzz %d", fuzz)
	}
	if offset != 0 {
		s := "s"
		if offset == 1 {
			s = "" // and "-1 lines", as GNU patch says
		}
		fmt.Fprintf(&b, " (offset %d line%s)", offset, s)
	}
	return b.String()
}

// Apply applies the patch to the tree at dir as GNU patch does by
// default (fuzz up to DefaultFuzz), without notes.
func (p *Patch) Apply(dir string) error {
	_, err := p.ApplyWith(dir, ApplyOptions{Fuzz: DefaultFuzz})
	return err
}

// ApplyWith applies the patch to the tree at dir and returns the hunks
// applied with fuzz. First every path is checked against the tree
// (CheckTree): nothing is read through, or written through, a symlink
// that leaves it. Then every file is patched in memory, each hunk where
// GNU patch applies it: at its stated line, or the nearest line where its
// old lines are (an offset), first exactly, then ignoring up to o.Fuzz
// lines of its context at its ends (fuzz); the context lines of the file
// are kept. Every hunk applied at an offset or with fuzz is logged like
// GNU patch ("FILE: hunk #1 succeeded at 120 with fuzz 1 (offset 3
// lines)"). A hunk that does not apply is refused, naming it, and with
// the fuzz it would need when more would apply it. Only when every file
// applies are the files written, each as a new file renamed into place
// (so hard links to the user's tree are never written through); removed
// files are unlinked last.
func (p *Patch) ApplyWith(dir string, o ApplyOptions) ([]FuzzedHunk, error) {
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Fuzz < 0 {
		return nil, fmt.Errorf("patch %s: fuzz %d: must not be negative", p.Path, o.Fuzz)
	}
	if err := p.CheckTree(dir); err != nil {
		return nil, err
	}
	if p.CRLF {
		o.Log("%s: CRLF line endings: the CRs are stripped, as GNU patch does", filepath.Base(p.Path))
	}
	st := &treeState{dir: dir, files: map[string]*treeFile{}}
	var fuzzed []FuzzedHunk
	for _, f := range p.Files {
		fz, err := p.applyFile(st, f, &o)
		if err != nil {
			return nil, err
		}
		fuzzed = append(fuzzed, fz...)
	}
	if err := st.write(p.Path); err != nil {
		return nil, err
	}
	return fuzzed, nil
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
		return malformed(p.Path, line, raw, "%w", err)
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
			return &Error{Patch: p.Path, Line: line, Path: raw, Err: fmt.Errorf("cannot check the path in the tree: %w", err)}
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
func (p *Patch) applyFile(st *treeState, f *FileChange, o *ApplyOptions) ([]FuzzedHunk, error) {
	var src *treeFile
	var data []byte
	perm := fs.FileMode(0o644)
	if !f.IsNew {
		var err error
		if src, err = st.load(f.Old); err != nil {
			return nil, &Error{Patch: p.Path, Line: f.Line, Path: f.Old, Err: fmt.Errorf("cannot read the file: %w", err)}
		}
		if !src.exists {
			return nil, mismatch(p.Path, f.Line, f.Old, "no such file in the source tree")
		}
		data, perm = src.data, src.perm
	}
	out, fuzzed, err := p.applyHunks(f, data, o)
	if err != nil {
		return nil, err
	}
	if f.IsDelete {
		if len(out) != 0 {
			return nil, mismatch(p.Path, f.Line, f.Old, "the deletion does not remove the whole file: the file has lines the patch does not list")
		}
		src.data, src.exists, src.changed = nil, false, true
		return fuzzed, nil
	}
	dst, err := st.load(f.New)
	if err != nil {
		return nil, &Error{Patch: p.Path, Line: f.Line, Path: f.New, Err: fmt.Errorf("cannot read the file: %w", err)}
	}
	if dst.exists && dst != src {
		return nil, mismatch(p.Path, f.Line, f.New, "already exists in the source tree")
	}
	if f.NewMode != 0 {
		perm = f.NewMode
	}
	dst.data, dst.perm, dst.exists, dst.changed = out, perm, true, true
	if f.IsRename && dst != src {
		src.data, src.exists, src.changed = nil, false, true
	}
	return fuzzed, nil
}

// fileApply is GNU patch's state while it applies the hunks of one file:
// the file's lines, the lines written so far, how many of the file's
// lines are behind them (copied or removed: "frozen"), and the offsets
// of the file's lines (inOffset, from where the hunks say they are) and
// of the patched file's (outOffset, from the file's).
type fileApply struct {
	src                 []string
	out                 []string
	frozen              int
	inOffset, outOffset int
}

// applyHunks applies a file's hunks to its content in order, each where
// GNU patch applies it (locate); an offset or fuzz is logged, fuzz also
// returned.
func (p *Patch) applyHunks(f *FileChange, data []byte, o *ApplyOptions) ([]byte, []FuzzedHunk, error) {
	a := &fileApply{src: splitLines(data)}
	var fuzzed []FuzzedHunk
	for k, h := range f.Hunks {
		most := min(o.Fuzz, h.context())
		where, fuzz := 0, 0
		for fuzz = 0; fuzz <= most; fuzz++ {
			if where = a.locate(h, fuzz); where > 0 {
				break
			}
		}
		if where == 0 {
			return nil, nil, p.hunkRefusal(f, k, a, o.Fuzz)
		}
		// GNU patch's line: where the hunk is in the patched file.
		line := where + a.outOffset
		a.inOffset = where - h.first()
		if !a.apply(h, where) {
			// The hunk's change would come before what an earlier
			// hunk changed (GNU patch: "misordered hunks").
			return nil, nil, refused(p.Path, h.Line, f.path(), refusal.New(refusal.HunkFails, k+1, h.header(), f.path(), h.context()))
		}
		if fuzz > 0 || a.inOffset != 0 {
			o.Log("%s", hunkNote(f.path(), k+1, line, fuzz, a.inOffset))
		}
		if fuzz > 0 {
			fuzzed = append(fuzzed, FuzzedHunk{Patch: p.Path, File: f.path(), Hunk: k + 1, Header: h.header(), PatchLine: h.Line,
				Fuzz: fuzz, Line: line, Offset: a.inOffset})
		}
	}
	a.out = append(a.out, a.src[a.frozen:]...)
	return []byte(strings.Join(a.out, "")), fuzzed, nil
}

// hunkRefusal refuses hunk k, which does not apply with the fuzz allowed:
// when more fuzz would apply it (up to its whole context, the most GNU
// patch can ignore), the refusal says how much and where.
func (p *Patch) hunkRefusal(f *FileChange, k int, a *fileApply, allowed int) error {
	h := f.Hunks[k]
	for fuzz := allowed + 1; fuzz <= h.context(); fuzz++ {
		if where := a.locate(h, fuzz); where > 0 {
			return refused(p.Path, h.Line, f.path(), refusal.New(refusal.HunkFuzz, k+1, h.header(), allowed, f.path(), fuzz, where+a.outOffset))
		}
	}
	return refused(p.Path, h.Line, f.path(), refusal.New(refusal.HunkFails, k+1, h.header(), f.path(), h.context()))
}

// context is the hunk's context on its longer side: the most lines GNU
// patch ignores when it applies it with fuzz.
func (h *Hunk) context() int { return max(h.lead, h.trail) }

// first is the line where the hunk's old lines start, 1-based (for a
// hunk that only adds lines, the line after the one its header names).
func (h *Hunk) first() int {
	if h.OldLines == 0 {
		return h.OldPos + 1
	}
	return h.OldPos
}

// locate returns the line (1-based) where hunk h applies with fuzz
// lines of its context ignored, as GNU patch 2.7's locate_hunk finds it,
// or 0. The first guess is the hunk's line moved by the offset of the
// hunks before it; from there it searches outward, after first, then
// before, as far as the file and the lines already patched allow. The
// hunk's context is cut evenly: with fuzz f, a hunk with c context lines
// on its longer side ignores f-(c-lead) lines before its change and
// f-(c-trail) after. A side with less context than the other (diff
// shortened it at the start or end of the file) anchors the hunk there:
// until the fuzz makes up the difference, a hunk that says it starts the
// file must start it, and one with less context after its change must
// end the file. It changes nothing: the caller moves the offset.
func (a *fileApply) locate(h *Hunk, fuzz int) int {
	n, pat := len(a.src), len(h.Old)
	first := h.first()
	guess := first + a.inOffset
	if pat == 0 {
		// Nothing to find: an insertion goes where the offset puts it.
		return guess
	}
	context := h.context()
	pre, suf := fuzz+h.lead-context, fuzz+h.trail-context
	maxWhere := n - (pat - suf) + 1
	minWhere := a.frozen + 1 - (h.lead - pre)
	maxPos, maxNeg := maxWhere-guess, guess-minWhere
	maxOff := max(maxPos, maxNeg)
	if guess <= maxNeg {
		maxNeg = guess - 1
	}
	if pre < 0 && first <= 1 {
		// The hunk starts the file.
		off := 1 - guess
		if a.frozen <= h.lead && off <= maxPos && a.matches(h, 1, 0, suf) {
			return 1
		}
		return 0
	}
	pre = max(pre, 0)
	if suf < 0 {
		// The hunk ends the file.
		off := guess - (n - pat + 1)
		if off <= maxNeg && a.matches(h, guess-off, pre, 0) {
			return guess - off
		}
		return 0
	}
	minOff := 0
	switch {
	case maxPos < 0:
		minOff = guess - maxWhere
	case maxNeg < 0:
		minOff = guess - minWhere // as GNU patch 2.7.6 has it
	}
	for off := minOff; off <= maxOff; off++ {
		if off <= maxPos && a.matches(h, guess+off, pre, suf) {
			return max(guess+off, 0)
		}
		if off <= maxNeg && a.matches(h, guess-off, pre, suf) {
			return max(guess-off, 0)
		}
	}
	return 0
}

// matches reports whether the hunk's old lines, but the first pre and
// the last suf, are the file's from line where (1-based) on.
func (a *fileApply) matches(h *Hunk, where, pre, suf int) bool {
	for i := pre; i < len(h.Old)-suf; i++ {
		at := where - 1 + i
		if at < 0 || at >= len(a.src) || a.src[at] != h.Old[i] {
			return false
		}
	}
	return true
}

// apply applies hunk h with its old lines at line where (1-based), as
// GNU patch does: the file's lines are copied up to each removed or added
// line, removed lines skipped, added lines written; the context lines,
// fuzzed or not, stay the file's. It reports false when a change would
// come before the lines already patched.
func (a *fileApply) apply(h *Hunk, where int) bool {
	base := where - 1
	copyTo := func(end int) bool {
		end = min(end, len(a.src))
		if end < a.frozen {
			return false
		}
		a.out = append(a.out, a.src[a.frozen:end]...)
		a.frozen = end
		return true
	}
	oldIdx, newIdx := 0, 0
	for _, op := range h.ops {
		switch op {
		case ' ':
			oldIdx++
			newIdx++
		case '-':
			if !copyTo(base + oldIdx) {
				return false
			}
			a.frozen = min(a.frozen+1, len(a.src))
			oldIdx++
		case '+':
			if !copyTo(base + oldIdx) {
				return false
			}
			a.out = append(a.out, h.New[newIdx])
			newIdx++
		}
	}
	a.outOffset += len(h.New) - len(h.Old)
	return true
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
			tmp, err = worktree.StageFile(filepath.Dir(full), t.data, t.perm)
		}
		if err != nil {
			undo()
			return &Error{Patch: patch, Path: rel, Err: fmt.Errorf("cannot write the patched file: %w", err)}
		}
		files = append(files, staged{tmp, full, rel})
	}
	for i, f := range files {
		if err := os.Rename(f.tmp, f.full); err != nil {
			files = files[i:]
			undo()
			return &Error{Patch: patch, Path: f.rel, Err: fmt.Errorf("cannot write the patched file: %w", err)}
		}
	}
	for _, rel := range paths {
		if t := st.files[rel]; !t.exists && t.existed {
			if err := os.Remove(filepath.Join(st.dir, filepath.FromSlash(rel))); err != nil {
				return &Error{Patch: patch, Path: rel, Err: fmt.Errorf("cannot remove the file: %w", err)}
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
