#!/usr/bin/env bash
# Usage: realkernel-setup.sh [SERIES]
# Installs, from Debian's packages, what kpatch-build needs to build and
# verify live patches for a Debian kernel series on Debian 12: the kernel
# image and headers, linux-source-SERIES, the -dbg vmlinux and debug
# modules, the build dependencies, qemu and a static busybox.
#   6.1   Debian 12's own kernel (the default; the real-kernel test tier)
#   6.12  the kernel of bookworm-backports (added to apt's sources)
# Idempotent; needs root when something is missing. Prints, on standard
# output, the newest installed release of SERIES that has its headers and
# debug vmlinux: the one the tool and the tests use (package debian).
set -euo pipefail
series=${1:-6.1}
[ "$(id -u)" = 0 ] || { echo "realkernel-setup: must run as root" >&2; exit 2; }
here=$(dirname "$0")
tools=(gcc-12 gcc make bc flex bison libelf-dev libssl-dev dwarves xz-utils kmod
  binutils cpio qemu-system-x86 busybox-static distcc)

# newest prints the newest release of the series with an image, headers
# and a debug vmlinux (the rule of debian.Newest), or nothing.
newest() {
  local kver= v
  for v in $(ls /boot/vmlinuz-"$series".* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V); do
    case $v in "$series".*) ;; *) continue ;; esac
    # 6.1 must not take 6.12's releases: the series is up to the second dot
    # or the first non-digit after the minor number.
    [ "$(echo "$v" | sed -E 's/^([0-9]+\.[0-9]+).*/\1/')" = "$series" ] || continue
    [ -d "/lib/modules/$v/build" ] && [ -e "/usr/lib/debug/boot/vmlinux-$v" ] && kver=$v
  done
  echo "$kver"
}

# The kernel lines, one row each: SERIES and the Debian 12 archive suite
# its packages come from (bookworm: Debian 12's own, already in apt's
# sources; any other suite is added to them). Everything else is the
# same for every line: the packages are linux-image-amd64,
# linux-headers-amd64, linux-image-amd64-dbg and linux-source-SERIES,
# and the tool finds the paths and the compiler from what they install
# (package debian, the config's CONFIG_CC_VERSION_TEXT). A new kernel
# line is a new row here, plus its tests.
lines='
6.1  bookworm
6.12 bookworm-backports
'
suite=$(echo "$lines" | awk -v s="$series" '$1 == s {print $2}')
if [ -z "$suite" ]; then
  echo "realkernel-setup: series $series unknown (one of: $(echo "$lines" | awk 'NF {print $1}' | paste -sd' '))" >&2
  exit 2
fi
pkgs=(linux-image-amd64 linux-headers-amd64 linux-image-amd64-dbg "linux-source-$series")
if [ "$suite" = bookworm ]; then
  "$here/apt-ensure.sh" realkernel-setup "${pkgs[@]}" "${tools[@]}"
else
  "$here/apt-ensure.sh" realkernel-setup "${tools[@]}"
  list=/etc/apt/sources.list.d/kpatch-$suite.sources
  if [ -z "$(newest)" ] || ! [ -e "/usr/src/linux-source-$series.tar.xz" ]; then
    if ! grep -rqs "$suite" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$suite" >"$list"
    fi
    echo "realkernel-setup: installing Debian's $series kernel from $suite" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends -t "$suite" "${pkgs[@]}" >&2
  fi
fi
kver=$(newest)
[ -n "$kver" ] || { echo "realkernel-setup: no $series kernel with headers and a -dbg vmlinux installed" >&2; exit 1; }
echo "$kver"
