package elfdiff_test

import (
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/elfobj"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// TestReverseCorpus diffs every corpus pair the other way round (the
// patched object as the original): changes become removals, new functions
// disappear, statics vanish. Whatever the verdict, it must be a clean exit
// status 0..3 with no internal error, and an output must be well formed.
func TestReverseCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.name, func(t *testing.T) {
			a, err := elfobj.Open(c.patched)
			if err != nil {
				t.Fatal(err)
			}
			b, err := elfobj.Open(c.orig)
			if err != nil {
				t.Fatal(err)
			}
			tab, err := symtab.Load(c.patched)
			if err != nil {
				t.Fatal(err)
			}
			res, err := elfdiff.Diff(a, b, elfdiff.Options{Parent: "vmlinux", Table: tab,
				Getenv: func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }})
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
