package guest

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// writeExpect writes a .expect file into dir and returns its path.
func writeExpect(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestReadExpectations reads every key, comments, tabs and CRLF line
// ends; a missing file has no checks.
func TestReadExpectations(t *testing.T) {
	dir := t.TempDir()
	good := writeExpect(t, dir, "a.expect", "# a comment\ndesc x\noutcome build\nchanged fs/proc/cmdline.o cmdline_proc_show\n"+
		"new fs/proc/cmdline.o helper\nrefuse r\nhint h\n\nkmod xfs\r\ncheck\tcat /proc/cmdline\npatched kpatch\nunpatched ^console=\n"+
		"check uname -r\n  unpatched \t^6\\.1\n")
	e, err := ReadExpectations(good)
	if err != nil {
		t.Fatal(err)
	}
	want := &Expectations{Checks: []Check{
		{Command: "cat /proc/cmdline", Patched: "kpatch", Unpatched: "^console=", Source: good + ":10"},
		{Command: "uname -r", Unpatched: `^6\.1`, Source: good + ":13"},
	}, Kmods: []string{"xfs"}}
	if d := cmp.Diff(want, e); d != "" {
		t.Errorf("expectations (-want +got):\n%s", d)
	}
	if e, err := ReadExpectations(filepath.Join(dir, "none.expect")); err != nil || len(e.Checks) != 0 {
		t.Errorf("missing file: %v, %v", e, err)
	}
	if got := ExpectPath("/p/x.patch"); got != "/p/x.expect" {
		t.Errorf("ExpectPath = %s", got)
	}
}

// TestReadExpectationsRefuses: every line is parsed; an unknown key (a
// misspelling), a malformed line or bytes that are not text are refused
// with the file and line, as refusal.ExpectMalformed with its hint. The
// messages are golden.
func TestReadExpectationsRefuses(t *testing.T) {
	dir := t.TempDir()
	random := make([]byte, 3000)
	rand.New(rand.NewSource(16)).Read(random)
	cases := []struct{ name, body string }{
		{"misspelled-key", "check cat /proc/cmdline\npatchd kpatch\nunpatched console\n"},
		{"unknown-key", "desc x\nexpect something\n"},
		{"random-bytes", string(random)},
		{"nul-byte", "desc x\ncheck cat /proc/cmdline\x00\n"},
		{"not-utf8", "desc caf\xe9\n"},
		{"orphan-patched", "patched x\n"},
		{"bad-regexp", "check true\npatched (\n"},
		{"empty-regexp", "check true\nunpatched\n"},
		{"twice-patched", "check true\npatched a\npatched b\n"},
		{"check-without-command", "check\npatched x\n"},
		{"check-compares-nothing", "check true\ncheck cat /proc/cmdline\npatched x\n"},
		{"last-check-compares-nothing", "check cat /proc/cmdline\npatched x\ncheck true\n"},
		{"bad-kmod", "kmod ../x\n"},
		{"bad-outcome", "outcome built\n"},
		{"bad-changed", "changed fs/proc/cmdline.o\n"},
		{"empty-desc", "desc\n"},
	}
	var golden strings.Builder
	for _, c := range cases {
		p := writeExpect(t, dir, c.name+".expect", c.body)
		_, err := ReadExpectations(p)
		var re *refusal.Error
		if !errors.As(err, &re) || re.Key != refusal.ExpectMalformed || re.Hint == "" {
			t.Errorf("%s: error %v, want the refusal %s with its hint", c.name, err, refusal.ExpectMalformed)
			continue
		}
		if !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("%s: error %v does not name the file and line", c.name, err)
		}
		// The regexp's own error stays reachable through the refusal.
		var se *syntax.Error
		if c.name == "bad-regexp" && !errors.As(err, &se) {
			t.Errorf("%s: error %v does not wrap the regexp's *syntax.Error", c.name, err)
		}
		fmt.Fprintf(&golden, "%s\n", strings.ReplaceAll(err.Error(), dir, "DIR"))
	}
	testutil.Golden(t, "testdata/expect-refusals.golden", golden.String())
}

// TestReadPatchExpectations joins the checks of several patches and
// refuses, before any build, checks that expect the same output with the
// patch as without it.
func TestReadPatchExpectations(t *testing.T) {
	dir := t.TempDir()
	patch := func(name, expect string) string {
		if expect != "" {
			writeExpect(t, dir, name+".expect", expect)
		}
		return filepath.Join(dir, name+".patch")
	}
	tells := patch("tells", "kmod xfs\ncheck cat /proc/x\npatched ^new$\nunpatched ^old$\n")
	same := patch("same", "kmod xfs\ncheck uname -r\npatched ^6\nunpatched ^6\n")
	onlyUnpatched := patch("only-unpatched", "check cat /proc/version\nunpatched Linux\n")
	onlyPatched := patch("only-patched", "check cat /proc/version\npatched Linux\n")
	none := patch("none", "")
	describes := patch("describes", "desc only words\noutcome build\nchanged fs/x.o f\n")

	for _, ok := range [][]string{{tells}, {same, tells}, {tells, same, onlyUnpatched}, {none}, {describes}, {none, describes}, {onlyPatched}} {
		e, err := ReadPatchExpectations(ok)
		if err != nil {
			t.Errorf("%v: %v", ok, err)
			continue
		}
		if ok[0] == same && (len(e.Checks) != 2 || !slices.Equal(e.Kmods, []string{"xfs"})) {
			t.Errorf("%v: checks %v, modules %v; want 2 checks and xfs once", ok, e.Checks, e.Kmods)
		}
	}
	for _, bad := range [][]string{{same}, {onlyUnpatched}, {same, onlyUnpatched, none}} {
		_, err := ReadPatchExpectations(bad)
		var re *refusal.Error
		if !errors.As(err, &re) || re.Key != refusal.VerifyIndistinct {
			t.Errorf("%v: error %v, want %s", bad, err, refusal.VerifyIndistinct)
			continue
		}
		if !strings.Contains(err.Error(), "the checks cannot tell the patch from no patch") || !strings.Contains(err.Error(), ExpectPath(bad[0])) {
			t.Errorf("%v: message %q", bad, err)
		}
	}
}
