package elfdiff_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/kpatchfmt"
)

// TestSelfDiffIsNoChange diffs every corpus object against itself: there
// must be no functional change (exit 3), whatever the object holds, except
// that load/unload callbacks alone make a patch (exit 0), as in the
// reference.
func TestSelfDiffIsNoChange(t *testing.T) {
	for _, c := range loadCorpus(t) {
		for _, path := range []string{c.orig, c.patched} {
			t.Run(filepath.Base(path), func(t *testing.T) {
				a, err := elfobj.Open(path)
				if err != nil {
					t.Fatal(err)
				}
				want := elfdiff.ExitNoChange
				for _, s := range a.Sections {
					if strings.HasPrefix(s.Name, kpatchfmt.CallbackPrefix) {
						want = elfdiff.ExitOK
					}
				}
				res, err := diffPaths(t, path, path, nil, nil, c.env)
				if code := elfdiff.ExitCode(err); code != want {
					t.Fatalf("exit %d (%v), want %d", code, err, want)
				}
				if want == elfdiff.ExitOK && (len(res.Report.Changed) > 0 || len(res.Report.Funcs) > 0) {
					t.Errorf("self diff reports changed functions %v", res.Report.Changed)
				}
			})
		}
	}
}
