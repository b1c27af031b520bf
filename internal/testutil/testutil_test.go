package testutil

import (
	"strings"
	"testing"
)

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	how, msg string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	r.how, r.msg = "fail", format
}
func (r *recorder) Skipf(format string, args ...any) {
	if r.how == "" {
		r.how, r.msg = "skip", format
	}
}

func TestMissingFailsInCI(t *testing.T) {
	t.Setenv("KPATCH_UNIT_OBJS", t.TempDir()+"/absent")
	for _, ci := range []string{"", "false", "true"} {
		t.Setenv("CI", ci)
		want := "skip"
		if ci == "true" {
			want = "fail"
		}
		for name, call := range map[string]func(testing.TB){
			"CorpusDir": func(tb testing.TB) { CorpusDir(tb) },
			"NeedTool":  func(tb testing.TB) { NeedTool(tb, "no-such-tool-kpatchgo") },
			"OptionalCorpus": func(tb testing.TB) {
				if _, ok := OptionalCorpus(tb); !ok && !InCI() {
					tb.Skipf("absent")
				}
			},
		} {
			r := &recorder{TB: t}
			call(r)
			if r.how != want {
				t.Errorf("CI=%q %s: test ended with %q (%s), want %q", ci, name, r.how, r.msg, want)
			}
			if want == "fail" && !strings.HasPrefix(r.msg, "CI=true") {
				t.Errorf("CI=%q %s: message %q does not say CI=true", ci, name, r.msg)
			}
		}
	}
}

func TestCorpusFound(t *testing.T) {
	t.Setenv("KPATCH_UNIT_OBJS", "")
	dir, ok := CorpusPath()
	if !strings.HasSuffix(dir, "/shared/kpatch-unit-objs/x86_64") {
		t.Errorf("corpus path %s is not ../shared/kpatch-unit-objs/x86_64 beside the repo", dir)
	}
	if !ok {
		Missing(t, "corpus not at %s", dir)
	}
}
