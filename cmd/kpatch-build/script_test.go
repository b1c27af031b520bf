package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"kpatch-build": func() { os.Exit(run(os.Args[1:])) },
	})
}

// TestScripts runs the command-line scenarios in testdata/script: each
// reads like a user's terminal session.
func TestScripts(t *testing.T) {
	root, _ := filepath.Abs(testutil.RepoRoot())
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CASES", filepath.Join(root, "testdata", "diffcases"))
			for k, v := range map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "14"} {
				env.Setenv(k, v)
			}
			return nil
		},
	})
}

// TestDiffExitCodes checks the exact exit statuses of the diff command.
func TestDiffExitCodes(t *testing.T) {
	cases := filepath.Join(testutil.RepoRoot(), "testdata", "diffcases")
	for k, v := range map[string]string{"BUG_STRUCT_SIZE": "12", "EX_STRUCT_SIZE": "12", "JUMP_STRUCT_SIZE": "16", "ALT_STRUCT_SIZE": "14"} {
		t.Setenv(k, v)
	}
	for _, tc := range []struct {
		name string
		want int
	}{{"changed-func", 0}, {"no-change", 3}, {"line-only-warn", 3}, {"init-change", 2}, {"global-to-static", 2}} {
		out := filepath.Join(t.TempDir(), "out.o")
		dir := filepath.Join(cases, tc.name)
		got := run([]string{"diff", "--symtab", filepath.Join(dir, "orig.o"), "-o", out, filepath.Join(dir, "orig.o"), filepath.Join(dir, "patched.o")})
		if got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
		if _, err := os.Stat(out); (err == nil) != (tc.want == 0) {
			t.Errorf("%s: output exists = %v with exit %d", tc.name, err == nil, got)
		}
	}
}
