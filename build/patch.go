package build

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// Patch is a parsed source patch.
type Patch struct {
	Path  string
	Files []*gitdiff.File
}

// ReadPatch parses a unified or git diff.
func ReadPatch(path string) (*Patch, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	files, _, err := gitdiff.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: no file changes found in the patch", path)
	}
	return &Patch{Path: path, Files: files}, nil
}

// stripName removes the a/ or b/ prefix of a patch path (patch -p1).
func stripName(n string) string {
	if i := strings.IndexByte(n, '/'); i >= 0 && (strings.HasPrefix(n, "a/") || strings.HasPrefix(n, "b/")) {
		return n[i+1:]
	}
	return n
}

// Touched returns the tree-relative paths the patch modifies or creates.
func (p *Patch) Touched() []string {
	var out []string
	for _, f := range p.Files {
		if f.NewName != "" {
			out = append(out, stripName(f.NewName))
		} else if f.OldName != "" {
			out = append(out, stripName(f.OldName))
		}
	}
	return out
}

// Apply applies the patch to the tree at dir strictly: any hunk that does
// not apply exactly is an error naming the file and the hunk, and nothing
// is written unless every file applies. Changed files are written as new
// files, so hard links to the user's tree are never written through.
func (p *Patch) Apply(dir string) error {
	type result struct {
		path    string
		data    []byte
		perm    fs.FileMode
		remove  string
		deleted bool
	}
	var results []result
	for _, f := range p.Files {
		if f.IsBinary {
			return fmt.Errorf("%s: binary changes are not supported (%s)", p.Path, f.NewName)
		}
		oldRel, newRel := stripName(f.OldName), stripName(f.NewName)
		var src []byte
		perm := fs.FileMode(0o644)
		if !f.IsNew {
			path := filepath.Join(dir, oldRel)
			info, err := os.Stat(path)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", p.Path, oldRel, err)
			}
			perm = info.Mode().Perm()
			if src, err = os.ReadFile(path); err != nil {
				return fmt.Errorf("%s: %s: %w", p.Path, oldRel, err)
			}
		}
		var out bytes.Buffer
		if err := gitdiff.Apply(&out, bytes.NewReader(src), f); err != nil {
			var ae *gitdiff.ApplyError
			if errors.As(err, &ae) && ae.Fragment > 0 && ae.Fragment <= len(f.TextFragments) {
				fr := f.TextFragments[ae.Fragment-1]
				return fmt.Errorf("%s: %s: hunk #%d (@@ -%d,%d +%d,%d @@) does not apply: %v", p.Path, oldRel, ae.Fragment,
					fr.OldPosition, fr.OldLines, fr.NewPosition, fr.NewLines, ae.Unwrap())
			}
			return fmt.Errorf("%s: %s: %w", p.Path, oldRel, err)
		}
		if f.NewMode != 0 {
			perm = f.NewMode.Perm()
		}
		r := result{path: newRel, data: out.Bytes(), perm: perm, deleted: f.IsDelete}
		if f.IsDelete {
			r.path = oldRel
		} else if f.IsRename && oldRel != newRel {
			r.remove = oldRel
		}
		results = append(results, r)
	}
	for _, r := range results {
		path := filepath.Join(dir, r.path)
		if r.deleted {
			if err := os.Remove(path); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := replaceFile(path, r.data, r.perm); err != nil {
			return fmt.Errorf("%s: %s: %w", p.Path, r.path, err)
		}
		if r.remove != "" {
			if err := os.Remove(filepath.Join(dir, r.remove)); err != nil {
				return err
			}
		}
	}
	return nil
}
