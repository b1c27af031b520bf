#!/usr/bin/env bash
# Installs, from Debian's packages, what kpatch-build needs to build and
# verify live patches for Debian 12's running kernel: the kernel image and
# headers, linux-source-6.1, the -dbg vmlinux and debug modules, the build
# dependencies, qemu and a static busybox. Idempotent; needs root.
# Prints the kernel release (KVER) on standard output.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "realkernel-setup: must run as root" >&2; exit 2; }
pkgs=(
  linux-image-amd64 linux-headers-amd64 linux-image-amd64-dbg linux-source-6.1
  gcc-12 gcc make bc flex bison libelf-dev libssl-dev dwarves xz-utils kmod
  binutils cpio qemu-system-x86 busybox-static
)
"$(dirname "$0")/apt-ensure.sh" realkernel-setup "${pkgs[@]}"
kver=
for v in $(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V); do
  [ -d "/lib/modules/$v/build" ] && [ -e "/usr/lib/debug/boot/vmlinux-$v" ] && kver=$v
done
[ -n "$kver" ] || { echo "realkernel-setup: no kernel with headers and a -dbg vmlinux installed" >&2; exit 1; }
echo "$kver"
