package patch

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/kpatchgo/kpatch-build/refusal"
)

// Error is a patch that is refused or does not apply. It names the
// patch file, the line of the patch (the file's header, or the hunk's) and
// the path as the patch writes it. A refusal wraps its *refusal.Error (the
// table's message, exit status and hint); errors.As finds it.
type Error struct {
	Patch string // the patch file
	Line  int    // line of the patch, 0 when no line applies
	Path  string // the file's path as the patch writes it, "" for the whole patch
	Err   error  // what is wrong: a *refusal.Error, or an I/O error with context
}

// Error returns "PATCH:LINE: PATH: MESSAGE" (the hint is separate).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Patch)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": " + quotePath(e.Path))
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

// Unwrap returns what is wrong.
func (e *Error) Unwrap() error { return e.Err }

// quotePath quotes a path that would not read as one word in a message
// (spaces, control characters, an empty name).
func quotePath(p string) string {
	if p == "" || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == '"' || r == 0x7f }) {
		return strconv.Quote(p)
	}
	return p
}

// refused places a refusal of package refusal's table in the patch.
func refused(patch string, line int, path string, r *refusal.Error) *Error {
	return &Error{Patch: patch, Line: line, Path: path, Err: r}
}

// malformed refuses a patch that does not parse (refusal.PatchMalformed);
// a %w in format keeps the cause visible to errors.Is and errors.As.
func malformed(patch string, line int, path string, format string, args ...any) *Error {
	return refused(patch, line, path, refusal.New(refusal.PatchMalformed, fmt.Errorf(format, args...)))
}

// mismatch refuses a patch that does not fit the tree: a file missing or
// already there, a directory where a file should be
// (refusal.PatchTreeMismatch); a %w in format keeps the cause.
func mismatch(patch string, line int, path string, format string, args ...any) *Error {
	return refused(patch, line, path, refusal.New(refusal.PatchTreeMismatch, fmt.Errorf(format, args...)))
}
