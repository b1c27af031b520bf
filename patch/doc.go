// Package patch reads and applies source patches, which are untrusted
// input: our own parser reads them as patch -p1 does (unified and git
// diffs, mail text around them skipped, the first directory of every name
// stripped), every path is checked to stay in the tree (no traversal, no
// symlink out, no name of the tool's own state) before anything is
// written, hunks apply where GNU patch applies them (exactly, at an
// offset, or with up to ApplyOptions.Fuzz context lines ignored), a file
// is changed only by replacing it with a new one (the user's hard-linked
// file is never written), and every refusal of a patch, with its hint, is
// in package refusal's table, placed at its file and line (Error).
package patch
