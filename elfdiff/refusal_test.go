package elfdiff_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// TestRefusalsFromTable checks that every refusal of the gcc-built cases
// carries its table entry: the key, the exit status and the hint.
func TestRefusalsFromTable(t *testing.T) {
	met := map[refusal.Key]bool{}
	for _, c := range loadOwnCases(t) {
		_, err, _ := c.run()
		code := elfdiff.ExitCode(err)
		if code == elfdiff.ExitOK || code == elfdiff.ExitNoChange {
			continue
		}
		var e *refusal.Error
		if !errors.As(err, &e) {
			t.Errorf("%s: %v is not a refusal", filepath.Base(c.dir), err)
			continue
		}
		want := refusal.Lookup(e.Key)
		hintOK := e.Hint == want.Hint
		if want.HintFormat {
			// A hint naming the element: the table's text up to its
			// first verb, then the element, no verb left.
			prefix, _, _ := strings.Cut(want.Hint, "%")
			hintOK = strings.HasPrefix(e.Hint, prefix) && !strings.Contains(e.Hint, "%")
		}
		if e.Object == "" || !strings.HasPrefix(err.Error(), e.Object+": ") {
			t.Errorf("%s: %s refusal %q does not name its object", filepath.Base(c.dir), e.Key, err)
		}
		if e.Code != want.Code || !hintOK || e.Hint == "" {
			t.Errorf("%s: %s refusal with exit %d and hint %q, the table says %d and %q", filepath.Base(c.dir), e.Key, e.Code, e.Hint, want.Code, want.Hint)
		}
		met[e.Key] = true
	}
	if len(met) < 4 {
		t.Errorf("the cases met %d kinds of refusal (%v), want at least 4", len(met), met)
	}
	t.Logf("refusals met: %v", met)
}
