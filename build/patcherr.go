package build

import (
	"fmt"
	"strconv"
	"strings"
)

// PatchError is a patch that is refused or does not apply. It names the
// patch file, the line of the patch (the file's header, or the hunk's) and
// the path as the patch writes it, and carries a hint for the patch author
// when there is one.
type PatchError struct {
	Patch string // the patch file
	Line  int    // line of the patch, 0 when no line applies
	Path  string // the file's path as the patch writes it, "" for the whole patch
	Msg   string // what is wrong
	Hint  string // what the patch author can do, "" when there is nothing to add
	Err   error  // the cause, nil when there is none
}

// Error returns "PATCH:LINE: PATH: MESSAGE[: CAUSE]" (the hint is separate).
func (e *PatchError) Error() string {
	var b strings.Builder
	b.WriteString(e.Patch)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Path != "" {
		b.WriteString(": " + quotePath(e.Path))
	}
	b.WriteString(": " + e.Msg)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *PatchError) Unwrap() error { return e.Err }

// quotePath quotes a path that would not read as one word in a message
// (spaces, control characters, an empty name).
func quotePath(p string) string {
	if p == "" || strings.ContainsFunc(p, func(r rune) bool { return r <= ' ' || r == '"' || r == 0x7f }) {
		return strconv.Quote(p)
	}
	return p
}

// patchRefusal is one kind of patch refusal: the message (a format for
// its arguments) and the hint, kept together so that every refusal of a
// patch reads from this one table.
type patchRefusal struct {
	msg  string
	hint string
}

// The refusals of patches. A path refusal always happens before anything
// is written.
var (
	refuseAbsolute = patchRefusal{
		"absolute path: the paths of a patch are relative to the source tree",
		"make the patch inside the tree (git diff, or diff -u a/FILE b/FILE from the tree's parent)"}
	refuseOutside = patchRefusal{
		"the path leaves the source tree (%s after cleaning)",
		"a patch may only change files inside the source tree"}
	refuseSymlinkOut = patchRefusal{
		"the path goes through the symlink %s, which points outside the source tree (to %s)",
		"a patch may only change files inside the source tree; patch the file the link points to in its own tree"}
	refuseSymlinkBroken = patchRefusal{
		"the path goes through the symlink %s, which does not resolve",
		"a patch may only change files inside the source tree"}
	refuseNoPrefix = patchRefusal{
		"the path has no first directory to strip (kpatch-build applies patches like patch -p1)",
		"make the patch with git diff, or with diff -u a/FILE b/FILE from the tree's parent directory"}
	refuseNoFile = patchRefusal{
		"the path names no file",
		""}
	refuseNamesDiffer = patchRefusal{
		"the old and new names differ (%s and %s) in a diff that is not a git diff, which cannot rename",
		"make the patch with git diff (it records renames), or give both names the same path after the first directory"}
	refusePureRename = patchRefusal{
		"a pure rename of %s to %s (no changes): a live patch replaces functions of the running kernel, renaming a source file changes nothing in it",
		"drop the rename from the patch; a rename that also changes the file is applied (its changes are built from the new name)"}
	refuseBinary = patchRefusal{
		"binary changes are not supported",
		"a live patch is built from source changes only"}
	refuseSpecialMode = patchRefusal{
		"the patch makes a file of mode %06o, not a regular file (a symlink, a submodule), which a live patch cannot contain",
		"a live patch is built from changes to regular source files only"}
	refuseHunkAnchor = patchRefusal{
		"hunk #%d (%s) does not apply: its lines are in %s, but not at the %s of the file, where its shorter context after or before its change says it is (kpatch-build never applies with fuzz)",
		"refresh the patch against this source tree (the tree the running kernel was built from)"}
	refuseNoHunk = patchRefusal{
		"hunk #%d (%s) does not apply: its lines are not in %s at any offset (kpatch-build applies hunks at an offset, never with fuzz)",
		"refresh the patch against this source tree (the tree the running kernel was built from)"}
)

// refuse makes the PatchError of a refusal.
func (r patchRefusal) refuse(patch string, line int, path string, args ...any) *PatchError {
	return &PatchError{Patch: patch, Line: line, Path: path, Msg: fmt.Sprintf(r.msg, args...), Hint: r.hint}
}

// patchErrorf makes a PatchError without a hint (a malformed patch, a file
// that is missing or already there).
func patchErrorf(patch string, line int, path string, format string, args ...any) *PatchError {
	return &PatchError{Patch: patch, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)}
}
