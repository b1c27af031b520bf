package patch

import (
	"fmt"
	"io/fs"
	"os"
)

// Patch is a parsed source patch whose paths are checked: every path is
// relative to the source tree, cleaned, with its first directory stripped
// (patch -p1) and without "..".
type Patch struct {
	Path  string        // the patch file, as given
	Files []*FileChange // the files it changes, in order
	CRLF  bool          // the patch had CRLF line endings (the CRs are stripped, as GNU patch does)
}

// FileChange is the change of one file in a patch.
type FileChange struct {
	Line     int         // line of the patch where the file's header starts
	OldName  string      // the old name as the patch writes it ("/dev/null" for a new file)
	NewName  string      // the new name as the patch writes it ("/dev/null" for a deletion)
	Old      string      // the tree-relative path read, "" for a new file
	New      string      // the tree-relative path written, "" for a deletion
	IsNew    bool        // the file is created
	IsDelete bool        // the file is removed
	IsRename bool        // git rename: Old is removed, New written
	IsCopy   bool        // git copy: Old is kept, New written
	NewMode  fs.FileMode // the file's new permissions, 0 when unchanged
	Hunks    []*Hunk
}

// Hunk is one hunk of a unified diff.
type Hunk struct {
	Line     int      // line of the patch of its @@ header
	OldPos   int      // the old range's first line (1-based; 0 for an empty file)
	OldLines int      // the old range's line count
	NewPos   int      // the new range's first line
	NewLines int      // the new range's line count
	Old      []string // the lines it expects (context and removed), each with its newline unless at the end of a file without one
	New      []string // the lines it leaves (context and added)
	lead     int      // context lines before the first change
	trail    int      // context lines after the last change
	ops      []byte   // the lines in the patch's order: ' ' context, '-' removed, '+' added
}

// header returns the hunk's @@ line as a patch writes it.
func (h *Hunk) header() string {
	return fmt.Sprintf("@@ -%d,%d +%d,%d @@", h.OldPos, h.OldLines, h.NewPos, h.NewLines)
}

// Read reads and parses a unified or git diff (see Parse).
func Read(path string) (*Patch, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	return Parse(path, b)
}

// TreePath is a tree-relative path a patch reads, writes or removes, with
// the line of the patch where its file's header is.
type TreePath struct {
	Path string
	Line int
}

// Paths returns every tree-relative path the patch reads, writes or
// removes (for a rename, both names), cleaned and checked to stay in the
// tree, in the order of the patch, each once.
func (p *Patch) Paths() []TreePath {
	var out []TreePath
	seen := map[string]bool{}
	for _, f := range p.Files {
		for _, n := range []string{f.Old, f.New} {
			if n != "" && !seen[n] {
				seen[n] = true
				out = append(out, TreePath{Path: n, Line: f.Line})
			}
		}
	}
	return out
}

// Touched returns the tree-relative paths the patch modifies or creates
// (for a deletion, the removed path; for a rename, the new name).
func (p *Patch) Touched() []string {
	var out []string
	for _, f := range p.Files {
		if f.New != "" {
			out = append(out, f.New)
		} else if f.Old != "" {
			out = append(out, f.Old)
		}
	}
	return out
}

// Renames returns the files the patch renames (git renames with changes),
// from their old tree-relative path to their new one, so that the object
// built from the new name can be paired with the original object of the
// old name.
func (p *Patch) Renames() map[string]string {
	out := map[string]string{}
	for _, f := range p.Files {
		if f.IsRename && f.Old != f.New {
			out[f.Old] = f.New
		}
	}
	return out
}

// Edit is one run of a hunk's changed lines: Removed lines of the old
// file from its line OldLine (counted from the start of the hunk's old
// lines, Old) replaced by Added (a pure insertion removes none and goes
// before OldLine).
type Edit struct {
	OldLine int // 0-based index into the hunk's Old lines
	Removed int
	Added   []string
}

// Edits returns the hunk's runs of changed lines, in order.
func (h *Hunk) Edits() []Edit {
	var out []Edit
	old, added := 0, 0
	var cur *Edit
	for _, op := range h.ops {
		switch op {
		case ' ':
			cur = nil
			old++
			added++
		case '-', '+':
			if cur == nil {
				out = append(out, Edit{OldLine: old})
				cur = &out[len(out)-1]
			}
			if op == '-' {
				cur.Removed++
				old++
			} else {
				cur.Added = append(cur.Added, h.New[added])
				added++
			}
		}
	}
	return out
}
