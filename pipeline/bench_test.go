package pipeline_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

// BenchmarkOnePatch builds a one-function patch for the bundled kernel:
// cold (empty cache: running kernel, original and patched builds) and warm
// (the original build cached, as for a second patch against the same tree).
func BenchmarkOnePatch(b *testing.B) {
	testutil.NeedTool(b, "gcc")
	testutil.NeedTool(b, "make")
	src := filepath.Join(testutil.RepoRoot(), "emulator", "kernel")
	patch := filepath.Join(src, "patches", "meminfo-string.patch")
	run := func(b *testing.B, cache string) {
		out := b.TempDir()
		res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Patches: []string{patch},
			OutputDir: out, CacheDir: cache, Jobs: 2})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := os.Stat(res.Module); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			run(b, b.TempDir())
		}
	})
	b.Run("warm", func(b *testing.B) {
		cache := b.TempDir()
		run(b, cache)
		b.ResetTimer()
		for b.Loop() {
			run(b, cache)
		}
	})
}
