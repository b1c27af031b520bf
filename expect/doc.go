// Package expect is the one reader of PATCH.expect, the file beside a
// patch (the patch's name without .patch or .diff, plus .expect) that
// says how to verify the patch's module and, for the catalogue tests,
// what the patch must do.
//
// # Grammar
//
// A line is KEY VALUE; blank lines and lines starting with # are
// comments; a CR before the newline is dropped. Every other line must be
// text (UTF-8, no control character other than tab) and begin with a key
// of Keys that the chosen kernel's verifier reads; anything else is
// refused (refusal.ExpectMalformed) naming the file and the line, before
// anything is built. The two verifiers (Verifier) read different check
// kinds, and the grammar says which reads which:
//
//	key              verifier   value
//	check            Emulated   a check of the emulated target's check language
//	                            (livepatch.ParseCheck: syscall, call, step, proc,
//	                            func, sleep), or "module NAME": the patch changes
//	                            the bundled kernel's loadable module NAME
//	check            Qemu       a busybox sh command run in the guest, compared by
//	patched          Qemu         a Go regexp its output matches with the patch
//	unpatched        Qemu         ... and without it (before loading, after unloading)
//	kmod             Qemu       a distribution module to load besides those the
//	                            patch changes
//	why-not-reached  Emulated   FUNC REASON: no check runs FUNC's new body, because
//	desc             both       what the patch does (catalogue tests)
//	outcome          both       build, refuse or nochange (catalogue tests)
//	changed, new     both       OBJECT FUNCTION the patch changes or adds
//	refuse, hint     both       a text of the refusal and of its hint
//	stack            Emulated   NAME: build NAME.patch first (catalogue tests)
//	features         Emulated   CPU features of the emulated CPU (catalogue tests)
//	nonreplace       Emulated   build with -R (catalogue tests)
//	knownbug         Emulated   TEXT: what kpatch-build does not do yet (skipped)
//
// A key that only the other verifier reads is refused with a message
// that says so. ReadPatches reads the files of a run's patches for one
// verifier and joins them; for Qemu it also refuses checks that cannot
// tell the patch from no patch (refusal.VerifyIndistinct).
package expect
