#!/usr/bin/env bash
# Checks the installed systemd unit with `systemd-analyze verify`, pointing it at the built
# binary (verify insists that ExecStart= exists). Any complaint about the unit fails the test.
# Usage: systemd_unit_check.sh BUILT_UNIT MESHBROKER_BINARY
set -euo pipefail
unit=$1 binary=$2
# shellcheck source=../lab/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../lab/core.sh"
# shellcheck disable=SC2034  # read by lab_skip
LAB_NAME=systemd_unit
lab_need systemd-analyze
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
bindir=$(sed -n 's#^ExecStart=\(.*\)/meshbroker run.*#\1#p' "$unit")
[[ -n $bindir ]] || { echo "no ExecStart= in $unit"; exit 1; }
sed "s#$bindir/meshbroker#$binary#g" "$unit" >"$tmp/meshbroker.service"
# KillMode=process and a preserved runtime folder: backends outlive a crashed meshbroker.
for key in 'Type=notify' 'WatchdogSec=' 'Restart=on-failure' 'KillMode=process' 'ExecReload=' \
  'RuntimeDirectoryPreserve=restart' 'CAP_NET_ADMIN' 'CAP_NET_RAW'; do
  grep -q "$key" "$tmp/meshbroker.service" || { echo "unit lacks $key"; exit 1; }
done
out=$(systemd-analyze verify "$tmp/meshbroker.service" 2>&1 || true)
if grep -q 'meshbroker.service' <<<"$out"; then
  echo "$out"
  exit 1
fi
echo "systemd-analyze verify: meshbroker.service clean"
