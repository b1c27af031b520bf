// Package elfdiff is the per-function object diff engine: given the
// original and the patched build of one translation unit, it correlates
// their sections and symbols, finds the functions that changed, includes
// what they need, rebuilds the special sections for them and decides which
// references the livepatch core must resolve (klp relocations), producing
// an object in the intermediate format of kpatch's create-diff-object.
//
// The phases follow the reference tool so that results agree on real
// kernel objects; the data structures differ (names are bucketed, symbols
// and sections are reached by pointer), which keeps the cost near-linear
// in the size of the objects. Every decision is recorded in a Report.
package elfdiff
