#!/usr/bin/env bash
# Integration test: the SocketProber's fwmark steers a probe through one gateway. The same
# target address sits behind two gateways; a marked probe must go through B (policy rule and
# table 110), an unmarked one through C (main table). Taking B's link down fails only the
# marked probes; taking C's down fails only the unmarked ones.
#
#                         ns A (mb-probe-a-PID): the prober (probe_tests)
#                         rule: fwmark 0x10 lookup 110
#                         table 110: 10.77.9.9, 10.77.8.8 via B; unreachable default
#                         main:      10.77.9.9, 10.77.8.8 via C
#             veth-ab 10.77.1.1/30              veth-ac 10.77.2.1/30
#                     |                                 |
#             veth-b  10.77.1.2/30              veth-c  10.77.2.2/30
#   ns B (mb-probe-b-PID)                       ns C (mb-probe-c-PID)
#     lo 10.77.9.9/32, udp echo :7777             lo 10.77.9.9/32, udp echo :7777
#     10.77.8.8 unreachable (answers ICMP)        10.77.8.8: no route, no forwarding (silent)
#
# The same over IPv6: links fd77:1::/64 (A-B) and fd77:2::/64 (A-C), the target fd77:9::9 on
# lo in B and C, the blackhole fd77:8::8, `ip -6 rule fwmark 0x10 lookup 110`.
#
# Every probe is checked with both ICMP socket types: A's ping_group_range admits root to
# the unprivileged datagram socket (ICMP and ICMPv6 ping sockets obey the same sysctl); the
# raw socket needs CAP_NET_RAW (root).
#
# Usage: probe_paths.sh /path/to/probe_tests   (as root; exit 77 when not root)
set -euo pipefail
# shellcheck source=../../lab/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/core.sh"
[[ $# -eq 1 ]] || { echo "usage: $0 /path/to/probe_tests" >&2; exit 2; }
lab_binary PROBE_TESTS "$1"
# shellcheck disable=SC2034  # read by lab/core.sh
LAB_PREFIX=mb-probe
lab_init --test probe_paths
# After a failure, each phase's whole gtest output (lab_cleanup shows only the last lines).
# shellcheck disable=SC2034  # read by lab_show_logs
LAB_LOG_LINES=200
lab_ns_add a b c
A=${LAB_NS[a]}
B=${LAB_NS[b]}
C=${LAB_NS[c]}

lab_link a veth-ab 10.77.1.1/30 b veth-b 10.77.1.2/30
lab_link a veth-ac 10.77.2.1/30 c veth-c 10.77.2.2/30

# A: replies from the target come back on B's link although the main route to the target
# goes via C: strict reverse-path filtering would drop them.
ip netns exec "$A" sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
  net.ipv4.conf.veth-ab.rp_filter=0 net.ipv4.conf.veth-ac.rp_filter=0 \
  net.ipv4.ping_group_range="0 2147483647"
ip -n "$A" route add 10.77.9.9/32 via 10.77.2.2 dev veth-ac
ip -n "$A" route add 10.77.8.8/32 via 10.77.2.2 dev veth-ac
ip -n "$A" route add 10.77.9.9/32 via 10.77.1.2 dev veth-ab table 110
ip -n "$A" route add 10.77.8.8/32 via 10.77.1.2 dev veth-ab table 110
# Without this a marked probe to anything table 110 does not list would leak to the main
# table (through C) and report B's path alive.
ip -n "$A" route add unreachable default table 110
ip -n "$A" rule add fwmark 0x10 lookup 110

# IPv6: the same routes, table and rule (no DAD: the addresses are usable at once). A link
# that goes down takes its IPv6 addresses and routes with it unless keep_addr_on_down is set,
# and its routes still go: routes6 puts them back after a link comes up.
for ns in "$A" "$B" "$C"; do ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1; done
ip -n "$A" addr add fd77:1::1/64 dev veth-ab nodad
ip -n "$A" addr add fd77:2::1/64 dev veth-ac nodad
ip -n "$B" addr add fd77:1::2/64 dev veth-b nodad
ip -n "$C" addr add fd77:2::2/64 dev veth-c nodad
routes6() {
  ip -n "$A" -6 route replace fd77:9::9/128 via fd77:2::2 dev veth-ac
  ip -n "$A" -6 route replace fd77:8::8/128 via fd77:2::2 dev veth-ac
  ip -n "$A" -6 route replace fd77:9::9/128 via fd77:1::2 dev veth-ab table 110
  ip -n "$A" -6 route replace fd77:8::8/128 via fd77:1::2 dev veth-ab table 110
  ip -n "$A" -6 route replace unreachable default table 110
}
routes6
ip -n "$A" -6 rule add fwmark 0x10 lookup 110

for node in b c; do
  ns=${LAB_NS[$node]}
  ip -n "$ns" addr add 10.77.9.9/32 dev lo
  ip -n "$ns" addr add fd77:9::9/128 dev lo
  # B's ICMP errors stay rate-limited (a burst of 5-6 per peer, then 1/s): the test asks for
  # 4. (icmp_ratelimit=0 would not help: it empties the per-peer bucket that the "unreachable
  # route" errors draw from too, and B stops answering for 10.77.8.8.)
  lab_spawn "$node" "echo-$node" "$PROBE_TESTS" --udp-echo 10.77.9.9 7777
  lab_spawn "$node" "echo6-$node" "$PROBE_TESTS" --udp-echo fd77:9::9 7777
done
ip netns exec "$B" sysctl -qw net.ipv4.ip_forward=1  # to answer for 10.77.8.8
ip netns exec "$B" sysctl -qw net.ipv6.conf.all.forwarding=1  # and for fd77:8::8
# C must stay silent for 10.77.8.8, and a new namespace copies the machine's IPv4 conf (with
# net.core.devconf_inherit_init_net=0, the default): on a host that forwards, C would forward
# too and answer "unreachable" from its main table. Seen in CI after a test had left the
# machine's ip_forward at 1.
ip netns exec "$C" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
ip -n "$B" route add unreachable 10.77.8.8/32
ip -n "$B" -6 route add unreachable fd77:8::8/128
# IPv6 answers "no route" even when not forwarding: C drops fd77:8::8 silently instead.
ip -n "$C" -6 route add blackhole fd77:8::8/128

for node in b c; do
  lab_expect 5 "the udp echo in $node listening" grep -q listening "$LAB_TMP/echo-$node.log"
  lab_expect 5 "the IPv6 udp echo in $node listening" grep -q listening "$LAB_TMP/echo6-$node.log"
done

phase() {  # NAME: runs the ProbePaths.NAME test inside A
  lab_log "phase $1"
  ip netns exec "$A" "$PROBE_TESTS" --gtest_filter="ProbePaths.$1" --gtest_brief=1 \
    >"$LAB_TMP/$1.log" 2>&1 || lab_fail "phase $1"
}

phase BothUp
ip -n "$B" link set veth-b down
phase GatewayBDown
ip -n "$B" link set veth-b up
lab_expect 5 "A's link to B up" bash -c "ip -n '$A' link show veth-ab | grep -q LOWER_UP"
routes6
# A link that comes back runs duplicate address detection on its link-local address first.
lab_expect 10 "A reaching B over IPv6 again" ip netns exec "$A" ping -6 -n -c1 -W1 fd77:1::2
ip -n "$C" link set veth-c down
phase GatewayCDown
lab_pass
