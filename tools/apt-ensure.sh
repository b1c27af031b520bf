#!/usr/bin/env bash
# Usage: apt-ensure.sh NAME PACKAGE...
# Installs, with apt-get, those of the Debian packages that are not
# installed yet (--no-install-recommends); messages go to standard error,
# prefixed with NAME. Needs root when something is missing. Used by
# realkernel-setup.sh and cross-setup.sh.
set -euo pipefail
name=$1
shift
missing=()
for p in "$@"; do
  st=$(dpkg-query -W -f '${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [ "${st:0:2}" = ii ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "$name: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
