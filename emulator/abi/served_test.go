package abi

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// notCalls are HC_* macros that are not hypercalls.
var notCalls = map[string]bool{
	"HC_NR_KERNEL": true, // the first number the kernel's own calls do not use
}

// TestEveryHypercallServed fails when a hypercall the headers define is
// named by no Go code of the target (outside tests): a hypercall added to
// a header and regenerated, but never served, would otherwise show up
// only as a machine error when the kernel first issues it.
func TestEveryHypercallServed(t *testing.T) {
	used := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "kernel" && filepath.Dir(p) == "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "abi" && strings.HasPrefix(sel.Sel.Name, "HC_") {
					used[sel.Sel.Name] = append(used[sel.Sel.Name], p)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	n := 0
	for _, v := range generated {
		if !strings.HasPrefix(v.name, "HC_") || notCalls[v.name] {
			continue
		}
		n++
		if len(used[v.name]) == 0 {
			missing = append(missing, v.name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("hypercalls defined by the headers but served by no Go code (use abi.NAME where the call is handled): %s", strings.Join(missing, ", "))
	}
	if n < 20 {
		t.Errorf("only %d hypercalls in the generated constants", n)
	}
}
