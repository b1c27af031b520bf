package elfdiff

import (
	"errors"
	"fmt"

	"github.com/kpatchgo/kpatch-build/refusal"
	"github.com/kpatchgo/kpatch-build/symtab"
)

// Exit statuses, the same as kpatch's create-diff-object.
const (
	ExitOK       = 0                 // output written
	ExitError    = refusal.ExitError // tool or input error, or a hard refusal
	ExitFatal    = refusal.ExitFatal // unreconcilable difference: the patch cannot be expressed
	ExitNoChange = 3                 // no functional change: no output
)

// ErrNoChange is returned when the patched object has no functional
// change; its exit status is ExitNoChange.
var ErrNoChange = errors.New("no functional changes found")

// Error is a refusal of the diff (an entry of package refusal's table),
// with the exit status the reference tool uses for it, the element it
// concerns and a hint for the patch author.
type Error struct {
	Key     refusal.Key
	Code    int    // ExitError or ExitFatal
	Object  string // the object being diffed
	Element string // the function, section or symbol concerned, if any
	Msg     string
	Hint    string
	Err     error // the cause, if any (errors.Is sees through it)
}

// Error returns the object and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Object, e.Msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ExitCode returns the exit status for err: 0 for nil, the Error's code,
// ExitNoChange for ErrNoChange, and ExitError otherwise.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, ErrNoChange) {
		return ExitNoChange
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}

// refuse returns the refusal k about elem (a function, section or symbol,
// or ""), its message formatted from args: deep code aborts the diff by
// returning it, without panicking.
func (d *differ) refuse(k refusal.Key, elem string, args ...any) *Error {
	return newError(d.objName, k, elem, args...)
}

// newError returns the refusal k of object obj about elem.
func newError(obj string, k refusal.Key, elem string, args ...any) *Error {
	e := refusal.Lookup(k)
	msg, cause := e.Message(args...)
	return &Error{Key: k, Code: e.Code, Object: obj, Element: elem, Msg: msg, Hint: e.FormatHint(args...), Err: cause}
}

// refuseLookup returns the refusal of a failed symbol table look-up about
// elem, chosen by the kind of err.
func (d *differ) refuseLookup(elem string, err error) *Error {
	k := refusal.SymbolLookup
	switch {
	case errors.Is(err, symtab.ErrNoFileMatch):
		k = refusal.FileNoMatch
	case errors.Is(err, symtab.ErrDuplicateFileMatch):
		k = refusal.FileDuplicateMatch
	case errors.Is(err, symtab.ErrDuplicateSymbol):
		k = refusal.DuplicateSymbol
	}
	return d.refuse(k, elem, err)
}
