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
//     it; a cached copy is used only after it is compared with the source
//     tree and with what the preparation made (a difference: prepared
//     again);
//   - LoadIndex maps each source file and header to the objects built
//     from it and each object to its parent (vmlinux or a module), from
//     the compile units and line tables of the debug vmlinux and modules,
//     and records the header entities (functions, variables, types) each
//     compile unit's debug info declares;
//   - Index.HeaderUsers adds, for a header, the objects that reach it
//     through #include lines (the line tables miss objects that use only
//     a header's macros);
//   - Affected chooses the objects a patch can change: a C file's, and
//     for a header those its changed entities (HeaderEntities) reach, by
//     the debug info where it can tell, by the include graph where not;
//   - BuildObjects compiles named objects through kbuild's single-object
//     targets in the prepared tree itself (one run at a time, the files
//     the patches changed put back from the source tree, from a journal
//     even after a kill), original objects cached.
//
// The tool's own state (the journal, kpatch-macros.h, the original
// objects) lives beside the prepared tree, in its entry of the cache,
// where no patch reaches: a patch's paths stay inside the tree it is
// applied to. Every cache entry here (prepared tree, index, facts) is
// package cache's: content-addressed, the prepared tree changed in place
// under the entry's lock (cache.LockEntry), the others written whole.
//
// Measured on 2 shared cores (Debian 12, 6.1.0-56-amd64): FindRunning
// 4 s cold, 1 ms cached; Prepare 28 s cold on a quiet machine (55-150 s
// under load), 1-1.8 s cached (the key walks the tree's file list, 0.5 s;
// the comparison with the source tree, 0.5-0.7 s); the index
// 22-42 s to build (vmlinux and 4,023 debug modules, with their header
// entities), 1 s cached; HeaderUsers 4-8 s.
package kerneltree
