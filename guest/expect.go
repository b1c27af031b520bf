package guest

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Expectations are the guest checks a patch carries beside it, in
// PATCH.expect (the patch's name without .patch or .diff): the lines
//
//	check SHELL-COMMAND   a busybox sh command run in the guest
//	patched REGEXP        the preceding check's output with the patch
//	unpatched REGEXP      ... and before loading it and after unloading it
//	kmod NAME             a distribution module the patch targets
//
// Other lines (desc, outcome, changed, ...) belong to the catalogue tests
// and are skipped.
type Expectations struct {
	Checks []Check
	Kmods  []string
}

// ExpectPath returns the expectations file of a patch file.
func ExpectPath(patch string) string {
	return strings.TrimSuffix(strings.TrimSuffix(patch, ".patch"), ".diff") + ".expect"
}

// ReadExpectations reads the guest checks of path; a missing file gives
// no checks. A patched or unpatched line before any check, or a regexp
// that does not compile, is an error naming the file and the line.
func ReadExpectations(path string) (*Expectations, error) {
	e := &Expectations{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return e, nil
	}
	if err != nil {
		return nil, fmt.Errorf("expectations: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		key, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch key {
		case "check":
			if strings.HasPrefix(rest, "syscall ") {
				continue // the bundled kernel's form
			}
			e.Checks = append(e.Checks, Check{Command: rest})
		case "patched", "unpatched":
			if len(e.Checks) == 0 {
				return nil, fmt.Errorf("%s:%d: %q before any check line", path, n, key)
			}
			if _, err := regexp.Compile(rest); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", path, n, err)
			}
			c := &e.Checks[len(e.Checks)-1]
			if key == "patched" {
				c.Patched = rest
			} else {
				c.Unpatched = rest
			}
		case "kmod":
			if rest == "" || strings.ContainsAny(rest, " /") {
				return nil, fmt.Errorf("%s:%d: bad module name %q", path, n, rest)
			}
			e.Kmods = append(e.Kmods, rest)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return e, nil
}
