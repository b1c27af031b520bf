package refusal

import (
	"errors"
	"fmt"
	"strings"
)

// Key names a refusal. Keys are stable: tools and tests may match on them.
type Key string

// Command says which command's refusal an entry is, which also decides the
// README table it is listed in.
type Command int

const (
	// Diff is the diff engine (kpatch-build diff, and every object the main
	// command diffs).
	Diff Command = iota
	// Build is the main command (kpatch-build PATCH...).
	Build
)

// Exit statuses of refusals; the diff engine uses create-diff-object's.
const (
	ExitError = 1 // an error or a hard refusal
	ExitFatal = 2 // the diff engine: the change cannot be expressed as a live patch
)

// hintMalformed is the hint of the refusals that only a malformed object,
// or one built by a compiler the engine does not know, can cause.
const hintMalformed = "the object is malformed or not built by a supported compiler: rebuild it with the kernel's gcc; if it still happens, report it with both objects"

// hintSymtab is the hint of the refusals that come from a symbol table
// that does not describe the running kernel.
const hintSymtab = "the symbol table must be the running kernel's (or module's): the one the original object was built into"

// patchPrefix is the note of the refusals of a patch: what their message
// follows.
const patchPrefix = "(after `PATCH:LINE:` and the path, if any)"

// hintBuildFlags is the hint of the refusals caused by objects built in
// two different ways.
const hintBuildFlags = "build both objects with the same compiler, flags and configuration"

// Entry is one refusal.
type Entry struct {
	// Key identifies the refusal.
	Key Key
	// Cmd is the command that refuses.
	Cmd Command
	// Format is the fmt format of the message; its arguments are the
	// element's names. A %w verb takes the cause.
	Format string
	// Args name the arguments of Format as the README shows them ("X", "F",
	// "N"), one per verb.
	Args []string
	// Note, if set, follows the message in the README.
	Note string
	// Code is the exit status (ExitError or ExitFatal).
	Code int
	// Hint tells the patch author what to do. With HintFormat it is a
	// format of the message's arguments, each verb with an explicit
	// index (%[2]s), so that it can name the element.
	Hint       string
	HintFormat bool
}

// The keys, in table order.
const (
	DataSection             Key = "data-section"
	InitChanged             Key = "init-changed"
	DataChanged             Key = "data-changed"
	NotSelected             Key = "not-selected"
	SymbolBinding           Key = "symbol-binding"
	SymbolDefinition        Key = "symbol-definition"
	SymbolSection           Key = "symbol-section"
	ObjectSize              Key = "object-size"
	StaticLocalRemoved      Key = "static-local-removed"
	StaticLocalUnreferenced Key = "static-local-unreferenced"
	NoFentry                Key = "no-fentry"
	RuntimeConst            Key = "runtime-const"
	GroupMember             Key = "group-member"
	NewGroup                Key = "new-group"
	SectionHeader           Key = "section-header"
	ELFHeader               Key = "elf-header"
	ProgramHeader           Key = "program-header"
	Machine                 Key = "machine"
	MachineUnsupported      Key = "machine-unsupported"
	SymbolNotFound          Key = "symbol-not-found"
	LocalNotFound           Key = "local-not-found"
	FileNoMatch             Key = "file-no-match"
	FileDuplicateMatch      Key = "file-duplicate-match"
	DuplicateSymbol         Key = "duplicate-symbol"
	SymbolLookup            Key = "symbol-lookup"
	JumpLabels              Key = "jump-labels"
	StaticCalls             Key = "static-calls"
	ModuleSpecialKlp        Key = "module-special-klp"
	KlpRelocType            Key = "klp-reloc-type"
	StructSizeUnset         Key = "struct-size-unset"
	StructSizeInvalid       Key = "struct-size-invalid"
	IgnoreSectionEntry      Key = "ignore-section-entry"
	IgnoreSectionMissing    Key = "ignore-section-missing"
	IgnoreStaticEntry       Key = "ignore-static-entry"
	IgnoreFunctionType      Key = "ignore-function-type"
	IgnoreFunctionBundle    Key = "ignore-function-bundle"
	BundleMismatch          Key = "bundle-mismatch"
	SectionsNotCorrelated   Key = "sections-not-correlated"
	NoInstructionChange     Key = "no-instruction-change"
	SpecialFormat           Key = "special-format"
	ExTableRela             Key = "ex-table-rela"
	FixupGroup              Key = "fixup-group"
	OrcSize                 Key = "orc-size"
	OrcMismatch             Key = "orc-mismatch"
	OrcReloc                Key = "orc-reloc"
	Decode                  Key = "decode"
	TextSection             Key = "text-section"
	TargetOffset            Key = "target-offset"
	PrefixFunction          Key = "prefix-function"
	SymbolOffset            Key = "symbol-offset"
	ParentFunction          Key = "parent-function"
	ReplacementSymbol       Key = "replacement-symbol"
	RelocNotInOutput        Key = "reloc-not-in-output"
	RelocOutOfRange         Key = "reloc-out-of-range"
	SiblingCall             Key = "sibling-call"
	Internal                Key = "internal"

	BuildFileChange    Key = "build-file-change"
	LibChange          Key = "lib-change"
	AsmChange          Key = "asm-change"
	PatchAbsolute      Key = "patch-absolute"
	PatchOutside       Key = "patch-outside"
	PatchSymlinkOut    Key = "patch-symlink-out"
	PatchSymlinkBroken Key = "patch-symlink-broken"
	PatchNoPrefix      Key = "patch-no-prefix"
	PatchNamesDiffer   Key = "patch-names-differ"
	PatchPureRename    Key = "patch-pure-rename"
	PatchBinary        Key = "patch-binary"
	PatchSpecialFile   Key = "patch-special-file"
	PatchMalformed     Key = "patch-malformed"
	PatchTreeMismatch  Key = "patch-tree-mismatch"
	PatchToolState     Key = "patch-tool-state"
	PatchNotInTree     Key = "patch-not-in-tree"
	PatchGenerated     Key = "patch-generated"
	HunkFails          Key = "hunk-fails"
	HunkFuzz           Key = "hunk-fuzz"
	PatchedBuild       Key = "patched-build"
	CompilerCheck      Key = "compiler-check"
	CompilerMismatch   Key = "compiler-mismatch"
	NoChangedObjects   Key = "no-changed-objects"
	NeedVmlinux        Key = "need-vmlinux"
	KernelMismatch     Key = "kernel-mismatch"
	LayoutChange       Key = "layout-change"
	CompilerMissing    Key = "compiler-missing"
	NoConfig           Key = "no-config"
	NotCompiled        Key = "not-compiled"
	NoCSource          Key = "no-c-source"
	TooManyObjects     Key = "too-many-objects"
	RealRename         Key = "real-rename"
	ObjectErrors       Key = "object-errors"
	NoFunctionalChange Key = "no-functional-change"
	PrintCFlags        Key = "print-cflags"
	UndefinedSymbols   Key = "undefined-symbols"
	Hardening          Key = "hardening"
	VerifyFailed       Key = "verify-failed"
	VerifyMissing      Key = "verify-missing"
	VerifyUnpatched    Key = "verify-unpatched"
	ExpectMalformed    Key = "expect-malformed"
	VerifyIndistinct   Key = "verify-indistinct"
)

// table is every refusal, the diff engine's first, most common first.
var table = []Entry{
	// The diff engine: what a live patch cannot express (exit 2).
	{Key: DataSection, Format: "data section %s selected for inclusion", Args: []string{"X"}, Code: ExitFatal,
		Hint: "a live patch cannot change or add data in an existing data section; use a shadow variable (klp_shadow_alloc) or a new static inside the patched function"},
	{Key: InitChanged, Format: "changed section %s not selected for inclusion", Args: []string{".init..."}, Code: ExitFatal,
		Hint: "init code has already run (Linux frees it after boot); a change to an __init function cannot be live patched (use KPATCH_IGNORE_SECTION if the change is harmless)"},
	{Key: DataChanged, Format: "changed section %s not selected for inclusion", Args: []string{".data..."}, Code: ExitFatal,
		Hint: "changed initial values of existing data are not applied to the running kernel; change the data at patch time in a callback, or use a shadow variable"},
	{Key: NotSelected, Format: "changed section %s not selected for inclusion", Args: []string{"X"}, Code: ExitFatal,
		Hint: "no changed function uses this section; if the change is intended, make a patched function reference it"},
	{Key: SymbolBinding, Format: "symbol info mismatch: %s", Args: []string{"X"}, Note: "(type or binding changed)", Code: ExitFatal,
		Hint: "keep the function's or variable's binding (static or global) as it is in the running kernel"},
	{Key: SymbolDefinition, Format: "symbol info mismatch: %s", Args: []string{"X"}, Note: "(defined in one object only)", Code: ExitFatal,
		Hint: "a symbol cannot move between defined here and defined elsewhere in a live patch; keep its definition where the running kernel has it"},
	{Key: SymbolSection, Format: "symbol changed sections: %s", Args: []string{"X"}, Code: ExitFatal,
		Hint: "keep the function or variable in the section it was in: a changed __section(), __init, __cold or similar attribute cannot be live patched"},
	{Key: ObjectSize, Format: "object size mismatch: %s", Args: []string{"X"}, Code: ExitFatal,
		Hint: "a data structure cannot change size in a live patch; use a shadow variable for new fields"},
	{Key: StaticLocalRemoved, Format: "reference to static local variable %s in %s was removed", Args: []string{"X", "F"}, Code: ExitFatal, HintFormat: true,
		Hint: "keep the static local variable referenced from the function, or give the new variable a different name; if the patched code no longer needs the variable's value, say so with KPATCH_IGNORE_STATIC(\"%[1]s\") (kpatch-macros.h)"},
	{Key: StaticLocalUnreferenced, Format: "static local %s has been correlated with %s, but patched %s is missing a reference to it", Args: []string{"X", "Y", "F"}, Code: ExitFatal, HintFormat: true,
		Hint: "keep a reference to the static local in the patched function, or give the new variable a different name; if the patched code no longer needs the variable's value, say so with KPATCH_IGNORE_STATIC(\"%[1]s\") (kpatch-macros.h)"},
	{Key: NoFentry, Format: "%d function(s) can not be patched", Args: []string{"N"}, Note: "(the log names each: `doesn't have patchable function entry`)", Code: ExitFatal,
		Hint: "a function built without an ftrace call site (notrace, or code outside -pg) cannot be redirected; patch its callers instead"},
	{Key: RuntimeConst, Format: "%s uses the runtime constant %s (section %s), which only vmlinux's boot code sets", Args: []string{"F", "C", "runtime_ptr_C"}, Code: ExitFatal, HintFormat: true,
		Hint: "a live patch cannot use runtime constants: the kernel writes %[2]s into vmlinux's own code once at boot, never into a module's, so a patched copy of %[1]s would keep the build-time placeholder; rewrite the change so that no patched function inlines the constant (USER_PTR_MAX comes with access_ok, user_access_begin and masked_user_access_begin: leave the function that checks the user range unchanged), or patch a caller instead"},
	{Key: GroupMember, Format: "changed section %s is part of a section group", Args: []string{"X"}, Code: ExitFatal,
		Hint: "code in a section group (COMDAT, such as an out-of-line copy of an inline function) cannot be patched in place; move the change into an ordinary function"},
	{Key: NewGroup, Format: "new/changed group sections are not supported", Code: ExitFatal,
		Hint: "the patch adds a section group (COMDAT); make the new function static, or avoid it"},
	{Key: SectionHeader, Format: "%s section header details differ from %s", Args: []string{"X", "Y"}, Code: ExitFatal, Hint: hintBuildFlags},
	{Key: ELFHeader, Format: "ELF headers differ", Code: ExitFatal, Hint: hintBuildFlags},
	{Key: ProgramHeader, Format: "ELF contains program header", Code: ExitFatal,
		Hint: "diff relocatable objects (.o) as the compiler wrote them, not linked executables or modules"},

	// The diff engine: the inputs do not fit (exit 1).
	{Key: Machine, Format: "%s and %s are for different machines (%v, %v)", Args: []string{"ORIG", "PATCHED", "M1", "M2"}, Code: ExitError,
		Hint: "build both objects with the same compiler and target"},
	{Key: MachineUnsupported, Format: "%w", Args: []string{"ERR"}, Code: ExitError,
		Hint: "only the architectures package relocs has tables for can be diffed"},
	{Key: SymbolNotFound, Format: "can't find symbol '%s' in symbol table", Args: []string{"X"}, Code: ExitError, Hint: hintSymtab},
	{Key: LocalNotFound, Format: "can't find local symbol '%s' in symbol table", Args: []string{"X"}, Code: ExitError, Hint: hintSymtab},
	{Key: FileNoMatch, Format: "%w", Args: []string{"couldn't find matching F local symbols in P symbol table"}, Code: ExitError, Hint: hintSymtab},
	{Key: FileDuplicateMatch, Format: "%w", Args: []string{"found duplicate matches for F local symbols in P symbol table"}, Code: ExitError,
		Hint: "the running kernel has several files of this name with the same static symbols, so the patched ones cannot be told apart; rename a static of the patched file or patch a caller in another file"},
	{Key: DuplicateSymbol, Format: "%w", Args: []string{"duplicate local symbol found for X"}, Note: "(or global, or exported)", Code: ExitError,
		Hint: "the name is ambiguous in the running kernel's symbol table; patch a function whose references are unique, or use a symbol table of the right kernel"},
	{Key: SymbolLookup, Format: "%w", Args: []string{"the symbol table's message"}, Code: ExitError, Hint: hintSymtab},
	{Key: JumpLabels, Format: "Found %d unsupported jump label(s) in the patched code. Use static_key_enabled() instead.", Args: []string{"N"}, Code: ExitError,
		Hint: "use static_key_enabled() instead of a static branch on a key defined in a module"},
	{Key: StaticCalls, Format: "Found %d unsupported static call(s) in the patched code. Use KPATCH_STATIC_CALL() instead.", Args: []string{"N"}, Code: ExitError,
		Hint: "a static call whose key a module defines cannot be called from a live patch's code: call it as KPATCH_STATIC_CALL(name)(args) (kpatch-macros.h) instead of static_call(name)(args), an indirect call through the function its key holds"},
	{Key: ModuleSpecialKlp, Format: "unsupported klp relocation reference to symbol '%s' in module-specific special section '%s'", Args: []string{"X", "S"}, Code: ExitError,
		Hint: "the livepatch core resolves klp relocations after the module's special sections are applied; do not use a symbol of another module in a jump label, alternative or exception entry of the patched code"},
	{Key: KlpRelocType, Format: "%s+%#x: relocation type %s to '%s' can't become a klp relocation on this architecture", Args: []string{"S", "OFF", "T", "X"}, Code: ExitError,
		Hint: "reference the symbol another way (through a pointer or an exported function), or make the patched code not use it"},
	{Key: StructSizeUnset, Format: "%s not set", Args: []string{"X_STRUCT_SIZE"}, Code: ExitError,
		Hint: "set it to sizeof the kernel's struct (kpatch-build finds it in vmlinux's debug information)"},
	{Key: StructSizeInvalid, Format: "%s=%q is not a positive size", Args: []string{"X_STRUCT_SIZE", "V"}, Code: ExitError,
		Hint: "set it to the size in bytes of the kernel's struct, a positive integer"},
	{Key: IgnoreSectionEntry, Format: "KPATCH_IGNORE_SECTION: entry at %#x does not point to a string", Args: []string{"OFF"}, Code: ExitError,
		Hint: "use the KPATCH_IGNORE_SECTION() macro, which records a pointer to the section's name"},
	{Key: IgnoreSectionMissing, Format: "KPATCH_IGNORE_SECTION: can't find %s", Args: []string{"S"}, Code: ExitError,
		Hint: "name a section of this object (with -ffunction-sections a function's section is .text.NAME)"},
	{Key: IgnoreStaticEntry, Format: "KPATCH_IGNORE_STATIC: entry at %#x does not point to a string", Args: []string{"OFF"}, Code: ExitError,
		Hint: "use the KPATCH_IGNORE_STATIC() macro with the variable's name as a string: KPATCH_IGNORE_STATIC(\"name\")"},
	{Key: IgnoreFunctionType, Format: "KPATCH_IGNORE_FUNCTION: expected function symbol: %s", Args: []string{"X"}, Code: ExitError,
		Hint: "KPATCH_IGNORE_FUNCTION() takes a function, not a variable"},
	{Key: IgnoreFunctionBundle, Format: "KPATCH_IGNORE_FUNCTION: expected bundled symbol: %s", Args: []string{"X"}, Code: ExitError,
		Hint: "build with -ffunction-sections so that the function has a section of its own"},
	{Key: BundleMismatch, Format: "bundle mismatch for symbol %s", Args: []string{"X"}, Code: ExitError,
		Hint: "build both objects with -ffunction-sections and -fdata-sections"},
	{Key: SectionsNotCorrelated, Format: "sections %s and %s aren't correlated for symbol %s", Args: []string{"S1", "S2", "X"}, Code: ExitError,
		Hint: "the symbol's sections could not be paired; " + hintBuildFlags},
	{Key: NoInstructionChange, Format: "no instruction changes detected for changed section %s", Args: []string{"S"}, Code: ExitError,
		Hint: "the section's bytes differ but no instruction does; if the objects were built the same way, report it with both objects"},

	// The diff engine: malformed input (exit 1).
	{Key: SpecialFormat, Format: "BUG: %s has an unexpected format", Args: []string{"S"}, Code: ExitError,
		Hint: "check that the special section's X_STRUCT_SIZE is the kernel's; otherwise " + hintMalformed},
	{Key: ExTableRela, Format: "missing .rela__ex_table section", Code: ExitError, Hint: hintMalformed},
	{Key: FixupGroup, Format: "can't find .fixup rela group at offset %d", Args: []string{"OFF"}, Code: ExitError, Hint: hintMalformed},
	{Key: OrcSize, Format: "bad .orc_unwind size", Code: ExitError,
		Hint: "check that ORC_STRUCT_SIZE is the size of the kernel's struct orc_entry; otherwise " + hintMalformed},
	{Key: OrcMismatch, Format: ".orc_unwind/.orc_unwind_ip size mismatch", Code: ExitError, Hint: hintMalformed},
	{Key: OrcReloc, Format: "relocation at %#x outside .orc_unwind_ip", Args: []string{"OFF"}, Code: ExitError, Hint: hintMalformed},
	{Key: Decode, Format: "can't decode instruction in %s: %w", Args: []string{"S", "ERR"}, Code: ExitError, Hint: hintMalformed},
	{Key: TextSection, Format: "section %s: %w", Args: []string{"S", "ERR"}, Code: ExitError, Hint: hintMalformed},
	{Key: TargetOffset, Format: "%s+%#x: %w", Args: []string{"S", "OFF", "ERR"}, Code: ExitError, Hint: hintMalformed},
	{Key: PrefixFunction, Format: "missing func for %s", Args: []string{"__pfx_F"}, Code: ExitError, Hint: hintMalformed},
	{Key: SymbolOffset, Format: "symbol %s at offset %d within section %s, expected %d", Args: []string{"X", "OFF", "S", "WANT"}, Code: ExitError, Hint: hintMalformed},
	{Key: ParentFunction, Format: "failed to find parent function for %s", Args: []string{"F.cold"}, Code: ExitError, Hint: hintMalformed},
	{Key: ReplacementSymbol, Format: "%s+%#x: can't find replacement symbol for %s+%d reference", Args: []string{"S", "OFF", "X", "ADDEND"}, Code: ExitError, Hint: hintMalformed},
	{Key: RelocNotInOutput, Format: "%s+%#x: relocation references %s, which is not part of the output", Args: []string{"S", "OFF", "X"}, Code: ExitError, Hint: hintMalformed},
	{Key: RelocOutOfRange, Format: "%s+%#x: out-of-range relocation %s+%d", Args: []string{"S", "OFF", "X", "ADDEND"}, Code: ExitError, Hint: hintMalformed},
	{Key: SiblingCall, Format: "Found an unsupported sibling call at %s()+%#x; keep %s from tail-calling", Args: []string{"F", "OFF", "F"}, Code: ExitError,
		Hint: "on ppc64le a patched function must not end in a tail call: mark the function __attribute__((optimize(\"-fno-optimize-sibling-calls\"))) in the patch"},
	{Key: Internal, Format: "internal error: %v (please report this with both objects)", Args: []string{"PANIC"}, Code: ExitError,
		Hint: "this is a bug of the diff engine, not of the patch: report it with both objects"},

	// The main command (exit 1).
	// The main command's refusals of a patch, before anything is written:
	// each message follows "PATCH:LINE: PATH: " (the patch file, the line of
	// the file's header or the hunk, the path as the patch writes it).
	{Key: BuildFileChange, Cmd: Build, Format: "changes to the kernel's build files are not supported (%s)", Args: []string{"FILE"}, Note: patchPrefix, Code: ExitError,
		Hint: "a live patch replaces functions of the running kernel; Makefile, Kbuild, Kconfig, configuration, linker-script and scripts/ changes need a new kernel build: drop them from the patch"},
	{Key: LibChange, Cmd: Build, Format: "changes to lib/ are not supported (%s)", Args: []string{"FILE"}, Note: patchPrefix, Code: ExitError,
		Hint: "lib/ code is linked from archives and may be inlined anywhere; patch the callers instead"},
	{Key: AsmChange, Cmd: Build, Format: "changes to assembly files are not supported (%s)", Args: []string{"FILE"}, Note: patchPrefix, Code: ExitError,
		Hint: "assembly has no per-function sections or ftrace call sites; move the change into C"},
	{Key: PatchAbsolute, Cmd: Build, Format: "absolute path: the paths of a patch are relative to the source tree", Note: patchPrefix, Code: ExitError,
		Hint: "make the patch inside the tree (git diff, or diff -u a/FILE b/FILE from the tree's parent)"},
	{Key: PatchOutside, Cmd: Build, Format: "the path leaves the source tree (%s after cleaning)", Args: []string{"CLEANED"}, Note: patchPrefix, Code: ExitError,
		Hint: "a patch may only change files inside the source tree"},
	{Key: PatchSymlinkOut, Cmd: Build, Format: "the path goes through the symlink %s, which points outside the source tree (to %s)", Args: []string{"LINK", "TARGET"}, Note: patchPrefix, Code: ExitError,
		Hint: "a patch may only change files inside the source tree; patch the file the link points to in its own tree"},
	{Key: PatchSymlinkBroken, Cmd: Build, Format: "the path goes through the symlink %s, which does not resolve", Args: []string{"LINK"}, Note: patchPrefix, Code: ExitError,
		Hint: "a patch may only change files inside the source tree"},
	{Key: PatchNoPrefix, Cmd: Build, Format: "the path has no first directory to strip (kpatch-build applies patches like patch -p1)", Note: patchPrefix, Code: ExitError,
		Hint: "make the patch with git diff, or with diff -u a/FILE b/FILE from the tree's parent directory"},
	{Key: PatchNamesDiffer, Cmd: Build, Format: "the old and new names differ (%s and %s) in a diff that is not a git diff, which cannot rename", Args: []string{"OLD", "NEW"}, Note: patchPrefix, Code: ExitError,
		Hint: "make the patch with git diff (it records renames), or give both names the same path after the first directory"},
	{Key: PatchPureRename, Cmd: Build, Format: "a pure rename of %s to %s (no changes): a live patch replaces functions of the running kernel, renaming a source file changes nothing in it", Args: []string{"OLD", "NEW"}, Note: patchPrefix, Code: ExitError,
		Hint: "drop the rename from the patch; a rename that also changes the file is applied (its changes are built from the new name)"},
	{Key: PatchBinary, Cmd: Build, Format: "binary changes are not supported", Note: patchPrefix, Code: ExitError,
		Hint: "a live patch is built from source changes only"},
	{Key: PatchSpecialFile, Cmd: Build, Format: "the patch makes a file of mode %06o, not a regular file (a symlink, a submodule), which a live patch cannot contain", Args: []string{"MODE"}, Note: patchPrefix, Code: ExitError,
		Hint: "a live patch is built from changes to regular source files only"},
	{Key: PatchMalformed, Cmd: Build, Format: "%w", Args: []string{"WHAT"}, Note: patchPrefix + ": a hunk whose line counts do not match its lines, or cut short, or without a file header; a file name that cannot be read or is too long; no file changes at all", Code: ExitError,
		Hint: "the patch is damaged (a mailer or an editor may have changed it): make it again with git format-patch or diff -u"},
	{Key: PatchTreeMismatch, Cmd: Build, Format: "%w", Args: []string{"WHAT"}, Note: patchPrefix + ": no such file in the source tree, a new file that already exists, a deletion that does not remove the whole file, a file where the tree has a directory or the reverse", Code: ExitError,
		Hint: "the patch was made against another tree: refresh it against the running kernel's source tree"},
	{Key: PatchToolState, Cmd: Build, Format: "the path names kpatch-build's own state (%s: no file of a source tree starts with .kpatch-)", Args: []string{".kpatch-NAME"}, Note: patchPrefix, Code: ExitError,
		Hint: "a patch may only change the source tree's files; remove the file from the patch"},
	{Key: PatchNotInTree, Cmd: Build, Format: "no such file in the source tree %s: a patch changes the tree's own files or creates new ones", Args: []string{"SRCDIR"}, Note: patchPrefix, Code: ExitError,
		Hint: "make the patch against the running kernel's source tree; a generated file (.config, include/generated/...) is not one of its files"},
	{Key: PatchGenerated, Cmd: Build, Format: "the file is generated when the tree is prepared (olddefconfig, modules_prepare), not a source file", Note: patchPrefix, Code: ExitError,
		Hint: "a live patch changes the running kernel's source files; the configuration and generated headers are the running kernel's and cannot change"},
	{Key: HunkFails, Cmd: Build, Format: "hunk #%d (%s) does not apply: its lines are not in %s at any offset, even with %d of its context lines ignored (fuzz)", Args: []string{"N", "@@ -A,B +C,D @@", "FILE", "F"}, Note: patchPrefix + "; F is the hunk's context on its longer side, the most GNU patch could ignore", Code: ExitError,
		Hint: "refresh the patch against this source tree (the tree the running kernel was built from)"},
	{Key: HunkFuzz, Cmd: Build, Format: "hunk #%d (%s) does not apply with fuzz %d (--fuzz): it applies to %s only with fuzz %d, at line %d", Args: []string{"N", "@@ -A,B +C,D @@", "MAX", "FILE", "F", "L"}, Note: patchPrefix, Code: ExitError, HintFormat: true,
		Hint: "hunk #%[1]d of %[4]s applies at line %[6]d only with %[5]d of its context lines ignored at its ends: check that line %[6]d is where the change belongs, then allow it with --fuzz %[5]d (GNU patch's and kpatch-build's default is 2), or refresh the patch against this source tree"},
	{Key: PatchedBuild, Cmd: Build, Format: "patched build: %w", Args: []string{"FILE:LINE:COL: error: ..."}, Note: "(the compiler's first error, gcc's lines with it, then the command, the number of errors and the file holding make's whole output, `CACHEDIR/logs/NAME.log`)", Code: ExitError,
		Hint: "fix the patch so that the kernel compiles with it"},
	{Key: CompilerCheck, Cmd: Build, Format: "compiler check: %w", Args: []string{"ERR"}, Code: ExitError,
		Hint: "use --skip-compiler-check if you are sure the compilers match"},
	{Key: CompilerMismatch, Cmd: Build, Format: "compiler mismatch: the kernel was built with %q, %s is %q", Args: []string{"V1", "CC", "V2"}, Code: ExitError,
		Hint: "build the patch with the compiler that built the running kernel, or use --skip-compiler-check"},
	{Key: KernelMismatch, Cmd: Build, Format: "%s: function %s is not the running kernel's (%s): %s", Args: []string{"OBJECT", "FUNCTION", "DIFFERENCE", "CAUSE"}, Code: ExitError,
		Hint: "build from the running kernel's own source, configuration and compiler: Debian's linux-source package of the kernel's exact version (dpkg -s linux-image-KVER names it), /lib/modules/KVER/build/.config and the compiler its .comment names; --skip-proof builds anyway (dangerous: the module would carry the differences into the running kernel)"},
	{Key: LayoutChange, Cmd: Build, Format: "%w", Args: []string{"OBJECT: TYPE changes its layout (MEMBER ...)"}, Code: ExitError,
		Hint: "the running kernel's code and the instances it already made keep the old layout: leave the type as it is and keep new fields in a shadow variable (klp_shadow_get_or_alloc), or make a new type used only by new code"},
	{Key: NeedVmlinux, Cmd: Build, Format: "%s is a Linux source tree: -v VMLINUX is required (kpatch-build never builds the whole kernel)", Args: []string{"SRCDIR"}, Code: ExitError,
		Hint: "give the running kernel's vmlinux with symbols: Debian's linux-image-KVER-dbg package installs it as /usr/lib/debug/boot/vmlinux-KVER"},
	{Key: CompilerMissing, Cmd: Build, Format: "%w", Args: []string{"compiler check: CC is not the compiler that built the kernel"}, Code: ExitError,
		Hint: "install the compiler that built the kernel (Debian: gcc-12), or use --skip-compiler-check"},
	{Key: NoConfig, Cmd: Build, Format: "no kernel configuration: give it with -c CONFIG", Code: ExitError,
		Hint: "the running kernel's configuration is /lib/modules/KVER/build/.config (linux-headers-KVER) or /boot/config-KVER"},
	{Key: NotCompiled, Cmd: Build, Format: "no object of the running kernel is built from it", Note: patchPrefix, Code: ExitError,
		Hint: "the file is not compiled with the running kernel's configuration (for a header: no compiled file includes it)"},
	{Key: RealRename, Cmd: Build, Format: "renames %s to %s: the running kernel's object keeps the old name", Args: []string{"OLD", "NEW"}, Note: patchPrefix, Code: ExitError,
		Hint: "keep the file's name in a live patch (rename it in the next kernel release)"},
	{Key: NoCSource, Cmd: Build, Format: "the patches change no C file or header", Code: ExitError,
		Hint: "kpatch-build patches functions of C files"},
	{Key: TooManyObjects, Cmd: Build, Format: "%d objects to compile, more than --max-objects %d: %s", Args: []string{"N", "MAX", "FILE: ENTITY: N object(s): WHY; ..."}, Code: ExitError,
		Hint: "refused before any compile: a changed static inline function reaches only the objects that inline it, a macro, a directive or a widely used type every includer; change the function (or a new one) instead of the macro or type, split the patch, raise --max-objects (2 cores compile about 7 objects a minute when both builds are needed, 14 when the originals are cached), or spread the compiles with --distcc"},
	{Key: NoChangedObjects, Cmd: Build, Format: "no changed objects found", Code: ExitError,
		Hint: "the patch changed nothing that the build compiles"},
	{Key: ObjectErrors, Cmd: Build, Format: "%d error(s) encountered:\n%s", Args: []string{"N", "ERRORS"}, Note: "(one line per refused object, with its hint)", Code: ExitError,
		Hint: "every changed object must be patchable: fix each refused object as its own hint says, or leave it unchanged"},
	{Key: NoFunctionalChange, Cmd: Build, Format: "no functional changes found", Code: ExitError,
		Hint: "the patch changes only line numbers or nothing the running code uses"},
	{Key: PrintCFlags, Cmd: Build, Format: "%s: 'make print-cflags' failed (%w): %s", Args: []string{"TREE", "ERR", "OUTPUT"}, Code: ExitError,
		Hint: "the tree's Makefile must print its compile flags with 'make print-cflags' (the bundled kernel does); building modules for a real Linux tree through kbuild is not supported yet"},
	{Key: UndefinedSymbols, Cmd: Build, Format: "patch module %s: undefined symbols: %s", Args: []string{"M.ko", "X"}, Code: ExitError,
		Hint: "the patched code uses symbols that are neither exported by the running kernel nor in the patch; a module can only call exported functions, so export them or keep the change inside vmlinux"},
	{Key: Hardening, Cmd: Build, Format: "patch module %s breaks the kernel's control-flow hardening: %s", Args: []string{"M.ko", "PROBLEMS"}, Code: ExitError,
		Hint: "every function an indirect branch can enter must start with ENDBR64 and every return must be a return-thunk jump in .return_sites (kbuild's objtool writes them when it links the module): report it with the module and `kpatch-build inspect`'s output"},
	{Key: VerifyFailed, Cmd: Build, Format: "verify: %w", Args: []string{"ERR"}, Note: "(with the target's console)", Code: ExitError,
		Hint: "the module did not load, did not patch, or the old behaviour did not come back: the target's console above shows where"},
	{Key: VerifyMissing, Cmd: Build, Format: "verify: with the patch, %s does not contain %q:\n%s", Args: []string{"CHECK", "TEXT", "OUTPUT"}, Code: ExitError,
		Hint: "the patched function did not run or did not print the text: check the patch's `check` line and that the patch changes what the system call runs"},
	{Key: VerifyUnpatched, Cmd: Build, Format: "verify: %s contains %q without the patch too", Args: []string{"CHECK", "TEXT"}, Code: ExitError,
		Hint: "the `check` text must be one that only the patched kernel prints: choose a text the patch adds"},
	{Key: ExpectMalformed, Cmd: Build, Format: "%s", Args: []string{"WHAT"}, Note: "(after `PATCH.expect:LINE:`): an unknown key, a key the kernel's verifier does not read, a line that is not text, a `patched` or `unpatched` line before any check or twice for one, a regexp that does not compile, a check with neither, an emulated check that does not parse, a bad module name; refused before anything is built", Code: ExitError,
		Hint: "a PATCH.expect line is KEY VALUE: `check`, `patched`, `unpatched` and `kmod` for --verify on a distribution kernel (qemu), `check` and `why-not-reached` on the bundled kernel (the emulated target), `desc`, `outcome`, `changed`, `new`, `refuse`, `hint` and (on a distribution kernel) `compiles` for the catalogue tests; `#` starts a comment"},
	{Key: VerifyIndistinct, Cmd: Build, Format: "verify: the checks cannot tell the patch from no patch: %s", Args: []string{"WHY"}, Note: "(before the build when no check expects another output with the patch; after the guest's first unpatched phase when every check's output already matches its patched regexp)", Code: ExitError,
		Hint: "give at least one check a `patched` regexp that the output without the patch does not match (a text the patch adds or changes); checks meant to stay the same may keep one regexp for both"},
}

var byKey = func() map[Key]int {
	m := make(map[Key]int, len(table))
	for i, e := range table {
		m[e.Key] = i
	}
	return m
}()

// All returns every entry, in table order.
func All() []Entry { return append([]Entry(nil), table...) }

// Lookup returns the entry of k. An unknown key is a programming error (a
// test checks that every key is in the table); it panics.
func Lookup(k Key) Entry {
	i, ok := byKey[k]
	if !ok {
		panic(fmt.Sprintf("refusal: no entry for key %q", k))
	}
	return table[i]
}

// Message formats the entry's message with args and returns it with the
// cause the format wraps with %w (nil if none).
func (e Entry) Message(args ...any) (string, error) {
	err := fmt.Errorf(e.Format, args...)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return err.Error(), u.Unwrap()
	case interface{ Unwrap() []error }:
		return err.Error(), errors.Join(u.Unwrap()...)
	}
	return err.Error(), nil
}

// Shown returns the message as the README shows it: each verb of Format
// replaced by its Args name, new lines by spaces.
func (e Entry) Shown() string {
	s, _ := render(e.Format, e.Args)
	return s
}

// FormatHint returns the hint for a refusal whose message has args: with
// HintFormat, formatted with them.
func (e Entry) FormatHint(args ...any) string {
	if !e.HintFormat {
		return e.Hint
	}
	return fmt.Sprintf(e.Hint, args...)
}

// ShownHint returns the hint as the README shows it: with HintFormat,
// each verb replaced by its Args name.
func (e Entry) ShownHint() string {
	if !e.HintFormat {
		return e.Hint
	}
	s, _ := render(e.Hint, e.Args)
	return s
}

// Verbs returns the number of verbs (arguments) of Format.
func (e Entry) Verbs() int {
	_, n := render(e.Format, e.Args)
	return n
}

// render replaces the verbs of format by the names of args (a "?" for a
// missing name; a verb with an explicit index, %[2]s, by that argument's)
// and counts them.
func render(f string, args []string) (string, int) {
	var b strings.Builder
	n := 0
	name := func(k int) string {
		if k >= 0 && k < len(args) {
			return args[k]
		}
		return "?"
	}
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		j := i + 1
		for j < len(f) && strings.IndexByte("+-# 0123456789.", f[j]) >= 0 {
			j++
		}
		index := -1
		if j < len(f) && f[j] == '[' {
			end := strings.IndexByte(f[j:], ']')
			if end > 0 {
				fmt.Sscanf(f[j+1:j+end], "%d", &index)
				index--
				j += end + 1
			}
		}
		switch {
		case j < len(f) && f[j] == '%':
			b.WriteByte('%')
		case index >= 0:
			b.WriteString(name(index))
		default:
			b.WriteString(name(n))
			n++
		}
		i = j
	}
	return strings.ReplaceAll(b.String(), "\n", " "), n
}

// Error is a refusal: the entry's key, exit status and hint, the
// formatted message and the cause it wraps. It is the one refusal error
// type of every command; the diff engine's refusals also name the object
// and the element they concern.
type Error struct {
	Key  Key
	Code int // ExitError or ExitFatal
	Msg  string
	Hint string
	// Object is the object file the refusal concerns (the diff engine's
	// refusals), or "". When set, Error prefixes the message with it.
	Object string
	// Element is the function, section or symbol of Object concerned,
	// if any.
	Element string
	// Err is the cause, if the message wraps one (errors.Is and errors.As
	// see through it).
	Err error
}

// New returns the refusal k with its message formatted from args.
func New(k Key, args ...any) *Error {
	e := Lookup(k)
	msg, cause := e.Message(args...)
	return &Error{Key: k, Code: e.Code, Msg: msg, Hint: e.FormatHint(args...), Err: cause}
}

// In returns the refusal k of object obj about elem (a function, section
// or symbol, or ""), its message formatted from args.
func In(obj, elem string, k Key, args ...any) *Error {
	e := New(k, args...)
	e.Object, e.Element = obj, elem
	return e
}

// Error returns the message (the hint is separate), after the object if
// the refusal names one.
func (e *Error) Error() string {
	if e.Object != "" {
		return e.Object + ": " + e.Msg
	}
	return e.Msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Find returns the first refusal k in err's tree (err, then what it wraps,
// depth first as errors.As walks it, joined errors included), or nil.
// Unlike errors.As it looks past refusals of other keys, such as the
// object-errors refusal that wraps the diff engine's.
func Find(err error, k Key) *Error {
	if e, ok := err.(*Error); ok && e.Key == k {
		return e
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return Find(u.Unwrap(), k)
	case interface{ Unwrap() []error }:
		for _, w := range u.Unwrap() {
			if e := Find(w, k); e != nil {
				return e
			}
		}
	}
	return nil
}
