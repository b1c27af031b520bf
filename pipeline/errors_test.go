package pipeline_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/elfdiff"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// TestErrorsThroughLayers builds a real patch against a "running kernel"
// whose symbol table is that of an unrelated object: the symbol table
// look-up fails in symtab, elfdiff refuses the object, the pipeline
// refuses the build, and the caller still finds symtab's sentinel error,
// the diff engine's refusal and the pipeline's with errors.Is/As.
func TestErrorsThroughLayers(t *testing.T) {
	gcc := testutil.NeedTool(t, "gcc")
	testutil.NeedTool(t, "make")
	src := filepath.Join(testutil.RepoRoot(), "emulator", "kernel")
	patch := filepath.Join(src, "patches", "meminfo-string.patch")
	dir := t.TempDir()
	// The wrong symbol table: an object of one file with a static
	// function, which fs/proc/meminfo.c's locals match nowhere.
	c := filepath.Join(dir, "other.c")
	if err := os.WriteFile(c, []byte("static int helper(int x) { return x + 1; }\nint entry(int x) { return helper(x); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(dir, "vmlinux")
	if out, err := exec.Command(gcc, "-c", "-o", wrong, c).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "Module.symvers"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	_, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Patches: []string{patch}, Vmlinux: wrong,
		SkipCompilerCheck: true, OutputDir: out, CacheDir: t.TempDir(), Jobs: 2})
	if err == nil {
		t.Fatal("the build succeeded with an unrelated symbol table")
	}
	t.Logf("%v", err)
	if !errors.Is(err, symtab.ErrNoFileMatch) {
		t.Errorf("errors.Is(err, symtab.ErrNoFileMatch) = false for %v", err)
	}
	// The diff engine's refusal is wrapped by the pipeline's; both are
	// *refusal.Error, and refusal.Find looks past the outer one.
	de := refusal.Find(err, refusal.FileNoMatch)
	if de == nil || de.Code != elfdiff.ExitError || de.Hint == "" || de.Object == "" {
		t.Errorf("refusal.Find(err, %s) = %+v, want the diff engine's refusal naming the object", refusal.FileNoMatch, de)
	}
	var pe *pipeline.Error
	if !errors.As(err, &pe) || pe.Key != refusal.ObjectErrors {
		t.Errorf("errors.As(err, *pipeline.Error) = %+v, want the %s refusal", pe, refusal.ObjectErrors)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("refused build left %d file(s) in the output directory", len(entries))
	}
}
