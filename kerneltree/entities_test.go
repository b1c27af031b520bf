package kerneltree

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestHeaderEntities splits a header with every kind of entity; the
// golden lists each with its lines.
func TestHeaderEntities(t *testing.T) {
	src, err := os.ReadFile("testdata/entities.h")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range HeaderEntities(src) {
		fmt.Fprintf(&b, "%d-%d %s\n", e.Start, e.End, e)
	}
	testutil.Golden(t, "testdata/entities.golden", b.String())
}

// TestInnermost: a #define inside a struct is its own entity; a line
// between entities belongs to none.
func TestInnermost(t *testing.T) {
	src, err := os.ReadFile("testdata/entities.h")
	if err != nil {
		t.Fatal(err)
	}
	ents := HeaderEntities(src)
	for _, c := range []struct {
		line int
		want string
	}{
		{12, "macro COUNTER_MAX"},
		{11, "type struct counter"},
		{37, "function counter_log"},
		{30, ""}, // the comment
		{2, `top-level "#ifndef _TEST_ENTITIES_H" (line 2)`},
	} {
		e, ok := innermost(ents, c.line, c.line)
		got := ""
		if ok {
			got = e.String()
		}
		if got != c.want {
			t.Errorf("line %d: %q, want %q", c.line, got, c.want)
		}
	}
}
