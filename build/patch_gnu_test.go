package build_test

import (
	"fmt"
	"math/rand/v2"
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

// TestPatchRandomAgainstGNUPatch makes random edits of the bundled
// kernel's C files, diffs them with diff -u (1 to 3 lines of context),
// lets the tree drift (lines added or removed here and there) and applies
// the diff with our applier and with GNU patch -p1 --fuzz=0: both must
// succeed or both fail, with the same file and the same offsets.
func TestPatchRandomAgainstGNUPatch(t *testing.T) {
	gnu := testutil.NeedTool(t, "patch")
	diffTool := testutil.NeedTool(t, "diff")
	var files []string
	filepath.Walk(filepath.Join(testutil.RepoRoot(), "target", "kernel"), func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(p, ".c") {
			files = append(files, p)
		}
		return nil
	})
	if len(files) < 10 {
		t.Fatalf("only %d C files", len(files))
	}
	rng := rand.New(rand.NewPCG(11, 2026))
	// edit changes, inserts or removes n random lines.
	edit := func(lines []string, n int, text string) []string {
		out := slices.Clone(lines)
		for k := 0; k < n; k++ {
			at := rng.IntN(len(out) + 1)
			switch op := rng.IntN(3); {
			case op == 0 || at == len(out):
				out = slices.Insert(out, at, fmt.Sprintf("%s %d\n", text, k))
			case op == 1:
				out[at] = fmt.Sprintf("%s %d\n", text, k)
			default:
				out = slices.Delete(out, at, at+1)
			}
		}
		return out
	}
	results := map[string]int{}
	for i := 0; i < 300; i++ {
		name := files[rng.IntN(len(files))]
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitAfter(string(b), "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		dir := t.TempDir()
		write := func(rel string, lines []string) {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755)
			if err := os.WriteFile(filepath.Join(dir, rel), []byte(strings.Join(lines, "")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write("a/f.c", lines)
		write("b/f.c", edit(lines, 1+rng.IntN(4), "/* patched */"))
		cmd := exec.Command(diffTool, fmt.Sprintf("-U%d", 1+rng.IntN(3)), "a/f.c", "b/f.c")
		cmd.Dir = dir
		diff, _ := cmd.Output()
		if len(diff) == 0 {
			continue
		}
		drifted := lines
		if rng.IntN(4) > 0 {
			drifted = edit(lines, 1+rng.IntN(3), "/* drift */")
		}
		write("ours/f.c", drifted)
		write("gnu/f.c", drifted)
		p, err := build.ParsePatch(fmt.Sprintf("random-%d.patch", i), diff)
		if err != nil {
			t.Fatalf("%v\n%s", err, diff)
		}
		var logs []string
		ourErr := p.ApplyTo(filepath.Join(dir, "ours"), func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) })
		cmd = exec.Command(gnu, "-p1", "--fuzz=0", "--forward", "--no-backup-if-mismatch", "--reject-file=-", "-d", filepath.Join(dir, "gnu"))
		cmd.Stdin = strings.NewReader(string(diff))
		out, gnuErr := cmd.CombinedOutput()
		if (ourErr == nil) != (gnuErr == nil) {
			t.Fatalf("%s (case %d): ours: %v\nGNU patch: %v\n%s\n%s", name, i, ourErr, gnuErr, out, diff)
		}
		if ourErr != nil {
			results["both refuse"]++
			continue
		}
		results["both apply"]++
		if len(logs) > 0 {
			results["at an offset"]++
		}
		ours, _ := os.ReadFile(filepath.Join(dir, "ours/f.c"))
		theirs, _ := os.ReadFile(filepath.Join(dir, "gnu/f.c"))
		if string(ours) != string(theirs) {
			t.Fatalf("%s (case %d): the files differ:\n%s", name, i, cmp.Diff(string(theirs), string(ours)))
		}
		var gnuOffsets, ourOffsets []string
		for _, m := range regexp.MustCompile(`Hunk #(\d+) succeeded at (\d+) \(offset (-?\d+) lines?\)`).FindAllStringSubmatch(string(out), -1) {
			gnuOffsets = append(gnuOffsets, fmt.Sprintf("hunk #%s succeeded at %s (offset %s", m[1], m[2], m[3]))
		}
		for _, l := range logs {
			ourOffsets = append(ourOffsets, l[strings.Index(l, "hunk #"):strings.LastIndex(l, " line")])
		}
		if !slices.Equal(gnuOffsets, ourOffsets) {
			t.Errorf("%s (case %d): offsets: GNU %q, ours %q\n%s", name, i, gnuOffsets, ourOffsets, diff)
		}
	}
	t.Logf("%v", results)
	if results["both apply"] < 100 || results["at an offset"] < 50 || results["both refuse"] < 10 {
		t.Errorf("too few cases of each kind: %v", results)
	}
}
