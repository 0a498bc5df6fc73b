#!/usr/bin/env bash
# Integration test: NetlinkRouteTable against the real kernel, in a namespace of its own.
#
#   netns mb-nlroutes-PID
#   +------------------------------------------------------------------+
#   |  lo (up)                                                         |
#   |  mbt0 192.0.2.1/24, 2001:db8::1/64  <== veth ==>  mbt1 (up)      |
#   |  mbt2 198.51.100.1/24               <== veth ==>  mbt3 (up)      |
#   |                                                                  |
#   |  netlink_tests: gateways 192.0.2.2-9 and 198.51.100.2-9 are      |
#   |  on-link; routes and rules of protocol 177, 178, 200 and static  |
#   +------------------------------------------------------------------+
#
# Usage: netlink_routes.sh /path/to/netlink_tests [gtest flags...]
# Exit 77 (skipped) without root or iproute2; the namespace is deleted on any exit.
set -euo pipefail
readonly SKIP=77
log() { printf 'netlink_routes: %s\n' "$*" >&2; }

[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/netlink_tests [gtest flags...]" >&2; exit 2; }
bin=$(readlink -f -- "$1")
shift
[[ -x $bin ]] || { log "FAIL: $bin is not an executable"; exit 1; }
[[ $(id -u) -eq 0 ]] || { log "SKIP: needs root (network namespaces)"; exit "$SKIP"; }
command -v ip >/dev/null 2>&1 || { log "SKIP: ip (iproute2) is not installed"; exit "$SKIP"; }

ns=mb-nlroutes-$$
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip netns delete "$ns" 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$ns"
in_ns() { ip -n "$ns" "$@"; }
in_ns link set lo up
in_ns link add mbt0 type veth peer name mbt1
in_ns link add mbt2 type veth peer name mbt3
for dev in mbt0 mbt1 mbt2 mbt3; do in_ns link set "$dev" up; done
in_ns addr add 192.0.2.1/24 dev mbt0
in_ns addr add 198.51.100.1/24 dev mbt2
in_ns -6 addr add 2001:db8::1/64 dev mbt0 nodad 2>/dev/null || log "no IPv6: that test skips"

rc=0
MESHBROKER_NETLINK_NETNS=$ns ip netns exec "$ns" "$bin" "$@" || rc=$?
if [[ $rc -eq 0 ]]; then log "PASS"; else log "FAIL (exit $rc)"; fi
exit "$rc"
