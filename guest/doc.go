// Package guest boots a real Linux kernel under qemu with a minimal busybox
// initramfs and verifies a livepatch module inside it.
//
// The initramfs is built in Go (the newc cpio format, see WriteCPIO): a
// static busybox, an /init script, the patch module and the distribution
// modules it targets, resolved from the kernel's modules.dep. Run boots it
// (TCG by default, KVM on request) in a directory of $TMPDIR its run holds
// locked (a later run removes those of dead runs); qemu runs in its own
// process group, killed on timeout or cancellation, and dies with its
// caller (the parent-death signal). It returns the serial console.
// VerifyPatch drives the livepatch life cycle in the guest: checks
// without the patch, load and transition, checks with it, disable and
// unload, checks without it again. The guest only prints marked output;
// every decision is taken on the host from the console, so the Summary
// names exactly what was checked and why it failed, including whether the
// checks can tell the patch from no patch at all.
//
// The checks come from the PATCH.expect file beside a patch, read for
// qemu by package expect (the one reader of that grammar), strictly:
// every line is known or refused with its file and line.
package guest
