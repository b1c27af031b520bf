package kerneltree

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// includePath is where kbuild looks for <...> includes on x86, in order
// (the generated directories are not part of the source tree).
var includePath = []string{"arch/x86/include", "arch/x86/include/uapi", "include", "include/uapi"}

// HeaderUsers returns the objects that may include header (tree-relative)
// through any chain of includes: those whose debug info lists the header
// or any file that includes it, directly or through other headers, by
// the #include lines of the tree at dir. The line tables alone miss the
// objects that use only macros of a header; the include lines ignore
// #if, so the set may be larger than what the preprocessor includes
// (objects the header does not change diff as unchanged).
func (ix *Index) HeaderUsers(dir, header string) ([]*Object, error) {
	header = path.Clean(filepath.ToSlash(header))
	rev, err := includeGraph(dir, ix)
	if err != nil {
		return nil, err
	}
	// Every file that reaches header through includes.
	reach := map[string]bool{header: true}
	queue := []string{header}
	for len(queue) > 0 {
		f := queue[0]
		queue = queue[1:]
		for _, by := range rev[f] {
			if !reach[by] {
				reach[by] = true
				queue = append(queue, by)
			}
		}
	}
	seen := map[int]bool{}
	var out []*Object
	byFile := ix.fileMap()
	for f := range reach {
		for _, i := range byFile[f] {
			if !seen[i] {
				seen[i] = true
				out = append(out, &ix.Objects[i])
			}
		}
	}
	return out, nil
}

// includeGraph maps each file to the files that #include it: every
// header of the tree and every source file of the index is read.
func includeGraph(dir string, ix *Index) (map[string][]string, error) {
	var files []string
	for _, f := range ix.Files {
		if strings.HasSuffix(f, ".c") {
			files = append(files, f)
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case "Documentation", "tools", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".h") && d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	exists := map[string]bool{}
	for _, f := range files {
		exists[f] = true
	}
	type edge struct{ from, to string }
	edges := make([][]edge, len(files))
	parallelFor(len(files), func(i int) {
		for _, inc := range includes(filepath.Join(dir, files[i])) {
			if to := resolveInclude(files[i], inc, exists); to != "" {
				edges[i] = append(edges[i], edge{files[i], to})
			}
		}
	})
	rev := map[string][]string{}
	for _, es := range edges {
		for _, e := range es {
			rev[e.to] = append(rev[e.to], e.from)
		}
	}
	return rev, nil
}

// includedFile is one #include: its name and whether it was "quoted".
type includedFile struct {
	name   string
	quoted bool
}

// includes reads the #include lines of a file.
func includes(file string) []includedFile {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	var out []includedFile
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<16), 1<<24)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "#") {
			continue
		}
		rest := strings.TrimSpace(line[1:])
		if !strings.HasPrefix(rest, "include") {
			continue
		}
		rest = strings.TrimSpace(rest[len("include"):])
		switch {
		case strings.HasPrefix(rest, "<"):
			if end := strings.IndexByte(rest, '>'); end > 1 {
				out = append(out, includedFile{rest[1:end], false})
			}
		case strings.HasPrefix(rest, `"`):
			if end := strings.IndexByte(rest[1:], '"'); end > 0 {
				out = append(out, includedFile{rest[1 : end+1], true})
			}
		}
	}
	return out
}

// resolveInclude finds the tree file an #include names: a quoted name
// beside the including file first, then the include path.
func resolveInclude(from string, inc includedFile, exists map[string]bool) string {
	if inc.quoted {
		if p := path.Join(path.Dir(from), inc.name); exists[p] {
			return p
		}
	}
	for _, dir := range includePath {
		if p := path.Join(dir, inc.name); exists[p] {
			return p
		}
	}
	return ""
}
