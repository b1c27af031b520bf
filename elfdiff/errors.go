package elfdiff

import (
	"errors"
	"fmt"
)

// Exit statuses, the same as kpatch's create-diff-object.
const (
	ExitOK       = 0 // output written
	ExitError    = 1 // tool or input error, or a hard refusal
	ExitFatal    = 2 // unreconcilable difference: the patch cannot be expressed
	ExitNoChange = 3 // no functional change: no output
)

// ErrNoChange is returned when the patched object has no functional
// change; its exit status is ExitNoChange.
var ErrNoChange = errors.New("no functional changes found")

// Error is a refusal or an error of the diff, with the exit status the
// reference tool uses for it, the element it concerns and a hint for the
// patch author.
type Error struct {
	Code    int    // ExitError or ExitFatal
	Object  string // the object being diffed
	Element string // the function, section or symbol concerned, if any
	Msg     string
	Hint    string
}

// Error returns the object and the message.
func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s", e.Object, e.Msg)
}

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

// refusal is a panic-free way for deep code to abort the diff: the phase
// functions return *Error values built by these helpers.
func (d *differ) errorf(elem, hint, format string, args ...any) *Error {
	return &Error{Code: ExitError, Object: d.objName, Element: elem, Msg: fmt.Sprintf(format, args...), Hint: hint}
}

func (d *differ) fatalf(elem, hint, format string, args ...any) *Error {
	return &Error{Code: ExitFatal, Object: d.objName, Element: elem, Msg: fmt.Sprintf(format, args...), Hint: hint}
}
