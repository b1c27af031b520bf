#!/usr/bin/env bash
# Measures kpatch-build on Debian 12's kernel (tools/realkernel-setup.sh
# first): cold (empty cache, from the extracted tree) to the module, a
# one-.c-file patch with the prepared tree cached, and header patches: a
# static inline inlined by 2 objects, one inlined by 13 (objects chosen by
# the debug info, originals not cached yet) and a struct used by thousands
# (refused by --max-objects before any compile). Boots are excluded (no
# --verify). Prints one line per measurement, with the objects chosen (or
# the refusal's count). Usage: tools/bench-realkernel.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
# The newest installed 6.1 release with its headers and -dbg vmlinux, as
# the tool and the tests find it (package debian), matching the
# linux-source-6.1 extracted below (ls /boot/vmlinuz-* | sort -V would
# take a newer series installed beside it).
eval "$(go run ./tools/debkernel 6.1)"
go build -o "$work/kpatch-build" ./cmd/kpatch-build
if [ ! -e "$work/src/Makefile" ]; then
  mkdir -p "$work/src"
  tar -xf "$tarball" -C "$work/src" --strip-components=1
  chmod -R a-w "$work/src"
fi
rm -rf "$work/cache"
run() { # NAME PATCH
  local t0 t1 log=$work/$1.log
  t0=$(date +%s.%N)
  "$work/kpatch-build" -s "$work/src" -c "$config" -v "$vmlinux" \
    --cachedir "$work/cache" -o "$work/out" "$2" >"$log" 2>&1 || true
  t1=$(date +%s.%N)
  printf '%-34s %6.1f s  %s\n' "$1" "$(echo "$t1 - $t0" | bc)" \
    "$(grep -o -e '[0-9]* object(s) to build' -e '[0-9]* objects to compile, more than --max-objects [0-9]*' -e 'SUCCESS' "$log" | paste -sd' ')"
}
run "cold (empty cache)" testdata/realpatches/proc-devices-text.patch
run "one .c file, prepared tree cached" testdata/realpatches/new-function.patch
run "header: static inline, 2 users" testdata/realpatches/header-inline.patch
run "header: static inline, 13 users" testdata/realpatches/header-seq-option.patch
run "header: struct seq_file" testdata/realpatches/header-struct-refused.patch
