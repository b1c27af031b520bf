#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# modpost, reduced to what the target needs:
#
#   scripts/modpost.sh vmlinux [MODULE.ko...]
#
# 1. Writes Module.symvers: one line per exported symbol,
#      0x00000000<TAB>NAME<TAB>MODULE<TAB>EXPORT_SYMBOL[_GPL]<TAB>
#    (no CRCs, empty namespace), MODULE being "vmlinux" or the module's
#    path without ".ko", sorted by name.  Exports are found through the
#    __ksymtab_NAME labels that EXPORT_SYMBOL puts in __ksymtab and
#    __ksymtab_gpl.
# 2. Checks that each module's undefined symbols are exported by vmlinux
#    or another module: "ERROR: modpost: "X" [M.ko] undefined!", exit 1,
#    or only a WARNING when KBUILD_MODPOST_WARN is set.
set -eu

NM=${NM:-nm}
OBJDUMP=${OBJDUMP:-objdump}
out=Module.symvers
tmp=$out.tmp

exports() { # FILE MODNAME
	for sec in __ksymtab __ksymtab_gpl; do
		kind=EXPORT_SYMBOL
		[ "$sec" = __ksymtab_gpl ] && kind=EXPORT_SYMBOL_GPL
		"$OBJDUMP" -t -j "$sec" "$1" 2>/dev/null |
		awk -v mod="$2" -v kind="$kind" '
			$NF ~ /^__ksymtab_/ {
				name = substr($NF, 11)
				printf "0x00000000\t%s\t%s\t%s\t\n", name, mod, kind
			}'
	done
}

: > "$tmp"
for f in "$@"; do
	case "$f" in
	*.ko) mod=${f%.ko} ;;
	*) mod=vmlinux ;;
	esac
	exports "$f" "$mod" >> "$tmp"
done
LC_ALL=C sort -t "$(printf '\t')" -k2,2 "$tmp" > "$out"
rm -f "$tmp"

status=0
for f in "$@"; do
	case "$f" in *.ko) ;; *) continue ;; esac
	for sym in $("$NM" -u "$f" | awk '{ print $NF }'); do
		if ! cut -f2 "$out" | grep -qx -- "$sym"; then
			if [ -n "${KBUILD_MODPOST_WARN:-}" ]; then
				echo "WARNING: modpost: \"$sym\" [$f] undefined!" >&2
			else
				echo "ERROR: modpost: \"$sym\" [$f] undefined!" >&2
				status=1
			fi
		fi
	done
done
if [ $status -ne 0 ]; then
	rm -f "$out"
fi
exit $status
