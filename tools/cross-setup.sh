#!/usr/bin/env bash
# Installs, from Debian's packages, the cross compilers and binutils the
# cross-architecture real-object test (elfdiff/crossarch_test.go) uses:
# ppc64le, s390x and aarch64, plus the host tools of a kernel build.
# Debian 12 ships no loongarch64 cross gcc, so that architecture is covered
# by the unit corpus only. Idempotent; needs root when something is
# missing. Prints the cross compilers on standard output.
set -euo pipefail
arches=(powerpc64le s390x aarch64)
pkgs=(gcc-12 make bc flex bison libelf-dev libssl-dev xz-utils)
for a in "${arches[@]}"; do
  pkgs+=("gcc-12-$a-linux-gnu" "binutils-$a-linux-gnu")
done
"$(dirname "$0")/apt-ensure.sh" cross-setup "${pkgs[@]}"
for a in "${arches[@]}"; do
  command -v "$a-linux-gnu-gcc-12"
done
