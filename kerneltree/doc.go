// Package kerneltree prepares a real Linux kernel tree for kbuild and
// builds single objects in it, the way kpatch-build needs them for a
// distribution kernel, without ever building the whole kernel and without
// writing the user's source tree:
//
//   - FindRunning reads the facts of the running kernel from its vmlinux
//     (release, compiler, special-section struct sizes) and finds the
//     files that go with it (Module.symvers, debug modules), cached by the
//     vmlinux's build-id;
//   - Prepare makes a cached work copy of the source tree with the
//     kernel's configuration and runs olddefconfig and modules_prepare in
//     it;
//   - LoadIndex maps each source file and header to the objects built
//     from it and each object to its parent (vmlinux or a module), from
//     the compile units and line tables of the debug vmlinux and modules;
//   - BuildObjects compiles named objects through kbuild's single-object
//     targets, in a clone of the prepared tree, original objects cached.
package kerneltree
