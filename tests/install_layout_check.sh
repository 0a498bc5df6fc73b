#!/usr/bin/env bash
# Checks what `cmake --install` puts where (cmake/Packaging.cmake), in two temp trees:
#   DESTDIR=T/dest cmake --install BUILD --prefix /usr   -> T/dest/usr/bin, T/dest/lib/systemd,
#                                                           T/dest/etc/meshbroker (not usr/etc)
#   cmake --install BUILD --prefix T/x                   -> T/x/bin, T/x/lib/systemd/system,
#                                                           T/x/etc/meshbroker; nothing outside T/x
# and runs `systemd-analyze verify` on the unit of the T/x tree, whose ExecStart= exists.
# Usage: install_layout_check.sh BUILD_DIR
set -euo pipefail
build=$1
# shellcheck source=../lab/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lab/core.sh"
# shellcheck disable=SC2034  # read by lab_fail
LAB_NAME=install_layout
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# expect FILE...: each must exist.
expect() {
  local f
  for f in "$@"; do [[ -e $f ]] || lab_fail "missing $f"; done
}

DESTDIR=$tmp/dest cmake --install "$build" --prefix /usr >"$tmp/dest.log" 2>&1 ||
  { cat "$tmp/dest.log" >&2; lab_fail "DESTDIR=$tmp/dest cmake --install --prefix /usr failed"; }
d=$tmp/dest
expect "$d/usr/bin/meshbroker" "$d/lib/systemd/system/meshbroker.service" "$d/etc/meshbroker" \
  "$d/usr/share/doc/meshbroker/README.md" "$d/usr/share/doc/meshbroker/examples/chip.json" \
  "$d/usr/share/doc/meshbroker/examples/README" "$d/usr/share/meshbroker/templates/README" \
  "$d/usr/share/meshbroker/templates/tinc/tinc-up.mustache"
[[ -x $d/usr/bin/meshbroker ]] || lab_fail "$d/usr/bin/meshbroker is not executable"
[[ ! -e $d/usr/etc && ! -e $d/usr/lib/systemd ]] || lab_fail "prefix /usr: usr/etc or usr/lib/systemd exists"
[[ -z $(ls -A "$d/etc/meshbroker") ]] || lab_fail "$d/etc/meshbroker is not empty"
grep -qx 'ExecStart=/usr/bin/meshbroker run -c /etc/meshbroker/meshbroker.json' \
  "$d/lib/systemd/system/meshbroker.service" || lab_fail "prefix /usr: wrong ExecStart= in the unit"

x=$tmp/x
cmake --install "$build" --prefix "$x" >"$tmp/x.log" 2>&1 ||
  { cat "$tmp/x.log" >&2; lab_fail "cmake --install --prefix $x failed"; }
expect "$x/bin/meshbroker" "$x/lib/systemd/system/meshbroker.service" "$x/etc/meshbroker" \
  "$x/share/doc/meshbroker/examples/chip.json"
outside=$(sed -n 's/^-- \(Installing\|Up-to-date\): //p' "$tmp/x.log" | grep -v "^$x/" || true)
[[ -z $outside ]] || lab_fail "cmake --install --prefix $x wrote outside it: $outside"
grep -qx "ExecStart=$x/bin/meshbroker run -c /etc/meshbroker/meshbroker.json" \
  "$x/lib/systemd/system/meshbroker.service" || lab_fail "prefix $x: wrong ExecStart= in the unit"

if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(systemd-analyze verify "$x/lib/systemd/system/meshbroker.service" 2>&1 || true)
  if grep -q 'meshbroker' <<<"$out"; then
    printf '%s\n' "$out" >&2
    lab_fail "systemd-analyze verify complains about the installed unit"
  fi
  echo "install_layout: systemd-analyze verify of the installed unit: clean"
else
  echo "install_layout: systemd-analyze missing; unit not verified"
fi
echo "install_layout: PASS"
