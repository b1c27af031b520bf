package pipeline_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kpatchgo/kpatch-build/internal/testutil"
	"github.com/kpatchgo/kpatch-build/patch"
	"github.com/kpatchgo/kpatch-build/pipeline"
)

// TestRealFastPathIdentical builds every patch of both real-kernel
// catalogues (testdata/realpatches for 6.1, testdata/realpatches-6.12)
// with kbuild's make only (MakeOnly), then the fast way (the patched
// objects by the commands kbuild recorded, the module by the recorded
// module commands, its hook compiled again from the template), then the
// fast way again (the hook and NAME.mod.o from the tree's state), and
// wants the same bytes: every patched object and the module (sha256).
// A patch refused one way is refused the same way the other. The fast
// build must have taken the fast path (its progress lines say so), so
// the test fails if the fast path silently falls back to make.
func TestRealFastPathIdentical(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both catalogues three times (minutes)")
	}
	for _, c := range []struct{ series, dir string }{{testutil.TestSeries, "realpatches"}, {testutil.Series612, "realpatches-6.12"}} {
		t.Run(c.series, func(t *testing.T) {
			k := testutil.SeriesKernel(t, c.series)
			src := testutil.SeriesSource(t, c.series)
			// A cache of its own, kept between runs: another run
			// sharing the tests' cache may prepare a tree again
			// meanwhile (its records gone), which would make the fast
			// build take make. The index of the debug vmlinux and
			// modules (a minute to build) is only read: the shared
			// cache's serves.
			shared := testutil.CacheDir(t)
			cache := filepath.Join(shared, "fastpath-test")
			if err := os.MkdirAll(cache, 0o755); err != nil {
				t.Fatal(err)
			}
			seeds, _ := filepath.Glob(filepath.Join(shared, "index-*.gob"))
			for _, f := range seeds {
				os.Link(f, filepath.Join(cache, filepath.Base(f)))
			}
			patches, _ := filepath.Glob(filepath.Join(testutil.RepoRoot(), "testdata", c.dir, "*.patch"))
			if len(patches) == 0 {
				t.Fatalf("no patches in testdata/%s", c.dir)
			}
			if only := os.Getenv("KPATCH_TEST_PATCH"); only != "" {
				var kept []string
				for _, p := range patches {
					if strings.Contains(filepath.Base(p), only) {
						kept = append(kept, p)
					}
				}
				patches = kept
			}
			for _, file := range patches {
				name := strings.TrimSuffix(filepath.Base(file), ".patch")
				t.Run(name, func(t *testing.T) {
					build := func(makeOnly bool) (sums map[string]string, logged []string, errText string) {
						var mu sync.Mutex
						start := time.Now()
						out := t.TempDir()
						res, err := pipeline.Run(context.Background(), pipeline.Options{SourceDir: src, Config: k.Config, Vmlinux: k.Vmlinux,
							Patches: []string{file}, Fuzz: patch.DefaultFuzz, OutputDir: out, CacheDir: cache, Jobs: 2, KeepWork: true, MakeOnly: makeOnly,
							Log: func(f string, a ...any) {
								line := fmt.Sprintf(f, a...)
								mu.Lock()
								logged = append(logged, line)
								mu.Unlock()
								t.Logf("[make only %v %5.1fs] %s", makeOnly, time.Since(start).Seconds(), line)
							},
							Debug: func(f string, a ...any) {
								line := fmt.Sprintf(f, a...)
								mu.Lock()
								logged = append(logged, "debug: "+line)
								mu.Unlock()
								t.Logf("[make only %v] debug: %s", makeOnly, line)
							}})
						work := ""
						for _, l := range logged {
							if w, ok := strings.CutPrefix(l, "kept the work tree: "); ok {
								work = w
							}
						}
						if work != "" {
							defer os.RemoveAll(work)
						}
						if err != nil {
							msg := err.Error()
							if work != "" {
								msg = strings.ReplaceAll(msg, work, "WORK")
							}
							return nil, logged, msg
						}
						sums = map[string]string{"module": fileSHA(t, res.Module)}
						patched := filepath.Join(work, "patched")
						filepath.WalkDir(patched, func(p string, d fs.DirEntry, err error) error {
							if err == nil && !d.IsDir() {
								rel, _ := filepath.Rel(patched, p)
								sums[rel] = fileSHA(t, p)
							}
							return err
						})
						if len(sums) < 2 {
							t.Errorf("no patched objects in %s", patched)
						}
						if res.Running != "" && makeOnly {
							// The hook is compiled from the template in
							// the fast build, not taken from the cache.
							hooks, _ := filepath.Glob(filepath.Join(filepath.Dir(res.Running), "module-build", "patch-hook-*.o"))
							for _, h := range hooks {
								os.Remove(h)
							}
						}
						return sums, logged, ""
					}
					slow, _, slowErr := build(true)
					fast, logged, fastErr := build(false)
					// Again: the hook and NAME.mod.o now come from
					// the tree's state.
					again, _, againErr := build(false)
					if againErr != fastErr || again["module"] != fast["module"] {
						t.Errorf("a second fast build: module %s, error %q; the first: %s, %q", again["module"], againErr, fast["module"], fastErr)
					}
					if slowErr != fastErr {
						t.Fatalf("make only: %q\nfast: %q", slowErr, fastErr)
					}
					if slowErr != "" {
						t.Logf("refused both ways: %s", slowErr)
						return
					}
					// A patch of a header the preparation's generated
					// files depend on is make's to build, on purpose.
					lines := strings.Join(logged, "\n")
					if !strings.Contains(lines, "(kbuild's recorded commands)") && !strings.Contains(lines, "made by the preparation, depends on") {
						t.Errorf("the fast build did not build the patched objects by their recorded commands")
					}
					if !strings.Contains(lines, "kbuild: linked with kbuild's recorded commands") {
						t.Errorf("the fast build did not link the module by the recorded commands")
					}
					for f, sum := range slow {
						if fast[f] != sum {
							t.Errorf("%s: sha256 %s by make only, %s the fast way", f, sum, fast[f])
						}
					}
					if len(fast) != len(slow) {
						t.Errorf("%d files the fast way, %d by make only", len(fast), len(slow))
					}
				})
			}
		})
	}
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}
