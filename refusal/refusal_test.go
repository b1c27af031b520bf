package refusal_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// TestTable checks each entry: a unique key, an exit status the command
// can have, a hint, one README name per verb.
func TestTable(t *testing.T) {
	seen := map[refusal.Key]bool{}
	for _, e := range refusal.All() {
		if e.Key == "" || seen[e.Key] {
			t.Errorf("%q: empty or duplicate key", e.Key)
		}
		seen[e.Key] = true
		if e.Code != refusal.ExitError && (e.Code != refusal.ExitFatal || e.Cmd != refusal.Diff) {
			t.Errorf("%s: exit status %d", e.Key, e.Code)
		}
		if strings.TrimSpace(e.Hint) == "" {
			t.Errorf("%s: no hint", e.Key)
		}
		if e.Verbs() != len(e.Args) {
			t.Errorf("%s: %d verbs in %q, %d names", e.Key, e.Verbs(), e.Format, len(e.Args))
		}
		if strings.Contains(e.Shown(), "?") && !strings.Contains(e.Format, "?") {
			t.Errorf("%s: shown as %q", e.Key, e.Shown())
		}
		if e.HintFormat && (strings.Contains(e.ShownHint(), "?") || strings.Contains(e.ShownHint(), "%")) {
			t.Errorf("%s: hint shown as %q", e.Key, e.ShownHint())
		}
	}
	for _, k := range keyConstants(t) {
		if !seen[k] {
			t.Errorf("key %s has no entry", k)
		}
	}
}

// TestMessage checks formatting and the cause a %w message wraps.
func TestMessage(t *testing.T) {
	e := refusal.New(refusal.ObjectSize, "jiffies")
	if e.Msg != "object size mismatch: jiffies" || e.Code != 2 || e.Err != nil || e.Hint == "" {
		t.Errorf("New(ObjectSize) = %+v", e)
	}
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	e = refusal.New(refusal.CompilerCheck, err)
	if !errors.Is(e, os.ErrNotExist) {
		t.Errorf("%v: errors.Is(os.ErrNotExist) is false", e)
	}
	if !strings.HasPrefix(e.Error(), "compiler check: open ") {
		t.Errorf("message %q", e.Error())
	}
	if got := refusal.Lookup(refusal.StaticLocalRemoved).Shown(); got != "reference to static local variable X in F was removed" {
		t.Errorf("Shown = %q", got)
	}
	// A hint that names the element: formatted with the message's
	// arguments, shown with their names.
	e = refusal.New(refusal.HunkFuzz, 2, "@@ -5,7 +5,8 @@", 0, "fs/x.c", 1, 12)
	if want := "hunk #2 of fs/x.c applies at line 12 only with 1 of its context lines ignored"; !strings.HasPrefix(e.Hint, want) {
		t.Errorf("HunkFuzz hint %q, want it to start with %q", e.Hint, want)
	}
	if got := refusal.Lookup(refusal.HunkFuzz).ShownHint(); !strings.HasPrefix(got, "hunk #N of FILE applies at line L only with F of its") {
		t.Errorf("ShownHint = %q", got)
	}
}

// TestInAndFind checks a refusal naming its object (the diff engine's):
// the message follows the object, the cause stays visible, and Find
// reaches it through an outer refusal and a join, where errors.As stops
// at the outer one.
func TestInAndFind(t *testing.T) {
	_, cause := os.Open(filepath.Join(t.TempDir(), "missing"))
	inner := refusal.In("fs/proc/meminfo.o", "meminfo_proc_show", refusal.SymbolLookup, cause)
	if !strings.HasPrefix(inner.Error(), "fs/proc/meminfo.o: ") || !strings.HasSuffix(inner.Error(), inner.Msg) ||
		inner.Element != "meminfo_proc_show" || !errors.Is(inner, os.ErrNotExist) {
		t.Errorf("In = %+v, Error() %q", inner, inner.Error())
	}
	if e := refusal.New(refusal.ObjectSize, "jiffies"); e.Error() != e.Msg {
		t.Errorf("a refusal without an object: Error() %q, Msg %q", e.Error(), e.Msg)
	}
	outer := refusal.New(refusal.ObjectErrors, 2, "...")
	outer.Err = errors.Join(errors.New("other"), inner)
	wrapped := fmt.Errorf("build: %w", outer)
	var first *refusal.Error
	if !errors.As(wrapped, &first) || first != outer {
		t.Errorf("errors.As found %+v, want the outer refusal", first)
	}
	if got := refusal.Find(wrapped, refusal.SymbolLookup); got != inner {
		t.Errorf("Find(SymbolLookup) = %+v, want the inner refusal", got)
	}
	if got := refusal.Find(wrapped, refusal.ObjectErrors); got != outer {
		t.Errorf("Find(ObjectErrors) = %+v, want the outer refusal", got)
	}
	if got := refusal.Find(wrapped, refusal.DataChanged); got != nil {
		t.Errorf("Find(DataChanged) = %+v, want nil", got)
	}
	if got := refusal.Find(nil, refusal.DataChanged); got != nil {
		t.Errorf("Find(nil) = %+v", got)
	}
}

// pending are keys whose call sites are on another branch.
var pending = map[refusal.Key]bool{}

// TestUses reads the project's code: every key is used, and every call
// that refuses by a literal key passes as many arguments as its format
// has verbs (go vet cannot check these formats).
func TestUses(t *testing.T) {
	root := testutil.RepoRoot()
	used := map[refusal.Key]bool{}
	byName := map[string]refusal.Entry{}
	for _, e := range refusal.All() {
		byName[keyName(t, e.Key)] = e
	}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == filepath.Join(root, "refusal") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "refusal" {
					if e, ok := byName[sel.Sel.Name]; ok {
						used[e.Key] = true
					}
				}
			}
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			var fn string
			switch f := call.Fun.(type) {
			case *ast.SelectorExpr:
				fn = f.Sel.Name
			case *ast.Ident:
				fn = f.Name
			}
			extra := map[string]int{"New": 0, "refuse": 1}[fn]
			if fn != "New" && fn != "refuse" {
				return true
			}
			sel, ok := call.Args[0].(*ast.SelectorExpr)
			if !ok {
				return true
			}
			e, ok := byName[sel.Sel.Name]
			if !ok {
				return true
			}
			if got := len(call.Args) - 1 - extra; got != e.Verbs() && call.Ellipsis == token.NoPos {
				t.Errorf("%s: %s(%s) with %d arguments, its format %q has %d verbs", fset.Position(call.Pos()), fn, sel.Sel.Name, got, e.Format, e.Verbs())
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range refusal.All() {
		if !used[e.Key] && !pending[e.Key] {
			t.Errorf("key %s (%q) is used nowhere", e.Key, e.Shown())
		}
	}
	if len(used) < 60 {
		t.Errorf("only %d keys used: is the walk reading the code?", len(used))
	}
}

// keyConstants returns the Key constants refusal.go declares.
func keyConstants(t *testing.T) []refusal.Key {
	var keys []refusal.Key
	for _, c := range constants(t) {
		keys = append(keys, refusal.Key(c[1]))
	}
	return keys
}

// keyName returns the Go name of key k.
func keyName(t *testing.T, k refusal.Key) string {
	for _, c := range constants(t) {
		if c[1] == string(k) {
			return c[0]
		}
	}
	t.Fatalf("no constant for key %q", k)
	return ""
}

// constants returns the name and value of each Key constant of refusal.go.
func constants(t *testing.T) [][2]string {
	f, err := parser.ParseFile(token.NewFileSet(), "refusal.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out [][2]string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if id, ok := v.Type.(*ast.Ident); !ok || id.Name != "Key" {
				continue
			}
			for i, n := range v.Names {
				lit := v.Values[i].(*ast.BasicLit)
				out = append(out, [2]string{n.Name, strings.Trim(lit.Value, `"`)})
			}
		}
	}
	return out
}
