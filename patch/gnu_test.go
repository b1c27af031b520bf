package patch

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kpatchgo/kpatch-build/internal/testutil"
)

// gnuNote matches GNU patch's note of a hunk applied at an offset or with
// fuzz.
var gnuNote = regexp.MustCompile(`Hunk #(\d+) succeeded at (\d+)( with fuzz \d+)?( \(offset -?\d+ lines?\))?\.`)

// gnuNotes returns GNU patch's notes, as ours say them ("hunk #1
// succeeded at 12 with fuzz 1 (offset 3 lines)").
func gnuNotes(out []byte) []string {
	var notes []string
	for _, m := range gnuNote.FindAllStringSubmatch(string(out), -1) {
		notes = append(notes, fmt.Sprintf("hunk #%s succeeded at %s%s%s", m[1], m[2], m[3], m[4]))
	}
	return notes
}

// ourNotes returns our notes of hunks, without the file names.
func ourNotes(logs []string) []string {
	var notes []string
	for _, l := range logs {
		if i := strings.Index(l, "hunk #"); i >= 0 {
			notes = append(notes, l[i:])
		}
	}
	return notes
}

// editContext changes, in a copy of a file the patch changes, the first
// line of every hunk that starts with context, so that GNU patch needs
// fuzz to apply it.
func editContext(b []byte, f *FileChange) []byte {
	lines := strings.SplitAfter(string(b), "\n")
	for _, h := range f.Hunks {
		at := h.OldPos - 1
		if len(h.Old) == 0 || len(h.New) == 0 || h.Old[0] != h.New[0] || at < 0 || at >= len(lines) || lines[at] != h.Old[0] {
			continue
		}
		lines[at] = strings.TrimSuffix(lines[at], "\n") + " /* edited */\n"
	}
	return []byte(strings.Join(lines, ""))
}

// TestPatchAgainstGNUPatch applies every patch of the repository to the
// bundled kernel's files with our applier and with GNU patch -p1, both
// without fuzz (--fuzz=0) and with GNU patch's default (2): as they are,
// with three lines added at the top of every file (so that every hunk
// applies at an offset), with CRLF line endings, and with the first
// context line of every hunk changed in the file (so that it needs fuzz).
// Both must give the same files, or both fail, and report the same hunks
// at an offset or with fuzz. (Three of the patches do not apply to the
// plain tree: one on purpose, two on top of another patch.)
func TestPatchAgainstGNUPatch(t *testing.T) {
	gnu := testutil.NeedTool(t, "patch")
	kernel := filepath.Join(testutil.RepoRoot(), "emulator", "kernel")
	var patches []string
	for _, dir := range []string{"emulator/kernel/patches", "testdata/patches"} {
		files, err := filepath.Glob(filepath.Join(testutil.RepoRoot(), dir, "*.patch"))
		if err != nil {
			t.Fatal(err)
		}
		patches = append(patches, files...)
	}
	if len(patches) < 10 {
		t.Fatalf("only %d patches found", len(patches))
	}
	offsets, fuzzed := 0, 0
	applied := map[string]int{}
	for _, name := range patches {
		text, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, variant := range []string{"as-is", "shifted", "crlf", "context-edited"} {
			for _, fuzz := range []int{0, DefaultFuzz} {
				t.Run(fmt.Sprintf("%s/%s/fuzz-%d", filepath.Base(name), variant, fuzz), func(t *testing.T) {
					name := name
					if variant == "crlf" {
						name = filepath.Join(t.TempDir(), filepath.Base(name))
						if err := os.WriteFile(name, []byte(strings.ReplaceAll(string(text), "\n", "\r\n")), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					p, err := Read(name)
					if err != nil {
						t.Fatal(err)
					}
					ours, gnuTree := t.TempDir(), t.TempDir()
					for _, f := range p.Files {
						for _, rel := range []string{f.Old, f.New} {
							b, err := os.ReadFile(filepath.Join(kernel, rel))
							if rel == "" || err != nil {
								continue // a file the patch creates
							}
							switch variant {
							case "shifted":
								b = append([]byte("/* shifted 1 */\n/* shifted 2 */\n/* shifted 3 */\n"), b...)
							case "context-edited":
								b = editContext(b, f)
							}
							for _, dir := range []string{ours, gnuTree} {
								os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755)
								if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
									t.Fatal(err)
								}
							}
						}
					}
					var logs []string
					_, ourErr := p.ApplyWith(ours, ApplyOptions{Fuzz: fuzz, Log: func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }})
					out, gnuErr := exec.Command(gnu, "-p1", fmt.Sprintf("--fuzz=%d", fuzz), "--no-backup-if-mismatch", "-d", gnuTree, "-i", name).CombinedOutput()
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
					want, got := gnuNotes(out), ourNotes(logs)
					if !slices.Equal(want, got) {
						t.Errorf("notes: GNU %q, ours %q", want, got)
					}
					for _, n := range got {
						if strings.Contains(n, "offset") {
							offsets++
						}
						if strings.Contains(n, "fuzz") {
							fuzzed++
						}
					}
				})
			}
		}
	}
	for _, v := range []string{"as-is", "shifted", "crlf"} {
		if applied[v] < 2*(len(patches)-3) {
			t.Errorf("of %d patches (twice: with and without fuzz), %s applied %d", len(patches), v, applied[v])
		}
	}
	if offsets == 0 || fuzzed == 0 || applied["context-edited"] < len(patches)-3 {
		t.Errorf("of %d patches, applied: %v; %d hunks at an offset, %d with fuzz", len(patches), applied, offsets, fuzzed)
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

// hunkHeader matches a hunk's @@ line: its old range's start and length.
var hunkHeader = regexp.MustCompile(`(?m)^@@ -(\d+)(?:,(\d+))? `)

// TestPatchRandomAgainstGNUPatch makes random edits of the bundled
// kernel's C files, diffs them with diff -u (1 to 3 lines of context),
// lets the tree drift (lines added or removed here and there, and in half
// the cases a line at an end of a hunk's context changed, which takes
// fuzz) and applies the diff with our applier and with GNU patch -p1, with
// a random fuzz limit from 0 to 3: both must succeed or both fail, with
// the same file and the same hunks at an offset or with fuzz.
func TestPatchRandomAgainstGNUPatch(t *testing.T) {
	gnu := testutil.NeedTool(t, "patch")
	diffTool := testutil.NeedTool(t, "diff")
	var files []string
	filepath.Walk(filepath.Join(testutil.RepoRoot(), "emulator", "kernel"), func(p string, info os.FileInfo, err error) error {
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
	for i := 0; i < 400; i++ {
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
		drifted := slices.Clone(lines)
		if rng.IntN(2) == 0 {
			// A line at an end of a hunk's context changes.
			hs := hunkHeader.FindAllStringSubmatch(string(diff), -1)
			h := hs[rng.IntN(len(hs))]
			start, _ := strconv.Atoi(h[1])
			n := 1
			if h[2] != "" {
				n, _ = strconv.Atoi(h[2])
			}
			at := start - 1
			if rng.IntN(2) == 0 {
				at = start + n - 2
			}
			if at >= 0 && at < len(drifted) {
				drifted[at] = "/* drifted context */\n"
			}
		}
		if rng.IntN(4) > 0 {
			drifted = edit(drifted, 1+rng.IntN(3), "/* drift */")
		}
		write("ours/f.c", drifted)
		write("gnu/f.c", drifted)
		p, err := Parse(fmt.Sprintf("random-%d.patch", i), diff)
		if err != nil {
			t.Fatalf("%v\n%s", err, diff)
		}
		fuzz := rng.IntN(4)
		var logs []string
		_, ourErr := p.ApplyWith(filepath.Join(dir, "ours"), ApplyOptions{Fuzz: fuzz, Log: func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }})
		cmd = exec.Command(gnu, "-p1", fmt.Sprintf("--fuzz=%d", fuzz), "--forward", "--no-backup-if-mismatch", "--reject-file=-", "-d", filepath.Join(dir, "gnu"))
		cmd.Stdin = strings.NewReader(string(diff))
		out, gnuErr := cmd.CombinedOutput()
		if (ourErr == nil) != (gnuErr == nil) {
			t.Fatalf("%s (case %d, fuzz %d): ours: %v\nGNU patch: %v\n%s\n%s", name, i, fuzz, ourErr, gnuErr, out, diff)
		}
		if ourErr != nil {
			results["both refuse"]++
			continue
		}
		results["both apply"]++
		notes := ourNotes(logs)
		if len(notes) > 0 {
			results["at an offset or with fuzz"]++
		}
		if strings.Contains(strings.Join(notes, "\n"), "with fuzz") {
			results["with fuzz"]++
		}
		ours, _ := os.ReadFile(filepath.Join(dir, "ours/f.c"))
		theirs, _ := os.ReadFile(filepath.Join(dir, "gnu/f.c"))
		if string(ours) != string(theirs) {
			t.Fatalf("%s (case %d, fuzz %d): the files differ:\n%s", name, i, fuzz, cmp.Diff(string(theirs), string(ours)))
		}
		if want := gnuNotes(out); !slices.Equal(want, notes) {
			t.Errorf("%s (case %d, fuzz %d): notes: GNU %q, ours %q\n%s", name, i, fuzz, want, notes, diff)
		}
	}
	t.Logf("%v", results)
	if results["both apply"] < 100 || results["at an offset or with fuzz"] < 50 || results["with fuzz"] < 20 || results["both refuse"] < 10 {
		t.Errorf("too few cases of each kind: %v", results)
	}
}

// TestPatchGNUCorners applies patches written by hand for GNU patch's
// corners to a 20-line file, with our applier and with GNU patch, at fuzz
// 0 and 2: both must give the same file or both fail, with the same
// notes. Among them: a hunk whose leading context overlaps the lines the
// hunk before it changed (GNU patch 2.7 compares it with the file's
// original lines and applies it), and a hunk whose change comes before
// the previous one's (refused: "misordered hunks").
func TestPatchGNUCorners(t *testing.T) {
	gnu := testutil.NeedTool(t, "patch")
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, fmt.Sprintf("L%d\n", i))
	}
	file := strings.Join(lines, "")
	const header = "--- a/f.txt\n+++ b/f.txt\n"
	cases := map[string]string{
		"overlapping context": "@@ -1,3 +1,3 @@\n L1\n-L2\n+X2\n L3\n@@ -2,5 +2,5 @@\n L2\n L3\n-L4\n+Y4\n L5\n L6\n",
		"misordered":          "@@ -8,3 +8,3 @@\n L8\n-L9\n+X9\n L10\n@@ -3,3 +3,3 @@\n L3\n-L4\n+Y4\n L5\n",
		"fuzzed both ends":    "@@ -5,7 +5,7 @@\n M5\n L6\n L7\n-L8\n+X8\n L9\n L10\n M11\n",
		"fuzz and offset":     "@@ -2,5 +2,5 @@\n M4\n L5\n-L6\n+X6\n L7\n L8\n@@ -12,3 +12,4 @@\n L14\n L15\n+new\n L16\n",
		"short lead at start": "@@ -1,2 +1,3 @@\n+top\n L1\n L2\n",
		"short lead moved":    "@@ -1,2 +1,3 @@\n+top\n L3\n L4\n",
		"short trail at end":  "@@ -19,2 +19,3 @@\n L19\n L20\n+end\n",
		"short trail moved":   "@@ -19,2 +19,3 @@\n L17\n L18\n+end\n",
	}
	for name, hunks := range cases {
		for _, fuzz := range []int{0, DefaultFuzz} {
			t.Run(fmt.Sprintf("%s/fuzz-%d", name, fuzz), func(t *testing.T) {
				dir := t.TempDir()
				pf := filepath.Join(dir, "p.diff")
				for _, f := range []string{"ours/f.txt", "gnu/f.txt"} {
					os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
					if err := os.WriteFile(filepath.Join(dir, f), []byte(file), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				if err := os.WriteFile(pf, []byte(header+hunks), 0o644); err != nil {
					t.Fatal(err)
				}
				p, err := Read(pf)
				if err != nil {
					t.Fatal(err)
				}
				var logs []string
				_, ourErr := p.ApplyWith(filepath.Join(dir, "ours"), ApplyOptions{Fuzz: fuzz, Log: func(format string, args ...any) { logs = append(logs, fmt.Sprintf(format, args...)) }})
				out, gnuErr := exec.Command(gnu, "-p1", fmt.Sprintf("--fuzz=%d", fuzz), "--forward", "--no-backup-if-mismatch", "--reject-file=-",
					"-d", filepath.Join(dir, "gnu"), "-i", pf).CombinedOutput()
				if (ourErr == nil) != (gnuErr == nil) {
					t.Fatalf("ours: %v\nGNU patch: %v\n%s", ourErr, gnuErr, out)
				}
				t.Logf("ours: %v; GNU patch: %s", ourErr, out)
				if ourErr != nil {
					return
				}
				if d := cmp.Diff(treeFiles(t, filepath.Join(dir, "gnu")), treeFiles(t, filepath.Join(dir, "ours"))); d != "" {
					t.Errorf("the files differ (-GNU +ours):\n%s", d)
				}
				if want, got := gnuNotes(out), ourNotes(logs); !slices.Equal(want, got) {
					t.Errorf("notes: GNU %q, ours %q", want, got)
				}
			})
		}
	}
}
