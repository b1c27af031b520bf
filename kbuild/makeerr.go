package kbuild

import (
	"errors"
	"fmt"
	"github.com/kpatchgo/kpatch-build/worktree"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// MakeError is a failed build command (make, or kbuild's make): its
// first compiler diagnostic, the line a patch author needs, comes first,
// and the whole output is saved to a log file.
type MakeError struct {
	// What is the command, shortened: "make fs/proc/uptime.o".
	What string
	// First is the first error diagnostic of the output, as the compiler
	// wrote it ("fs/proc/uptime.c:12:5: error: expected ';' before
	// 'return'"), "" when there is none (then Tail is shown).
	First string
	// Context are the lines gcc prints around First: the function it is
	// in, the source line and the caret under it.
	Context []string
	// Errors counts the error diagnostics of the output.
	Errors int
	// Tail are the last lines of the output, shown without a diagnostic.
	Tail string
	// Log is the file holding the whole output, "" if it was not saved.
	Log string
	// Err is the command's failure (an exit status).
	Err error
}

// Error returns the first diagnostic, its context and where the whole
// output is; without a diagnostic, the output's last lines.
func (e *MakeError) Error() string {
	var b strings.Builder
	if e.First == "" {
		fmt.Fprintf(&b, "%s: %v\n%s", e.What, e.Err, e.Tail)
		if e.Log != "" {
			fmt.Fprintf(&b, "\n(the whole output: %s)", e.Log)
		}
		return b.String()
	}
	b.WriteString(e.First)
	for _, l := range e.Context {
		b.WriteString("\n  " + l)
	}
	fmt.Fprintf(&b, "\n(%s: %v; %d error(s)", e.What, e.Err, e.Errors)
	if e.Log != "" {
		fmt.Fprintf(&b, "; the whole output: %s", e.Log)
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap returns the command's failure.
func (e *MakeError) Unwrap() error { return e.Err }

// diagnosticRE matches a compiler's error: "FILE:LINE:COL: error: TEXT"
// (or "fatal error:"; gcc and clang write them so).
var diagnosticRE = regexp.MustCompile(`^[^\s:]+:\d+:(?:\d+:)? (?:fatal )?error: `)

// otherErrorRE matches the errors of the other tools of a build: the
// linker's, modpost's and objtool's.
var otherErrorRE = regexp.MustCompile(`(?:^|: )(?:undefined reference to |ERROR: |error: |error adding symbols)`)

// linkerRE matches any message of the linker.
var linkerRE = regexp.MustCompile(`^\S*ld(?:\.bfd|\.gold)?: `)

// inFunctionRE matches the line before a diagnostic that names the
// function it is in (gcc's, and the linker's "in function").
var inFunctionRE = regexp.MustCompile(`^[^\s:]+: [Ii]n (?:function|member function|constructor|destructor) `)

// sourceRE matches gcc's lines under a diagnostic: the source line and
// the caret ("   12 |   foo();" and "      |   ^~~").
var sourceRE = regexp.MustCompile(`^ *\d* \| `)

// NewMakeError makes the error of a failed build command from its
// output: the first error diagnostic and its context, the number of
// errors, the last lines. When logFile is not "" the whole output is
// written to it (its directory made), and the error says where.
func NewMakeError(what string, out []byte, err error, logFile string) *MakeError {
	e := &MakeError{What: what, Err: err}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	first := -1
	for i, l := range lines {
		if diagnosticRE.MatchString(l) {
			if first < 0 {
				first = i
			}
			e.Errors++
		}
	}
	// No compiler error: the linker's or modpost's, if any, else the
	// linker's first message.
	for _, re := range []*regexp.Regexp{otherErrorRE, linkerRE} {
		for i, l := range lines {
			if first >= 0 {
				break
			}
			if re.MatchString(l) && !strings.HasPrefix(l, "make") {
				first = i
				e.Errors++
			}
		}
	}
	if first >= 0 {
		e.First = lines[first]
		if first > 0 && inFunctionRE.MatchString(lines[first-1]) {
			e.Context = append(e.Context, lines[first-1])
		}
		for _, l := range lines[first+1:] {
			if !sourceRE.MatchString(l) {
				break
			}
			e.Context = append(e.Context, l)
		}
	}
	e.Tail = tail(string(out), 20)
	if logFile != "" {
		if werr := writeLog(logFile, out); werr == nil {
			e.Log = logFile
		} else {
			e.Err = errors.Join(err, fmt.Errorf("saving the output: %w", werr))
		}
	}
	return e
}

// writeLog writes a build's output to path, replacing it whole.
func writeLog(path string, out []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return worktree.ReplaceFile(path, out, 0o644)
}
