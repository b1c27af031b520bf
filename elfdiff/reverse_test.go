package elfdiff_test

import (
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
)

// TestReverseCorpus diffs every corpus pair the other way round (the
// patched object as the original): changes become removals, new functions
// disappear, statics vanish. Whatever the verdict, it must be a clean exit
// status 0..3 with no internal error, and an output must be well formed.
func TestReverseCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			res, err := diffPaths(t, c.patched, c.orig, nil, nil, c.env)
			if err != nil && strings.Contains(err.Error(), "internal error") {
				t.Fatal(err)
			}
			t.Logf("exit %d: %v", elfdiff.ExitCode(err), err)
			if err == nil {
				out, werr := res.Output.Write()
				if werr != nil {
					t.Fatal(werr)
				}
				checkWellFormed(t, out)
			}
		})
	}
}
