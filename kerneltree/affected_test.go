package kerneltree

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// TestAffectedDebian chooses the objects of header patches of the
// running kernel by their changed entities; the golden lists the
// choices and, for the small ones, the objects.
func TestAffectedDebian(t *testing.T) {
	tree, r := debianTree(t)
	ix, err := LoadIndex(r, testutil.CacheDir(t), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	catalogue := filepath.Join(testutil.RepoRoot(), "testdata", "realpatches")
	cases := []struct {
		name, patch string // a catalogue patch, or the patch's text
		max         int    // the most objects (0: at least 5000)
		refused     refusal.Key
	}{
		// The catalogue's header patches: a static inline, inlined by
		// few of the header's includers.
		{name: "header-inline", patch: "@header-inline.patch", max: 2},
		{name: "header-seq-option", patch: "@header-seq-option.patch", max: 30},
		// A struct: every object whose debug info has it.
		{name: "header-struct", patch: "@header-struct-refused.patch"},
		// A macro: the include graph.
		{name: "macro", patch: `--- a/include/linux/seq_file.h
+++ b/include/linux/seq_file.h
@@ -267,3 +267,3 @@
 
-#define SEQ_START_TOKEN ((void *)1)
+#define SEQ_START_TOKEN ((void *)2)
 /*
`},
		// Only a comment: no entity, no object.
		{name: "comment", patch: `--- a/include/linux/sched/xacct.h
+++ b/include/linux/sched/xacct.h
@@ -16,2 +16,3 @@
 
+/* wchar counts bytes. */
 static inline void add_wchar(struct task_struct *tsk, ssize_t amt)
`, refused: refusal.NoFunctionalChange},
		// An extern declaration: the objects that refer to it.
		{name: "declaration", patch: `--- a/include/linux/seq_file.h
+++ b/include/linux/seq_file.h
@@ -113,3 +113,3 @@
 int seq_release(struct inode *, struct file *);
-int seq_write(struct seq_file *seq, const void *data, size_t len);
+int seq_write(struct seq_file *seq, const void *data, size_t count);
 
`, max: 30},
	}
	var b strings.Builder
	for _, c := range cases {
		var p *patch.Patch
		if name, ok := strings.CutPrefix(c.patch, "@"); ok {
			p, err = patch.Read(filepath.Join(catalogue, name))
		} else {
			p, err = patch.Parse(c.name+".patch", []byte(c.patch))
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		start := time.Now()
		var objs []*Object
		var reasons []Reason
		var choices []Choice
		err = tree.Locked(func() (err error) {
			objs, reasons, choices, err = Affected(ix, tree.Dir, []*patch.Patch{p})
			return err
		})
		t.Logf("%s: %d objects in %v", c.name, len(objs), time.Since(start))
		var re *refusal.Error
		switch {
		case c.refused != "":
			if !errors.As(err, &re) || re.Key != c.refused {
				t.Errorf("%s: %v, want refusal %s", c.name, err, c.refused)
			}
		case err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.max == 0 && len(objs) < 5000:
			t.Errorf("%s: %d objects, want the include graph's thousands", c.name, len(objs))
		case c.max > 0 && (len(objs) == 0 || len(objs) > c.max):
			t.Errorf("%s: %d objects, want 1 to %d", c.name, len(objs), c.max)
		}
		fmt.Fprintf(&b, "%s:\n", c.name)
		for _, ch := range choices {
			fmt.Fprintf(&b, "  %s\n", ch)
		}
		if c.max > 0 {
			for _, r := range reasons {
				fmt.Fprintf(&b, "  %s (%s): %s\n", r.Object.Path, r.Object.Parent, r.Entity)
			}
		}
	}
	testutil.Golden(t, "testdata/affected.golden", b.String())
}
