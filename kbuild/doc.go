// Package kbuild runs the kernel's builds: make with the kernel's
// compiler, in the C locale, with the compiler's first error first when it
// fails (MakeError, the whole output in a log), and the bundled kernel's
// whole build: a work copy of its tree (package worktree), built with
// -ffunction-sections -fdata-sections through a compiler wrapper that
// records each object it compiles, the original build cached (package
// cache), the patches applied (package patch), the tree rebuilt, and the
// original and patched object of every object the patch made the build
// recompile returned.
package kbuild
