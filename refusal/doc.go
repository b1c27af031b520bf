// Package refusal is the one table of the refusals a user can meet: every
// message the diff engine (kpatch-build diff) or the main command prints
// when it will not build a patch, with the exit status it carries and a
// hint for the patch author.
//
// Code refuses by key: every refusal is an *Error built from an Entry
// (message, exit status, hint) by New, or by In for the diff engine's,
// which also name the object and the element, so a message, its code and
// its hint are written once, here. Callers match refusals with errors.As,
// or Find to look past an outer refusal. The README's refusal tables are generated from
// this table (go test ./refusal -update) and a test fails when they drift.
package refusal
