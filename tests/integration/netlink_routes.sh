#!/usr/bin/env bash
# Integration test: NetlinkRouteTable and NetlinkNeighbours against the real kernel, in a
# namespace of its own.
#
#   netns mb-nlroutes-PID
#   +------------------------------------------------------------------+
#   |  lo (up)                                                         |
#   |  mbt0 192.0.2.1/24, 2001:db8::1/64  <== veth ==>  mbt1 (up)      |
#   |  mbt2 198.51.100.1/24               <== veth ==>  mbt3 (up)      |
#   |                                                                  |
#   |  netlink_tests: gateways 192.0.2.2-9 and 198.51.100.2-9 are      |
#   |  on-link; routes and rules of protocol 177, 178, 200 and static  |
#   |  (NetlinkRouteTable); permanent neighbours on mbt2               |
#   |  (NetlinkNeighbours)                                              |
#   +------------------------------------------------------------------+
#
# Usage: netlink_routes.sh /path/to/netlink_tests [gtest flags...]
# Exit 77 (skipped) without root or iproute2; the namespace is deleted on any exit.
set -euo pipefail
# shellcheck source=../../lab/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/core.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/netlink_tests [gtest flags...]" >&2; exit 2; }
bin=
lab_binary bin "$1"
shift
# shellcheck disable=SC2034  # read by lab/core.sh
LAB_PREFIX=mb
lab_init --test netlink_routes
lab_ns_add nlroutes
ns=${LAB_NS[nlroutes]}

in_ns() { ip -n "$ns" "$@"; }
in_ns link set lo up
in_ns link add mbt0 type veth peer name mbt1
in_ns link add mbt2 type veth peer name mbt3
for dev in mbt0 mbt1 mbt2 mbt3; do in_ns link set "$dev" up; done
in_ns addr add 192.0.2.1/24 dev mbt0
in_ns addr add 198.51.100.1/24 dev mbt2
# Without IPv6 the IPv6 route test skips: an honest skip outside CI, a failure in it.
if ! in_ns -6 addr add 2001:db8::1/64 dev mbt0 nodad 2>/dev/null; then
  lab_skips_fail && lab_fail "no IPv6 in the namespace (the IPv6 route test would skip)"
  lab_log "no IPv6: the IPv6 route test skips"
fi

MESHBROKER_NETLINK_NETNS=$ns ip netns exec "$ns" "$bin" "$@" || lab_fail "netlink_tests failed"
lab_pass
