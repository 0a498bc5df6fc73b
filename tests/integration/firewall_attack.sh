#!/usr/bin/env bash
# Integration test (issue 18, finding 9): meshbroker's own nftables table on a server, attacked.
#
#   netns mallory                  netns mb-chip-ID                      netns mb-comegato-ID
#  +-----------------+            +------------------------------+      +--------------------+
#  | veth0           |------------| veth1 198.51.100.1/24        |      |                    |
#  | 198.51.100.2/24 |            | meshbroker run (chip.json)   |      | meshbroker run     |
#  | route to the    |            |  tincd meshnet0 .11 ==== tinc ==== tincd meshnet0 .12   |
#  | mesh via chip   |            |  openvpn public udp 1194     |      | route to mallory's |
#  +-----------------+            |  ip_forward=1, veth0 .11 ----+------+ /24 via chip (.11) |
#                                 +------------------------------+      +--------------------+
#
# Checks: before meshbroker runs, mallory (a stranger next to chip's uplink) reaches
# comegato's mesh address through chip (the path exists, so the filter is what stops it);
# with meshbroker running, the same ping gets nothing and the forward filter counted it; 40
# new UDP flows from mallory to the public instance's port: the per-source rate and count
# caps drop the excess (their counters), while comegato's own new flow to the port is not
# dropped; after meshbroker stops, the table is gone and the path works again.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test firewall_attack "$@"
lab_need openvpn nft

pair_openvpn_server
lab_ns_add mallory
lab_link chip veth1 198.51.100.1/24 mallory veth0 198.51.100.2/24
lab_sysctl chip net.ipv4.ip_forward=1
lab_exec mallory ip route add 100.64.12.0/27 via 198.51.100.1
table() { lab_exec chip nft -j list table inet meshbroker 2>/dev/null; }
counter() { # NAME: packets counted
  lab_exec chip nft -j list counter inet meshbroker "$1" | jq '.nftables[] | select(.counter) | .counter.packets'
}
mesh_ping() { lab_exec mallory ping -c 1 -W 1 "${PAIR_MESH[comegato]}" >/dev/null 2>&1; }

# comegato runs first (chip's meshbroker not yet): the mesh needs both tincds, so chip's
# tincd stands in, started by hand from chip's rendered files.
pair_run comegato
"$MESHBROKER" render -c "$LAB_TMP/chip.json" -o "$LAB_TMP/chip-by-hand" >/dev/null 2>&1 ||
  lab_fail "render failed"
lab_spawn chip tincd-by-hand tincd -c "$LAB_TMP/chip-by-hand/tinc" -D -d1 \
  --pidfile="$LAB_TMP/chip-by-hand.pid"
by_hand=$LAB_PID
lab_expect 30 "the mesh (chip's tincd started by hand)" lab_ping chip "${PAIR_MESH[comegato]}"
lab_exec comegato ip route add 198.51.100.0/24 via "${PAIR_MESH[chip]}"
lab_expect 10 "mallory to reach comegato's mesh address through chip (no filter yet)" mesh_ping
lab_log "without meshbroker's table: a stranger on chip's uplink reaches the mesh through chip"
lab_stop "$by_hand"

pair_run chip
for backend in tinc openvpn-public openvpn-private; do
  lab_expect 30 "chip's $backend running" pair_backend_is chip "$backend" running
done
lab_expect 10 "the table installed" table
lab_expect 30 "the mesh with meshbroker's tincd" lab_ping chip "${PAIR_MESH[comegato]}"
lab_exec comegato ip route replace 198.51.100.0/24 via "${PAIR_MESH[chip]}"
before=$(counter forward_dropped)
for _ in 1 2 3; do
  if mesh_ping; then lab_fail "mallory reached comegato's mesh address through chip"; fi
done
after=$(counter forward_dropped)
((after >= before + 3)) || lab_fail "the forward filter counted $before -> $after"
lab_log "with the table: mallory's 3 pings into the mesh dropped by chip's forward filter ($before -> $after)"

# 40 new flows from one source (each bash redirection is a new socket, a new source port).
lab_exec mallory bash -c 'for i in $(seq 40); do echo x >/dev/udp/198.51.100.1/1194; done'
rate=$(counter public_rate_dropped) count=$(counter public_count_dropped)
((rate >= 20)) || lab_fail "the per-source rate cap dropped $rate of 40 new flows (20/minute, burst 20)"
((count >= 4)) || lab_fail "the per-source count cap dropped $count (16 at once)"
# Another source is not held by mallory's caps.
rate0=$rate count0=$count
lab_exec comegato bash -c 'echo x >/dev/udp/192.0.2.11/1194'
sleep 0.2
[[ $(counter public_rate_dropped) == "$rate0" && $(counter public_count_dropped) == "$count0" ]] ||
  lab_fail "comegato's one new flow was dropped by a cap"
lab_log "40 new flows from mallory to udp 1194: rate cap dropped $rate, count cap $count; comegato's flow passed"

kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "chip's meshbroker did not exit cleanly"
lab_forget "${PAIR_PID[chip]}"
if table >/dev/null; then lab_fail "the table outlived meshbroker's clean stop"; fi
grep -q 'firewall: table inet meshbroker removed' "$LAB_TMP/chip.log" || lab_fail "no log line for the removal"
lab_log "clean stop: table removed"
lab_pass
