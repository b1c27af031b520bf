// Package build produces the object pairs kpatch-build diffs: it makes a
// work copy of the user's source tree (the user's tree is never written:
// source files are hard links, and every file a patch touches is replaced
// by a new file, not edited), builds it with -ffunction-sections
// -fdata-sections through a compiler wrapper that records each object it
// compiles and keeps the original object aside, applies the patches,
// rebuilds, and returns the original and patched object of every object
// the patch made the build recompile.
//
// Patches are untrusted input, read by our own parser and applier
// (patch*.go): every path is checked to stay in the tree before anything
// is written, hunks apply where GNU patch applies them (exactly, at an
// offset, or with up to ApplyOptions.Fuzz context lines ignored), and
// every refusal of a patch, with its hint, is in package refusal's table
// (patcherr.go places them in the patch).
package build
