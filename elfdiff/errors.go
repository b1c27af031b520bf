package elfdiff

import (
	"errors"

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

// ExitCode returns the exit status for err: 0 for nil, the code of the
// refusal (*refusal.Error) it holds, ExitNoChange for ErrNoChange, and
// ExitError otherwise.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, ErrNoChange) {
		return ExitNoChange
	}
	var e *refusal.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ExitError
}

// refuse returns the refusal k of the object being diffed about elem (a
// function, section or symbol, or ""), its message formatted from args:
// deep code aborts the diff by returning it, without panicking.
func (d *differ) refuse(k refusal.Key, elem string, args ...any) *refusal.Error {
	return refusal.In(d.objName, elem, k, args...)
}

// refuseLookup returns the refusal of a failed symbol table look-up about
// elem, chosen by the kind of err.
func (d *differ) refuseLookup(elem string, err error) *refusal.Error {
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
