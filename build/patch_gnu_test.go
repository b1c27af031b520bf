package build_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/build"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// TestPatchAgainstGNUPatch applies every patch of the repository to the
// bundled kernel's files with our applier and with GNU patch -p1
// --fuzz=0, as they are, with three lines added at the top of every file
// (so that every hunk applies at an offset) and with CRLF line endings:
// both must give the same files, or both fail, and report the same
// offsets. (Three of the patches do not apply to the plain tree: one on
// purpose, two on top of another patch.)
func TestPatchAgainstGNUPatch(t *testing.T) {
	gnu := testutil.NeedTool(t, "patch")
	kernel := filepath.Join(testutil.RepoRoot(), "target", "kernel")
	var patches []string
	for _, dir := range []string{"target/kernel/patches", "testdata/patches"} {
		files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), dir, "*.patch"))
		if err != nil {
			t.Fatal(err)
		}
		patches = append(patches, files...)
	}
	if len(patches) < 10 {
		t.Fatalf("only %d patches found", len(patches))
	}
	offsets := 0
	applied := map[string]int{}
	for _, name := range patches {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, variant := range []string{"as-is", "shifted", "crlf"} {
			t.Run(filepath.Base(name)+"/"+variant, func(t *testing.T) {
				name := name
				if variant == "crlf" {
					name = filepath.Join(t.TempDir(), filepath.Base(name))
					if err := os.WriteFile(name, []byte(strings.ReplaceAll(string(text), "\n", "\r\n")), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				p, err := build.ReadPatch(name)
				if err != nil {
					t.Fatal(err)
				}
				shift := variant == "shifted"
				ours, gnuTree := t.TempDir(), t.TempDir()
				for _, tp := range p.Paths() {
					b, err := os.ReadFile(filepath.Join(kernel, tp.Path))
					if err != nil {
						continue // a file the patch creates
					}
					if shift {
						b = append([]byte("/* shifted 1 */\n/* shifted 2 */\n/* shifted 3 */\n"), b...)
					}
					for _, dir := range []string{ours, gnuTree} {
						os.MkdirAll(filepath.Dir(filepath.Join(dir, tp.Path)), 0o755)
						if err := os.WriteFile(filepath.Join(dir, tp.Path), b, 0o644); err != nil {
							t.Fatal(err)
						}
					}
				}
				var logs []string
				ourErr := p.ApplyTo(ours, func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) })
				out, gnuErr := exec.Command(gnu, "-p1", "--fuzz=0", "--no-backup-if-mismatch", "-d", gnuTree, "-i", name).CombinedOutput()
				if (ourErr == nil) != (gnuErr == nil) {
					t.Fatalf("ours: %v\nGNU patch: %v\n%s", ourErr, gnuErr, out)
				}
				if ourErr != nil {
					t.Logf("both refuse: %v", ourErr)
					return
				}
				applied[variant]++
				if d := cmp.Diff(treeFiles(t, gnuTree), treeFiles(t, ours)); d != "" {
					t.Errorf("the trees differ (-GNU +ours):\n%s", d)
				}
				var gnuOffsets []string
				for _, m := range regexp.MustCompile(`Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)`).FindAllStringSubmatch(string(out), -1) {
					gnuOffsets = append(gnuOffsets, fmt.Sprintf("#%s at %s offset %s", m[1], m[2], m[3]))
				}
				var ourOffsets []string
				for _, l := range logs {
					var n, at, off int
					if _, err := fmt.Sscanf(l[strings.Index(l, ": hunk")+2:], "hunk #%d succeeded at %d (offset %d", &n, &at, &off); err == nil {
						ourOffsets = append(ourOffsets, fmt.Sprintf("#%d at %d offset %d", n, at, off))
					}
				}
				if !slices.Equal(gnuOffsets, ourOffsets) {
					t.Errorf("offsets: GNU %v, ours %v", gnuOffsets, ourOffsets)
				}
				offsets += len(ourOffsets)
			})
		}
	}
	if offsets == 0 || applied["as-is"] < len(patches)-3 || applied["shifted"] < len(patches)-3 || applied["crlf"] < len(patches)-3 {
		t.Errorf("of %d patches, applied: %v; %d hunks at an offset", len(patches), applied, offsets)
	}
}

// treeFiles returns every file of a tree with its content.
func treeFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		files[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
