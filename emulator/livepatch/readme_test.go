package livepatch_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// firstTable returns the first markdown table of text: its run of lines
// starting with "|".
func firstTable(text string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(text, "\n") {
		if strings.HasPrefix(l, "|") {
			b.WriteString(l)
		} else if b.Len() > 0 {
			break
		}
	}
	return b.String()
}

// TestReadmeFigures: the cost tables of the READMEs are the golden files'
// tables, verbatim (refresh the goldens with -update, then copy the
// tables this test names): no figure is typed by hand.
func TestReadmeFigures(t *testing.T) {
	for readme, goldens := range map[string][]string{
		"README.md":                            {"scenario-seeds", "scenario-long-sleeper", "scenario-schedule", "hammered", "mutations", "scenario-realistic"},
		filepath.Join("..", "..", "README.md"): {"scenario-seeds", "scenario-realistic"},
	} {
		text, err := os.ReadFile(readme)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range goldens {
			golden, err := os.ReadFile(filepath.Join("testdata", g+".golden"))
			if err != nil {
				t.Fatal(err)
			}
			table := firstTable(string(golden))
			if table == "" {
				t.Errorf("testdata/%s.golden has no table", g)
				continue
			}
			if !strings.Contains(string(text), table) {
				t.Errorf("%s does not hold the table of testdata/%s.golden:\n%s", readme, g, table)
			}
		}
	}
}
