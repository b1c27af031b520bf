package livepatch_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

func TestParseCheck(t *testing.T) {
	for _, c := range []struct {
		spec string
		want livepatch.Check
		err  string
	}{
		{spec: "syscall 2 VMALLOCCHUNK:", want: livepatch.Check{Name: "meminfo", Syscall: 2, Want: "VMALLOCCHUNK:"}},
		{spec: "syscall 4 last 14", want: livepatch.Check{Name: "syscall 4", Syscall: 4, Want: "last 14"}},
		{spec: "proc version", want: livepatch.Check{Name: "proc version", Proc: "version"}},
		{spec: `call 7 "say \"hi\" => x" 6 => (6 bytes)`, want: livepatch.Check{Name: `call 7 "say \"hi\" => x" 6`, Syscall: 7, Call: true,
			Args: []livepatch.CheckArg{{Kind: "string", Text: `say "hi" => x`}, {Kind: "int", Value: 6}}, Want: "(6 bytes)"}},
		{spec: `call 7 "kpatch" 6 => "kpatch" (6 bytes)`, want: livepatch.Check{Name: `call 7 "kpatch" 6`, Syscall: 7, Call: true,
			Args: []livepatch.CheckArg{{Kind: "string", Text: "kpatch"}, {Kind: "int", Value: 6}}, Want: `"kpatch" (6 bytes)`}},
		{spec: "call 8 u32=41 => returned 43", want: livepatch.Check{Name: "call 8 u32=41", Syscall: 8, Call: true,
			Args: []livepatch.CheckArg{{Kind: "u32", Value: 41}}, Want: "returned 43"}},
		{spec: "call 8 0x10", want: livepatch.Check{Name: "call 8 0x10", Syscall: 8, Call: true, Args: []livepatch.CheckArg{{Kind: "int", Value: 16}}}},
		{spec: "step 12 => step 100", want: livepatch.Check{Name: "step 12", Syscall: 12, Call: true, Step: true, Want: "step 100"}},
		{spec: "func hello:hello_greeting string => livepatched", want: livepatch.Check{Name: "func hello:hello_greeting string",
			Func: "hello:hello_greeting", String: true, Want: "livepatched"}},
		{spec: "sleep 12s", want: livepatch.Check{Name: "sleep 12s", Syscall: 11, Call: true,
			Args: []livepatch.CheckArg{{Kind: "int", Value: 12e9}}, Limit: 12e9 + 5e8}},
		{spec: "var long_waits", want: livepatch.Check{Name: "var long_waits", Var: "long_waits"}},
		{spec: "step var long_waits 10s => step 2", want: livepatch.Check{Name: "step var long_waits 10s", Var: "long_waits",
			Step: true, Every: 10e9, Want: "step 2"}},
		{spec: "var a b", err: "want [OBJECT:]NAME"},
		{spec: "step var long_waits", err: "want [OBJECT:]NAME DURATION"},
		{spec: "call var x", err: "bad system call number"},
		{spec: "syscall 7 x", err: "not a text system call number"},
		{spec: "syscall 2", err: "no text to look for"},
		{spec: "proc a b", err: "want one proc entry name"},
		{spec: "call x", err: `bad system call number "x"`},
		{spec: "call 8 u32=-1", err: `bad argument "u32=-1"`},
		{spec: `call 7 "open`, err: "bad string argument"},
		{spec: "call 8 1 2 3 4", err: "at most 3"},
		{spec: "func f double", err: "want [OBJECT:]NAME long|string"},
		{spec: "sleep 2h", err: "up to 1m"},
		{spec: "sleep 1s => x", err: "shows no text"},
		{spec: "peek 1", err: "want syscall, proc, call, step, func, var or sleep"},
	} {
		got, err := livepatch.ParseCheck(c.spec)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.spec, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.spec, d)
		}
	}
}

func TestAddChecks(t *testing.T) {
	checks, want, err := livepatch.AddChecks(livepatch.DefaultChecks, []string{"syscall 2 X", "step 12", "step 12 => step 100", "proc stat"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}
	if d := cmp.Diff([]string{"version", "cmdline", "meminfo", "cpuinfo", "step 12", "proc stat"}, names); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
	if len(want) != 2 || want[0].Want != "X" || want[1].Want != "step 100" {
		t.Errorf("checks with a text: %+v", want)
	}
	if _, _, err := livepatch.AddChecks(nil, []string{"call"}); err == nil {
		t.Errorf("a malformed check was taken")
	}
}

func TestFuncRunString(t *testing.T) {
	for _, c := range []struct {
		run  livepatch.FuncRun
		want string
	}{
		{livepatch.FuncRun{Func: "f", Entries: 1, Traceable: true}, "f: body ran during the checks (1 entry)"},
		{livepatch.FuncRun{Func: "f", Entries: 3, Traceable: true}, "f: body ran during the checks (3 entries)"},
		{livepatch.FuncRun{Func: "f", Traceable: true, Redirected: true, Reason: "nothing calls it"},
			"f: redirection only (called through its old address, stopped at the new entry); not reached because nothing calls it"},
		{livepatch.FuncRun{Func: "f", Traceable: true, Redirected: true},
			"f: redirection only (called through its old address, stopped at the new entry); no reason given why no check runs its body"},
		{livepatch.FuncRun{Func: "f"}, "f: new code not traceable, redirection checked only; no reason given why no check runs its body"},
	} {
		if got := c.run.String(); got != c.want {
			t.Errorf("got  %q\nwant %q", got, c.want)
		}
	}
}

// TestVerifyBodies verifies the catalogue's static-local patch (count_calls
// counts by 100) twice: with the default checks nothing calls count_calls,
// so only its redirection is proven and, without a reason, the report
// lists it as unexplained; with a step check of sys_count its body runs
// and the step is 100 with the patch, 1 without (a stated reason is then
// stale and listed).
func TestVerifyBodies(t *testing.T) {
	tree := testutil.KernelTree(t)
	patch := filepath.Join(testutil.RepoRoot(), "testdata", "patches", "static-local.patch")
	res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: tree, Patches: []string{patch},
		OutputDir: t.TempDir(), CacheDir: t.TempDir(), Jobs: 2, SkipCompilerCheck: true})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(opts livepatch.VerifyOptions) *livepatch.VerifyReport {
		t.Helper()
		opts.Vmlinux = filepath.Join(res.Running, "vmlinux")
		rep, err := livepatch.VerifyModule(res.Module, opts)
		if err != nil {
			if rep != nil {
				t.Logf("console:\n%s", rep.Console)
			}
			t.Fatal(err)
		}
		return rep
	}

	rep := verify(livepatch.VerifyOptions{})
	want := []livepatch.FuncRun{{Func: "count_calls", Traceable: true, Redirected: true}}
	if d := cmp.Diff(want, rep.Ran); d != "" {
		t.Errorf("default checks (-want +got):\n%s", d)
	}
	if u := rep.Unexplained(); len(u) != 1 || !strings.Contains(u[0], "count_calls: body did not run") {
		t.Errorf("unexplained: %q", u)
	}

	checks, _, err := livepatch.AddChecks(livepatch.DefaultChecks, []string{"step 12 => step 100"})
	if err != nil {
		t.Fatal(err)
	}
	rep = verify(livepatch.VerifyOptions{Checks: checks, NotReached: map[string]string{"count_calls": "stale"}})
	if d := cmp.Diff([]livepatch.FuncRun{{Func: "count_calls", Entries: 2, Traceable: true, Reason: "stale"}}, rep.Ran); d != "" {
		t.Errorf("with a step check (-want +got):\n%s", d)
	}
	if rep.Before["step 12"] != "step 1\n" || rep.Patched["step 12"] != "step 100\n" || rep.After["step 12"] != "step 1\n" {
		t.Errorf("step 12: before %q, patched %q, after %q", rep.Before["step 12"], rep.Patched["step 12"], rep.After["step 12"])
	}
	if d := cmp.Diff([]string{"step 12"}, rep.Changed); d != "" {
		t.Errorf("changed (-want +got):\n%s", d)
	}
	if u := rep.Unexplained(); len(u) != 1 || !strings.Contains(u[0], "yet a reason why it is not reached is given") {
		t.Errorf("unexplained: %q", u)
	}
}
