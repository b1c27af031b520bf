package expect

import (
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/guest"
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

// TestRead reads every key, comments, tabs and CRLF line
// ends; a missing file has no checks.
func TestRead(t *testing.T) {
	dir := t.TempDir()
	good := writeExpect(t, dir, "a.expect", "# a comment\ndesc x\noutcome build\nchanged fs/proc/cmdline.o cmdline_proc_show\n"+
		"new fs/proc/cmdline.o helper\nrefuse r\nhint h\n\nkmod xfs\r\ncheck\tcat /proc/cmdline\npatched kpatch\nunpatched ^console=\n"+
		"check uname -r\n  unpatched \t^6\\.1\n")
	e, err := Read(good, Qemu)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Path: good, Verifier: Qemu, Guest: []guest.Check{
		{Command: "cat /proc/cmdline", Patched: "kpatch", Unpatched: "^console=", Source: good + ":10"},
		{Command: "uname -r", Unpatched: `^6\.1`, Source: good + ":13"},
	}, Kmods: []string{"xfs"}, Desc: "x", Outcome: "build", Changed: []string{"fs/proc/cmdline.o cmdline_proc_show"},
		New: []string{"fs/proc/cmdline.o helper"}, Refuse: []string{"r"}, Hint: []string{"h"}}
	if d := cmp.Diff(want, e); d != "" {
		t.Errorf("expectations (-want +got):\n%s", d)
	}
	if e, err := Read(filepath.Join(dir, "none.expect"), Qemu); err != nil || len(e.Guest) != 0 {
		t.Errorf("missing file: %v, %v", e, err)
	}
	if got := Path("/p/x.patch"); got != "/p/x.expect" {
		t.Errorf("Path = %s", got)
	}
}

// TestReadRefuses: every line is parsed; an unknown key (a
// misspelling), a malformed line or bytes that are not text are refused
// with the file and line, as refusal.ExpectMalformed with its hint. The
// messages are golden.
func TestReadRefuses(t *testing.T) {
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
		_, err := Read(p, Qemu)
		var re *refusal.Error
		if !errors.As(err, &re) || re.Key != refusal.ExpectMalformed || re.Hint == "" {
			t.Errorf("%s: error %v, want the refusal %s with its hint", c.name, err, refusal.ExpectMalformed)
			continue
		}
		if !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("%s: error %v does not name the file and line", c.name, err)
		}
		fmt.Fprintf(&golden, "%s\n", strings.ReplaceAll(err.Error(), dir, "DIR"))
	}
	testutil.Golden(t, "testdata/expect-refusals.golden", golden.String())
}

// TestReadPatches joins the checks of several patches and
// refuses, before any build, checks that expect the same output with the
// patch as without it.
func TestReadPatches(t *testing.T) {
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
		e, err := ReadPatches(ok, Qemu)
		if err != nil {
			t.Errorf("%v: %v", ok, err)
			continue
		}
		if ok[0] == same && (len(e.Guest) != 2 || !slices.Equal(e.Kmods, []string{"xfs"})) {
			t.Errorf("%v: checks %v, modules %v; want 2 checks and xfs once", ok, e.Guest, e.Kmods)
		}
	}
	for _, bad := range [][]string{{same}, {onlyUnpatched}, {same, onlyUnpatched, none}} {
		_, err := ReadPatches(bad, Qemu)
		var re *refusal.Error
		if !errors.As(err, &re) || re.Key != refusal.VerifyIndistinct {
			t.Errorf("%v: error %v, want %s", bad, err, refusal.VerifyIndistinct)
			continue
		}
		if !strings.Contains(err.Error(), "the checks cannot tell the patch from no patch") || !strings.Contains(err.Error(), Path(bad[0])) {
			t.Errorf("%v: message %q", bad, err)
		}
	}
}

// TestReadEmulated reads the emulated target's keys: checks of the check
// language and module lines in order, why-not-reached and the bundled
// catalogue's keys.
func TestReadEmulated(t *testing.T) {
	dir := t.TempDir()
	p := writeExpect(t, dir, "a.expect", "desc x\noutcome build\nstack base\nfeatures popcnt\nnonreplace\n"+
		"check module mod1\ncheck call 8 u32=41 => returned 43\nwhy-not-reached helper only on error\nchanged vmlinux.o f\n")
	e, err := Read(p, Emulated)
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Path: p, Verifier: Emulated, Target: []string{"module mod1", "call 8 u32=41 => returned 43"},
		NotReached: map[string]string{"helper": "only on error"}, Desc: "x", Outcome: "build", Changed: []string{"vmlinux.o f"},
		Stack: []string{"base"}, Features: []string{"popcnt"}, NonReplace: true}
	if d := cmp.Diff(want, e); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	s, err := ReadPatches([]string{filepath.Join(dir, "a.patch")}, Emulated)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.Specs, []string{"call 8 u32=41 => returned 43"}) || len(s.Own) != 1 || len(s.Checks) <= len(s.Own) ||
		s.NotReached["helper"] != "only on error" {
		t.Errorf("set: specs %v, %d own of %d checks, not reached %v", s.Specs, len(s.Own), len(s.Checks), s.NotReached)
	}
}

// TestReadOtherVerifier: a key only the other verifier reads, or a check
// the chosen verifier cannot parse, is refused naming the file and line
// and saying which verifier reads it. The messages are golden.
func TestReadOtherVerifier(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, body string
		v          Verifier
	}{
		{"patched-in-emulated", "check call 8 u32=41 => returned 43\npatched x\n", Emulated},
		{"kmod-in-emulated", "kmod xfs\n", Emulated},
		{"shell-check-in-emulated", "desc x\ncheck cat /proc/cmdline\n", Emulated},
		{"bad-module-in-emulated", "check module ../m\n", Emulated},
		{"misspelled-in-emulated", "chek call 8\n", Emulated},
		{"bad-why-not-reached", "why-not-reached f\n", Emulated},
		{"why-not-reached-in-qemu", "desc x\nwhy-not-reached f because\n", Qemu},
		{"stack-in-qemu", "stack other\n", Qemu},
		{"nonreplace-with-value", "nonreplace yes\n", Emulated},
	}
	var golden strings.Builder
	for _, c := range cases {
		p := writeExpect(t, dir, c.name+".expect", c.body)
		_, err := Read(p, c.v)
		var re *refusal.Error
		if !errors.As(err, &re) || re.Key != refusal.ExpectMalformed || !strings.HasPrefix(err.Error(), p+":") {
			t.Errorf("%s: error %v, want the refusal %s naming %s and its line", c.name, err, refusal.ExpectMalformed, p)
			continue
		}
		fmt.Fprintf(&golden, "%s (%s)\n", strings.ReplaceAll(err.Error(), dir, "DIR"), c.v)
	}
	testutil.Golden(t, "testdata/expect-verifiers.golden", golden.String())
}

// TestCatalogueFiles reads every .expect of the repository's catalogues
// with its verifier: the bundled kernel's (testdata/patches) for the
// emulated target, the real kernels' for qemu.
func TestCatalogueFiles(t *testing.T) {
	n := 0
	for dir, v := range map[string]Verifier{"patches": Emulated, "realpatches": Qemu, "realpatches-6.12": Qemu} {
		files, err := filepath.Glob(filepath.Join("..", "testdata", dir, "*.expect"))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no .expect files (%v)", dir, err)
		}
		for _, f := range files {
			if _, err := Read(f, v); err != nil {
				t.Errorf("%v", err)
			}
			n++
		}
	}
	t.Logf("%d catalogue files read", n)
}
