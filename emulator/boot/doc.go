// Package boot builds the bundled kernel (emulator/kernel) with gcc and
// boots it on a machine: it loads vmlinux, sets up the per-CPU areas,
// fills boot_cpu_data from the emulated CPU's CPUID, applies the
// alternatives, turns every __mcount_loc site into a NOP (ftrace init),
// registers vmlinux's special tables and exports, creates the boot task
// and runs start_kernel until the kernel reports HC_BOOT_DONE.
//
// Builds are cached: Build copies the kernel sources (and any extra
// module directories) into a directory named by a hash of their
// contents under the user's cache directory and runs make there, so the
// source tree is never written and a second build of the same sources
// costs a directory lookup.
package boot
