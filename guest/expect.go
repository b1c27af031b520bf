package guest

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// Expectations are the guest checks a patch carries beside it, in
// PATCH.expect (the patch's name without .patch or .diff): the lines
//
//	check SHELL-COMMAND   a busybox sh command run in the guest
//	patched REGEXP        the preceding check's output with the patch
//	unpatched REGEXP      ... and before loading it and after unloading it
//	kmod NAME             a distribution module the patch targets
//
// and the lines that describe the patch to the catalogue tests (desc,
// outcome, changed, new, refuse, hint; see ExpectKeys). Blank lines and
// lines starting with # are comments. Any other line is refused.
type Expectations struct {
	Checks []Check
	Kmods  []string
}

// ExpectKeys are the keys of a real kernel's PATCH.expect, each with what
// its line holds: the guest's and the catalogue tests'.
var ExpectKeys = []ExpectKey{
	{"check", "a busybox sh command run in the guest"},
	{"patched", "a Go regexp the preceding check's output matches with the patch"},
	{"unpatched", "a Go regexp the preceding check's output matches without the patch"},
	{"kmod", "a distribution module to load besides those the patch changes"},
	{"desc", "what the patch does (catalogue tests)"},
	{"outcome", "build, refuse or nochange (catalogue tests)"},
	{"changed", "OBJECT FUNCTION the patch changes (catalogue tests)"},
	{"new", "OBJECT FUNCTION the patch adds (catalogue tests)"},
	{"refuse", "a text of the refusal (catalogue tests)"},
	{"hint", "a text of the refusal's hint (catalogue tests)"},
	{"compiles", "the most objects the build may compile (catalogue tests)"},
}

// ExpectKey is a key of a .expect file and what its value is.
type ExpectKey struct {
	Name, Value string
}

// ExpectLine is one line of a .expect file that is not blank or a
// comment.
type ExpectLine struct {
	// N is the line number, from 1.
	N int
	// Key is the first word, Rest what follows it without the blanks
	// around it.
	Key, Rest string
}

// maxExpectSize bounds a .expect file: a few hundred lines of checks.
const maxExpectSize = 1 << 20

// ReadExpectLines reads the lines of the .expect file path; a missing
// file has none. Blank lines and lines starting with # are skipped; a
// CR before the newline is dropped. Every other line must be text (UTF-8
// without control characters other than tab) and begin with one of keys;
// anything else is refused (refusal.ExpectMalformed) naming the file and
// the line.
func ReadExpectLines(path string, keys []string) ([]ExpectLine, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxExpectSize+1))
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	if len(b) > maxExpectSize {
		return nil, malformedExpect(path, 0, "larger than %d bytes: not a .expect file", maxExpectSize)
	}
	var lines []ExpectLine
	for i, raw := range bytes.Split(b, []byte("\n")) {
		n := i + 1
		line := string(bytes.TrimSuffix(raw, []byte("\r")))
		if what := notText(line); what != "" {
			return nil, malformedExpect(path, n, "the line is not text (%s)", what)
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			key, rest = line[:i], strings.TrimSpace(line[i:])
		}
		if !slices.Contains(keys, key) {
			return nil, malformedExpect(path, n, "unknown key %q%s (a line is KEY VALUE, KEY one of %s)",
				key, suggest(key, keys), strings.Join(keys, ", "))
		}
		lines = append(lines, ExpectLine{N: n, Key: key, Rest: rest})
	}
	return lines, nil
}

// malformedExpect refuses line n of a .expect file (0: the whole file).
func malformedExpect(path string, n int, format string, args ...any) error {
	where := path
	if n > 0 {
		where += ":" + strconv.Itoa(n)
	}
	return fmt.Errorf("%s: %w", where, refusal.New(refusal.ExpectMalformed, fmt.Sprintf(format, args...)))
}

// notText says why a line is not text, or returns "".
func notText(line string) string {
	for i, r := range line {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(line[i:], "\uFFFD"):
			return fmt.Sprintf("byte 0x%02x at column %d is not UTF-8", line[i], i+1)
		case r < ' ' && r != '\t' || r == 0x7f:
			return fmt.Sprintf("control character 0x%02x at column %d", r, i+1)
		}
	}
	return ""
}

// suggest names the key of keys that key is a misspelling of (at most
// two edits away), as " (did you mean K?)", or returns "".
func suggest(key string, keys []string) string {
	best, dist := "", 3
	for _, k := range keys {
		if d := editDistance(strings.ToLower(key), k); d < dist {
			best, dist = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// ExpectPath returns the expectations file of a patch file.
func ExpectPath(patch string) string {
	return strings.TrimSuffix(strings.TrimSuffix(patch, ".patch"), ".diff") + ".expect"
}

// expectKeyNames are the names of ExpectKeys.
func expectKeyNames() []string {
	var names []string
	for _, k := range ExpectKeys {
		names = append(names, k.Name)
	}
	return names
}

// ReadExpectations reads the guest checks of path; a missing file gives
// no checks. Every line is parsed (ReadExpectLines) and refused, naming
// the file and the line, when it is wrong: a patched or unpatched line
// before any check or given twice for one check, a regexp that does not
// compile, a check with neither, a bad module name, an outcome, changed
// or new line that does not have its form.
func ReadExpectations(path string) (*Expectations, error) {
	lines, err := ReadExpectLines(path, expectKeyNames())
	if err != nil {
		return nil, err
	}
	e := &Expectations{}
	bad := func(l ExpectLine, format string, args ...any) error {
		return malformedExpect(path, l.N, format, args...)
	}
	checkLine := 0 // the line of the last check
	for _, l := range lines {
		switch l.Key {
		case "check":
			if l.Rest == "" {
				return nil, bad(l, "check without a command")
			}
			if err := e.lastCheckCompared(path, checkLine); err != nil {
				return nil, err
			}
			e.Checks = append(e.Checks, Check{Command: l.Rest, Source: fmt.Sprintf("%s:%d", path, l.N)})
			checkLine = l.N
		case "patched", "unpatched":
			if len(e.Checks) == 0 {
				return nil, bad(l, "%q before any check line", l.Key)
			}
			if l.Rest == "" {
				return nil, bad(l, "%s without a regexp", l.Key)
			}
			if _, err := regexp.Compile(l.Rest); err != nil {
				return nil, bad(l, "%s: %v", l.Key, err)
			}
			c := &e.Checks[len(e.Checks)-1]
			re := &c.Unpatched
			if l.Key == "patched" {
				re = &c.Patched
			}
			if *re != "" {
				return nil, bad(l, "a second %s line for the check of line %d", l.Key, checkLine)
			}
			*re = l.Rest
		case "kmod":
			if !moduleNameRE.MatchString(l.Rest) {
				return nil, bad(l, "bad module name %q", l.Rest)
			}
			e.Kmods = append(e.Kmods, l.Rest)
		case "outcome":
			if l.Rest != "build" && l.Rest != "refuse" && l.Rest != "nochange" {
				return nil, bad(l, "outcome %q: want build, refuse or nochange", l.Rest)
			}
		case "compiles":
			if n, err := strconv.Atoi(l.Rest); err != nil || n < 1 {
				return nil, bad(l, "compiles %q: want a positive number", l.Rest)
			}
		case "changed", "new":
			if len(strings.Fields(l.Rest)) != 2 {
				return nil, bad(l, "%s %q: want OBJECT FUNCTION", l.Key, l.Rest)
			}
		default: // desc, refuse, hint: any text
			if l.Rest == "" {
				return nil, bad(l, "%s without a text", l.Key)
			}
		}
	}
	if err := e.lastCheckCompared(path, checkLine); err != nil {
		return nil, err
	}
	return e, nil
}

// lastCheckCompared refuses a last check (of line n) without a patched or
// unpatched line: its output would never be compared.
func (e *Expectations) lastCheckCompared(path string, n int) error {
	if len(e.Checks) == 0 {
		return nil
	}
	if c := e.Checks[len(e.Checks)-1]; c.Patched == "" && c.Unpatched == "" {
		return malformedExpect(path, n, "the check has no patched or unpatched line: its output would never be compared")
	}
	return nil
}

// ReadPatchExpectations reads the expectations of every patch
// (ExpectPath) and joins them: the checks in order, the modules once
// each. When there are checks, at least one must expect another output
// with the patch than without it (a patched regexp that is not its
// unpatched one), or the checks cannot tell the patch from no patch and
// they are refused (refusal.VerifyIndistinct); whether the output without
// the patch fails the patched regexp, VerifyPatch measures.
func ReadPatchExpectations(patches []string) (*Expectations, error) {
	all := &Expectations{}
	var files []string
	for _, p := range patches {
		e, err := ReadExpectations(ExpectPath(p))
		if err != nil {
			return nil, err
		}
		if len(e.Checks) > 0 {
			files = append(files, ExpectPath(p))
		}
		all.Checks = append(all.Checks, e.Checks...)
		for _, m := range e.Kmods {
			if !slices.Contains(all.Kmods, m) {
				all.Kmods = append(all.Kmods, m)
			}
		}
	}
	if len(all.Checks) == 0 {
		return all, nil
	}
	for _, c := range all.Checks {
		if c.Patched != "" && c.Patched != c.Unpatched {
			return all, nil
		}
	}
	return nil, refusal.New(refusal.VerifyIndistinct, fmt.Sprintf(
		"in %s, no check has a patched regexp other than its unpatched one", strings.Join(files, ", ")))
}
