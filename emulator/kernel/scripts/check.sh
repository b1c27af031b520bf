#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Compile-only checks of the bundled kernel (no emulator needed):
#
#   scripts/check.sh            (from emulator/kernel, or "make check")
#
# 1. a clean build is warning-free, in both layouts: the default one and
#    kpatch-build's (KCFLAGS="-ffunction-sections -fdata-sections"), each
#    in a scratch copy of the tree;
# 2. scripts/elfcheck.c (a host program) decodes vmlinux's special
#    sections and checks the layout promised in README.md and ABI.md,
#    and checks every .ko against Module.symvers;
# 3. Module.symvers has the kernel's format.
set -eu

cd "$(dirname "$0")/.."
CC=${CC:-gcc}
HOSTCC=${HOSTCC:-gcc}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$HOSTCC" -O1 -Wall -D_GNU_SOURCE -o "$tmp/elfcheck" scripts/elfcheck.c

status=0
for layout in default function-sections; do
	kcflags=
	[ $layout = function-sections ] && kcflags="-ffunction-sections -fdata-sections"
	tree=$tmp/$layout
	mkdir "$tree"
	tar cf - --exclude='*.o' --exclude='*.ko' --exclude='*.mod.c' \
		--exclude='.*.d' --exclude=vmlinux --exclude=Module.symvers \
		--exclude=System.map --exclude=.build-flags . | (cd "$tree" && tar xf -)
	echo "== $layout build"
	if ! make -C "$tree" -s -j4 CC="$CC" KCFLAGS="$kcflags" > "$tree.log" 2>&1; then
		cat "$tree.log"
		echo "FAIL: $layout build failed"
		status=1
		continue
	fi
	if grep -i 'warning' "$tree.log"; then
		echo "FAIL: $layout build has warnings"
		status=1
	fi
	"$tmp/elfcheck" vmlinux "$tree/vmlinux" || status=1
	for ko in "$tree"/modules/*/*.ko; do
		"$tmp/elfcheck" module "$ko" "$tree/Module.symvers" || status=1
	done
	if grep -qv '^0x00000000	[A-Za-z0-9_]*	[A-Za-z0-9_/]*	EXPORT_SYMBOL\(_GPL\)\{0,1\}	$' \
			"$tree/Module.symvers"; then
		echo "FAIL: Module.symvers has malformed lines"
		status=1
	fi
	grep -q '^0x00000000	printk	vmlinux	EXPORT_SYMBOL	$' "$tree/Module.symvers" ||
		{ echo "FAIL: printk missing from Module.symvers"; status=1; }
	echo "Module.symvers: $(wc -l < "$tree/Module.symvers") exports"

	# Sleeping tasks must have these callers on their stacks: each is a
	# real call (not inlined, not a tail call).
	calls=$(objdump -d --no-show-raw-insn "$tree/vmlinux" | awk '
		/^[0-9a-f]+ <.*>:$/ { fn = substr($2, 2, length($2) - 3) }
		$2 == "call" && $NF ~ /^<[^+]*>$/ { print fn ":" substr($NF, 2, length($NF) - 2) }')
	for edge in schedule:__schedule schedule_timeout:schedule \
		    msleep:schedule_timeout do_long_wait:msleep \
		    long_sleeper_fn:do_long_wait cpu_startup_entry:do_idle \
		    do_idle:arch_cpu_idle worker_thread:schedule \
		    rest_init:cpu_startup_entry start_secondary:cpu_startup_entry \
		    entry_SYSCALL_64:do_syscall startup_64:start_kernel; do
		echo "$calls" | grep -qx -- "$edge" ||
			{ echo "FAIL: $edge is not a call"; status=1; }
	done
	echo "call chains: ok"
done

if [ $status -eq 0 ]; then
	echo "check: OK"
else
	echo "check: FAILED"
fi
exit $status
