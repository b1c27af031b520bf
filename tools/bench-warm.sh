#!/usr/bin/env bash
# Measures kpatch-build's edit-build loop on a Debian kernel
# (tools/realkernel-setup.sh SERIES first): a one-.c-file patch with
# everything cached (prepared tree, original object, kbuild's recorded
# commands), to the module, by stage; gcc alone on the same object (the
# command kbuild recorded for it, without objtool) right after each warm
# run; and the ratio of the two. Boots are excluded (no --verify).
# Usage: tools/bench-warm.sh [SERIES [PATCH [WORKDIR]]]
#   SERIES  6.1 (default) or 6.12: the newest installed release of it
#   PATCH   default testdata/realpatches/new-function.patch (6.1) or
#           testdata/realpatches-6.12/new-function.patch
#   WORKDIR keeps the extracted source and the cache between runs
# SRC=DIR uses an extracted linux-source tree instead of extracting one;
# RUNS=N measures N pairs of a warm run and gcc alone (default 5) and
# prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
series=${1:-6.1}
patch=${2:-}
work=${3:-$(mktemp -d)}
runs=${RUNS:-5}
if [ -z "$patch" ]; then
  patch=testdata/realpatches/new-function.patch
  [ "$series" = 6.1 ] || patch=testdata/realpatches-$series/new-function.patch
fi
patch=$(realpath "$patch")
eval "$(go run ./tools/debkernel "$series")"
go build -o "$work/kpatch-build" ./cmd/kpatch-build
src=${SRC:-$work/src-$series}
if [ ! -e "$src/Makefile" ]; then
  mkdir -p "$src"
  tar -xf "$tarball" -C "$src" --strip-components=1
  chmod -R a-w "$src"
fi
cache=$work/cache
build() { # LOG
  "$work/kpatch-build" -d -s "$src" -c "$config" -v "$vmlinux" --cachedir "$cache" -o "$work/out" "$patch" >"$1" 2>&1
}
# forget LOG: removes the work tree that -d kept (its progress line says
# where), outside the timed part.
forget() { local kept; kept=$(sed -n 's/.*kept the work tree: //p' "$1" | head -1); [ -z "$kept" ] || rm -rf "$kept"; }
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# Warm up: prepare the tree, build the original object and record the
# commands (the first run), then build once the fast way (the hook).
build "$work/warmup1.log" || { cat "$work/warmup1.log"; exit 1; }
forget "$work/warmup1.log"
build "$work/warmup2.log" || { cat "$work/warmup2.log"; exit 1; }
forget "$work/warmup2.log"

# at LOG PATTERN: the progress timestamp of the first line matching.
at() { grep -m1 -E "$2" "$1" | sed -E 's/^\[ *([0-9.]+)s\].*/\1/'; }
: >"$work/totals"
: >"$work/gcc"
: >"$work/ratios"
# gcc alone: the object's recorded command up to its first ";" (objtool
# follows), writing to a scratch file rather than into the prepared tree.
log=$work/warmup2.log
obj=$(grep -m1 -oE '[0-9]+ object\(s\) to build: [^ ]+' "$log" | awk '{ print $NF }')
home=$cache/prepared-$(grep -m1 -oE 'using the prepared tree [0-9a-f]+' "$log" | awk '{ print $NF }')
tree=$home/tree
cmdfile=$(ls "$home"/objects-*/"$(dirname "$obj")/.$(basename "$obj").cmd" | head -1)
gcccmd=$(grep -m1 -E "^(saved)?cmd_$obj := " "$cmdfile" | sed -E "s/^(saved)?cmd_[^ ]+ := //; s/;.*//; s/\\\$\\\$/\$/g")
scratch=$(mktemp -d)
gcccmd=${gcccmd/-Wp,-MMD,$(dirname "$obj")\/.$(basename "$obj").d/-Wp,-MMD,$scratch/o.d}
gcccmd=${gcccmd/ -o $obj / -o $scratch/o.o }
# Each warm run is followed by gcc alone, so that both of a pair see the
# same load; the medians and the median of the pairs' ratios are printed.
for i in $(seq "$runs"); do
  log=$work/warm$i.log
  t0=$(date +%s.%N)
  build "$log"
  t1=$(date +%s.%N)
  forget "$log"
  t2=$(date +%s.%N)
  (cd "$tree" && sh -c "$gcccmd")
  t3=$(date +%s.%N)
  echo "$t1 - $t0" | bc >>"$work/totals"
  echo "$t3 - $t2" | bc >>"$work/gcc"
  echo "($t1 - $t0) / ($t3 - $t2)" | bc -l >>"$work/ratios"
done
rm -rf "$scratch"
total=$(median <"$work/totals")
# The stages are those of the run whose total is the median.
medrun=$(grep -n -x -m1 "$total" "$work/totals" | cut -d: -f1)
log=$work/warm$medrun.log
grep -q "(kbuild's recorded commands)" "$log" || echo "warning: the patched object was built by make: $(grep -m1 'built by make' "$log")"
grep -q "linked with kbuild's recorded commands" "$log" || echo "warning: the module was linked by make: $(grep -m1 'linked by make' "$log")"
running=$(at "$log" 'running kernel')
prepared=$(at "$log" 'using the prepared tree')
objects=$(at "$log" 'object\(s\) to build')
applying=$(at "$log" '^\[ *[0-9.]+s\] applying')
built=$(at "$log" 'built [0-9]+ patched object')
proved=$(at "$log" 'proved the')
modstart=$(at "$log" 'building patch module')
wrote=$(at "$log" 'kbuild: wrote')
done_=$(at "$log" 'SUCCESS')
gcc=$(median <"$work/gcc")
stage() { printf "  %-44s %5.2f s\n" "$1" "$(echo "d = $3 - $2; if (d < 0) d = 0; d" | bc)"; }
echo "kernel $release (series $series), patch $(basename "$patch"), object $obj; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "warm run (median of $runs; its stages from its progress lines):"
stage "running kernel's facts (cached)" 0 "$running"
stage "source listed, prepared tree checked" "$running" "$prepared"
stage "index, objects chosen" "$prepared" "$objects"
stage "patch applied, patched object compiled" "$applying" "$built"
stage "proof against the running kernel" "$built" "$proved"
stage "diff" "$proved" "$modstart"
stage "module linked" "$modstart" "$wrote"
stage "checks, written" "$wrote" "$done_"
stage "process start and exit (outside the lines)" "$done_" "$total"
printf '  %-44s %5.2f s\n' "total (wall clock, process start to exit)" "$total"
printf 'gcc alone on %s (median of %d): %.2f s\n' "$obj" "$runs" "$gcc"
printf 'ratio: %.1f (medians); median of the %d pairs'"'"' ratios: %.1f (range %.1f-%.1f)\n' "$(echo "$total / $gcc" | bc -l)" "$runs" \
  "$(median <"$work/ratios")" "$(sort -n "$work/ratios" | head -1)" "$(sort -n "$work/ratios" | tail -1)"
