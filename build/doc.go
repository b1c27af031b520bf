// Package build produces the object pairs kpatch-build diffs: it makes a
// work copy of the user's source tree (the user's tree is never written:
// source files are hard links, and every file a patch touches is replaced
// by a new file, not edited), builds it with -ffunction-sections
// -fdata-sections through a compiler wrapper that records each object it
// compiles and keeps the original object aside, applies the patches
// strictly, rebuilds, and returns the original and patched object of
// every object the patch made the build recompile.
package build
