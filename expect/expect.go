package expect

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

	"github.com/kpatchgo/kpatch-build/emulator/livepatch"
	"github.com/kpatchgo/kpatch-build/guest"
	"github.com/kpatchgo/kpatch-build/refusal"
)

// Verifier names a verifier of patch modules: the kernel being patched
// chooses it, and it reads its own check kinds of the grammar.
type Verifier string

const (
	// Emulated is the bundled kernel's verifier: the emulated target
	// (package emulator/livepatch).
	Emulated Verifier = "emulated"
	// Qemu is a distribution kernel's verifier: the running kernel
	// booted under qemu (package guest).
	Qemu Verifier = "qemu"
)

// describe names the verifier in messages.
func (v Verifier) describe() string {
	switch v {
	case Emulated:
		return "the emulated target (the bundled kernel's verifier)"
	case Qemu:
		return "qemu (a distribution kernel's verifier)"
	}
	return string(v)
}

// Key is a key of the grammar: its name, what its value is and the
// verifiers that read it (none listed: both).
type Key struct {
	Name, Value string
	For         []Verifier
}

// reads reports whether verifier v reads the key.
func (k Key) reads(v Verifier) bool { return len(k.For) == 0 || slices.Contains(k.For, v) }

// Keys are the grammar's keys (the package doc's table), in the order
// messages list them.
var Keys = []Key{
	{"check", "emulated target: a check of the check language or module NAME; qemu: a busybox sh command run in the guest", nil},
	{"patched", "a Go regexp the preceding check's output matches with the patch", []Verifier{Qemu}},
	{"unpatched", "a Go regexp the preceding check's output matches without the patch", []Verifier{Qemu}},
	{"kmod", "a distribution module to load besides those the patch changes", []Verifier{Qemu}},
	{"why-not-reached", "FUNC REASON: no check runs FUNC's new body, because REASON", []Verifier{Emulated}},
	{"desc", "what the patch does (catalogue tests)", nil},
	{"outcome", "build, refuse or nochange (catalogue tests)", nil},
	{"changed", "OBJECT FUNCTION the patch changes (catalogue tests)", nil},
	{"new", "OBJECT FUNCTION the patch adds (catalogue tests)", nil},
	{"refuse", "a text of the refusal (catalogue tests)", nil},
	{"hint", "a text of the refusal's hint (catalogue tests)", nil},
	{"stack", "NAME: build NAME.patch first (catalogue tests)", []Verifier{Emulated}},
	{"features", "CPU features of the emulated CPU (catalogue tests)", []Verifier{Emulated}},
	{"nonreplace", "build with -R (catalogue tests)", []Verifier{Emulated}},
	{"knownbug", "what kpatch-build does not do yet: the entry is skipped (catalogue tests)", []Verifier{Emulated}},
	{"compiles", "the most objects the build may compile (catalogue tests)", []Verifier{Qemu}},
}

// File is one PATCH.expect read for a verifier.
type File struct {
	Path     string
	Verifier Verifier

	// Target are the emulated target's check lines in order: checks of
	// the check language and "module NAME" (Emulated).
	Target []string
	// NotReached maps a function no check runs to the reason
	// (why-not-reached; Emulated).
	NotReached map[string]string
	// Guest are the guest's checks (Qemu).
	Guest []guest.Check
	// Kmods are the distribution modules to load first (Qemu).
	Kmods []string

	// What the catalogue tests read.
	Desc, Outcome   string
	Changed, New    []string // "OBJECT FUNCTION"
	Refuse, Hint    []string
	Stack, Features []string
	NonReplace      bool
	KnownBug        string
	// Compiles is the most objects the build may compile (0: any).
	Compiles int
}

// expectLine is one line of a .expect file that is not blank or a comment.
type expectLine struct {
	// N is the line number, from 1.
	N int
	// Key is the first word, Rest what follows it without the blanks
	// around it.
	Key, Rest string
}

// maxSize bounds a .expect file: a few hundred lines of checks.
const maxSize = 1 << 20

// Path returns the expectations file of a patch file.
func Path(patch string) string {
	return strings.TrimSuffix(strings.TrimSuffix(patch, ".patch"), ".diff") + ".expect"
}

// readLines reads the lines of the .expect file path for verifier v; a
// missing file has none. See the package doc for what is refused.
func readLines(path string, v Verifier) ([]expectLine, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	if len(b) > maxSize {
		return nil, malformed(path, 0, nil, "larger than %d bytes: not a .expect file", maxSize)
	}
	var names []string
	for _, k := range Keys {
		if k.reads(v) {
			names = append(names, k.Name)
		}
	}
	var lines []expectLine
	for i, raw := range bytes.Split(b, []byte("\n")) {
		n := i + 1
		line := string(bytes.TrimSuffix(raw, []byte("\r")))
		if what := notText(line); what != "" {
			return nil, malformed(path, n, nil, "the line is not text (%s)", what)
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, rest := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			key, rest = line[:i], strings.TrimSpace(line[i:])
		}
		if !slices.Contains(names, key) {
			if k := keyNamed(key); k != nil {
				return nil, malformed(path, n, nil, "%q is read by %s only: %s cannot run it (its keys are %s)",
					key, k.For[0].describe(), v.describe(), strings.Join(names, ", "))
			}
			return nil, malformed(path, n, nil, "unknown key %q%s (a line is KEY VALUE, KEY one of %s)",
				key, suggest(key, names), strings.Join(names, ", "))
		}
		lines = append(lines, expectLine{N: n, Key: key, Rest: rest})
	}
	return lines, nil
}

// keyNamed returns the key of the grammar named name, or nil.
func keyNamed(name string) *Key {
	for i := range Keys {
		if Keys[i].Name == name {
			return &Keys[i]
		}
	}
	return nil
}

// moduleName is what a module name may be: no path, no blank.
var moduleName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,55}$`)

// Read reads the .expect file path for verifier v (a missing file
// expects nothing). Every line is parsed and refused, naming the file and
// the line, when it is wrong: besides the keys, a patched or unpatched
// line before any check or given twice for one check, a regexp that does
// not compile, a guest check with neither, an emulated check that is not
// of the check language, a bad module name, an outcome, changed or new
// line that does not have its form, a text key without a text.
func Read(path string, v Verifier) (*File, error) {
	if v != Emulated && v != Qemu {
		return nil, fmt.Errorf("%s: unknown verifier %q", path, v)
	}
	lines, err := readLines(path, v)
	if err != nil {
		return nil, err
	}
	e := &File{Path: path, Verifier: v}
	bad := func(l expectLine, cause error, format string, args ...any) error {
		return malformed(path, l.N, cause, format, args...)
	}
	checkLine := 0 // the line of the last guest check
	for _, l := range lines {
		switch l.Key {
		case "check":
			if v == Emulated {
				if err := targetCheck(l.Rest); err != nil {
					return nil, bad(l, err, "%s", err.Error())
				}
				e.Target = append(e.Target, l.Rest)
				break
			}
			if l.Rest == "" {
				return nil, bad(l, nil, "check without a command")
			}
			if err := e.lastCheckCompared(checkLine); err != nil {
				return nil, err
			}
			e.Guest = append(e.Guest, guest.Check{Command: l.Rest, Source: fmt.Sprintf("%s:%d", path, l.N)})
			checkLine = l.N
		case "patched", "unpatched":
			if len(e.Guest) == 0 {
				return nil, bad(l, nil, "%q before any check line", l.Key)
			}
			if l.Rest == "" {
				return nil, bad(l, nil, "%s without a regexp", l.Key)
			}
			if _, err := regexp.Compile(l.Rest); err != nil {
				return nil, bad(l, err, "%s: %s", l.Key, err.Error())
			}
			c := &e.Guest[len(e.Guest)-1]
			re := &c.Unpatched
			if l.Key == "patched" {
				re = &c.Patched
			}
			if *re != "" {
				return nil, bad(l, nil, "a second %s line for the check of line %d", l.Key, checkLine)
			}
			*re = l.Rest
		case "kmod":
			if !moduleName.MatchString(l.Rest) {
				return nil, bad(l, nil, "bad module name %q", l.Rest)
			}
			e.Kmods = append(e.Kmods, l.Rest)
		case "why-not-reached":
			fn, why, _ := strings.Cut(l.Rest, " ")
			if fn == "" || strings.TrimSpace(why) == "" {
				return nil, bad(l, nil, "why-not-reached %q: want FUNCTION REASON", l.Rest)
			}
			if e.NotReached == nil {
				e.NotReached = map[string]string{}
			}
			e.NotReached[fn] = strings.TrimSpace(why)
		case "outcome":
			if l.Rest != "build" && l.Rest != "refuse" && l.Rest != "nochange" {
				return nil, bad(l, nil, "outcome %q: want build, refuse or nochange", l.Rest)
			}
			e.Outcome = l.Rest
		case "changed", "new":
			f := strings.Fields(l.Rest)
			if len(f) != 2 {
				return nil, bad(l, nil, "%s %q: want OBJECT FUNCTION", l.Key, l.Rest)
			}
			if l.Key == "changed" {
				e.Changed = append(e.Changed, strings.Join(f, " "))
			} else {
				e.New = append(e.New, strings.Join(f, " "))
			}
		case "compiles":
			n, err := strconv.Atoi(l.Rest)
			if err != nil || n < 1 {
				return nil, bad(l, nil, "compiles %q: want a positive number", l.Rest)
			}
			e.Compiles = n
		case "nonreplace":
			if l.Rest != "" {
				return nil, bad(l, nil, "nonreplace takes no value")
			}
			e.NonReplace = true
		case "features":
			if l.Rest == "" {
				return nil, bad(l, nil, "features without a feature")
			}
			e.Features = append(e.Features, strings.Fields(l.Rest)...)
		default: // desc, refuse, hint, stack, knownbug: a text
			if l.Rest == "" {
				return nil, bad(l, nil, "%s without a text", l.Key)
			}
			switch l.Key {
			case "desc":
				e.Desc = l.Rest
			case "refuse":
				e.Refuse = append(e.Refuse, l.Rest)
			case "hint":
				e.Hint = append(e.Hint, l.Rest)
			case "stack":
				e.Stack = append(e.Stack, l.Rest)
			case "knownbug":
				e.KnownBug = l.Rest
			}
		}
	}
	if err := e.lastCheckCompared(checkLine); err != nil {
		return nil, err
	}
	return e, nil
}

// targetCheck checks an emulated target's check: "module NAME" or a
// check of the check language.
func targetCheck(spec string) error {
	if name, ok := strings.CutPrefix(spec, "module "); ok {
		if name = strings.TrimSpace(name); !moduleName.MatchString(name) {
			return fmt.Errorf("check module: bad module name %q", name)
		}
		return nil
	}
	_, err := livepatch.ParseCheck(spec)
	return err
}

// lastCheckCompared refuses a last guest check (of line n) without a
// patched or unpatched line: its output would never be compared.
func (e *File) lastCheckCompared(n int) error {
	if len(e.Guest) == 0 {
		return nil
	}
	if c := e.Guest[len(e.Guest)-1]; c.Patched == "" && c.Unpatched == "" {
		return malformed(e.Path, n, nil, "the check has no patched or unpatched line: its output would never be compared")
	}
	return nil
}

// Set is what a run's patches expect of their module, for one verifier:
// their files' checks joined in order.
type Set struct {
	Verifier Verifier
	// Emulated: the checks of the check language (without "module"
	// lines), compiled after livepatch.DefaultChecks (Checks) and on
	// their own (Own, those with a text to find), and the functions no
	// check runs.
	Specs      []string
	Checks     []livepatch.Check
	Own        []livepatch.Check
	NotReached map[string]string
	// Qemu: the guest's checks and the modules to load first (each
	// once).
	Guest []guest.Check
	Kmods []string
}

// ReadPatches reads the expectations of every patch (Path) for verifier
// v and joins them. For the emulated target the checks are compiled. For
// qemu, when there are checks, at least one must expect another output
// with the patch than without it (a patched regexp that is not its
// unpatched one), or the checks cannot tell the patch from no patch and
// they are refused (refusal.VerifyIndistinct); whether the output without
// the patch fails the patched regexp, the guest measures.
func ReadPatches(patches []string, v Verifier) (*Set, error) {
	all := &Set{Verifier: v}
	var files []string
	for _, p := range patches {
		e, err := Read(Path(p), v)
		if err != nil {
			return nil, err
		}
		for _, spec := range e.Target {
			if !strings.HasPrefix(spec, "module ") {
				all.Specs = append(all.Specs, spec)
			}
		}
		for fn, why := range e.NotReached {
			if all.NotReached == nil {
				all.NotReached = map[string]string{}
			}
			all.NotReached[fn] = why
		}
		if len(e.Guest) > 0 {
			files = append(files, e.Path)
		}
		all.Guest = append(all.Guest, e.Guest...)
		for _, m := range e.Kmods {
			if !slices.Contains(all.Kmods, m) {
				all.Kmods = append(all.Kmods, m)
			}
		}
	}
	if v == Emulated {
		checks, own, err := livepatch.AddChecks(livepatch.DefaultChecks, all.Specs)
		if err != nil {
			return nil, fmt.Errorf("checks of %s: %w", strings.Join(patches, ", "), err)
		}
		all.Checks, all.Own = checks, own
		return all, nil
	}
	if len(all.Guest) == 0 {
		return all, nil
	}
	for _, c := range all.Guest {
		if c.Patched != "" && c.Patched != c.Unpatched {
			return all, nil
		}
	}
	return nil, refusal.New(refusal.VerifyIndistinct, fmt.Sprintf(
		"in %s, no check has a patched regexp other than its unpatched one", strings.Join(files, ", ")))
}

// malformed refuses line n of a .expect file (0: the whole file), with
// the cause when a parser of the value gave one.
func malformed(path string, n int, cause error, format string, args ...any) error {
	where := path
	if n > 0 {
		where += ":" + strconv.Itoa(n)
	}
	r := refusal.New(refusal.ExpectMalformed, fmt.Sprintf(format, args...))
	if cause != nil {
		r.Err = cause
	}
	return fmt.Errorf("%s: %w", where, r)
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
