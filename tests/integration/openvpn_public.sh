#!/usr/bin/env bash
# Integration test: the public OpenVPN instance (shared certificate, client cap, per-client
# rate limit) against the private one (no limit), with real openvpn and iperf3.
# The network is lab/openvpn_hub.sh (full diagram there); this test uses:
#
#                       netns ovpn-hub-PID (bridge br0, 192.0.2.0/24)
#          +-----------------+-----------------+-----------------+-----------------+
#          |                 |                 |                 |                 |
#   ovpn-chip-PID      ovpn-comegato-PID   ovpn-c1-PID       ovpn-c2-PID       ovpn-c3-PID
#   192.0.2.11         192.0.2.12          192.0.2.101       192.0.2.102       192.0.2.103
#   openvpn public     (not started:       shared profile    shared profile    shared profile,
#    udp 1194, max 2,   every client has   + iperf3           (2nd client)      refused (3rd);
#    2mbit/client       no route to it)                                         then private
#    tun 172.16.1.65                                                            profile + iperf3
#   openvpn private
#    udp 1195, tun 172.16.1.97
#   iperf3 servers on both tunnel addresses
#
# 1. `client shared` prints the public profile; c1 and c2 connect with it at once.
# 2. c3 with the same profile is refused: max_clients is 2.
# 3. `client rate-limit` shapes the public tun device; iperf3 from c1 measures upload and
#    download: each must be within 20 % of 2 Mbit/s; then c1 and c2 download at once and
#    each still gets 2 Mbit/s (the limit is per client, not per instance).
# 4. c3 connects to the private instance: iperf3 there must be far above 2 Mbit/s.
#
# Usage: openvpn_public.sh /path/to/meshbroker      (LAB_KEEP=1 keeps the temp folder;
#        OPENVPN_IPERF_SECONDS sets each iperf3 run's length, default 6)
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, openvpn/iperf3/tc/ip/ping/tun/netns
# unavailable; with CI=true or MESHBROKER_NO_SKIP=1 that is a failure naming what is missing).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../lab/openvpn_hub.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/openvpn_hub.sh"

[[ $# -eq 1 ]] || {
  echo "usage: $0 /path/to/meshbroker" >&2
  exit 2
}
MESHBROKER=$1
hub_init --test openvpn_public c1 c2 c3
lab_need iperf3 tc
LIMIT_KBIT=2000
CONNECT_WAIT=20
IPERF_SECONDS=${OPENVPN_IPERF_SECONDS:-6}

for client in c1 c2 c3; do
  ip -n "${LAB_NS[$client]}" route add unreachable "${HUB_ADDR[comegato]}/32"
done
hub_server chip public
hub_server chip private
lab_wait 10 "openvpn public's management socket" hub_management_ready chip public ||
  lab_fail "openvpn public did not start"
lab_wait 10 "openvpn private's management socket" hub_management_ready chip private ||
  lab_fail "openvpn private did not start"

# 1. Two clients share the public certificate.
"$MESHBROKER" client shared -c "$LAB_TMP/chip.json" -o "$LAB_TMP/shared.ovpn" 2>/dev/null ||
  lab_fail "client shared failed"
"$MESHBROKER" client shared -c "$LAB_TMP/chip.json" >"$LAB_TMP/shared-again.ovpn" 2>/dev/null
cmp -s "$LAB_TMP/shared.ovpn" "$LAB_TMP/shared-again.ovpn" ||
  lab_fail "the shared profile changed between calls"
hub_client c1 shared1 "$LAB_TMP/shared.ovpn"
hub_client c2 shared2 "$LAB_TMP/shared.ovpn"
lab_wait "$CONNECT_WAIT" "c1's tunnel address" hub_has_tun_address c1 ||
  lab_fail "c1 did not connect with the shared profile"
lab_wait "$CONNECT_WAIT" "c2's tunnel address" hub_has_tun_address c2 ||
  lab_fail "c2 did not connect with the shared profile"
lab_wait 5 "c1 pings 172.16.1.65" lab_ping c1 172.16.1.65 || lab_fail "c1 cannot ping 172.16.1.65"
lab_wait 5 "c2 pings 172.16.1.65" lab_ping c2 172.16.1.65 || lab_fail "c2 cannot ping 172.16.1.65"
lab_log "c1 ($(hub_tun_address c1)) and c2 ($(hub_tun_address c2)) are connected at once with the shared certificate"

# 2. A third one is beyond max_clients.
hub_client c3 shared3 "$LAB_TMP/shared.ovpn"
lab_wait 10 "chip refusing a third shared client" \
  grep -q 'would exceed maximum number of clients' "$(hub_log chip-public)" ||
  lab_fail "chip did not refuse the third shared client"
hub_has_tun_address c3 && lab_fail "the third shared client got an address"
lab_ping c1 172.16.1.65 >/dev/null || lab_fail "c1 lost its tunnel when the third client came"
lab_log "the third shared client is refused (max_clients 2)"
hub_stop shared3

# 3. The per-client limit, both directions.
lab_exec chip "$MESHBROKER" client rate-limit -c "$LAB_TMP/chip.json" -i public \
  >"$LAB_TMP/ratelimit.out" 2>&1 ||
  {
    cat "$LAB_TMP/ratelimit.out" >&2
    lab_fail "client rate-limit failed"
  }
lab_log "$(cat "$LAB_TMP/ratelimit.out")"
lab_spawn chip iperf-public iperf3 -s -B 172.16.1.65 -p 5201
lab_spawn chip iperf-private iperf3 -s -B 172.16.1.97 -p 5202
sleep 0.5

# iperf_kbit NODE ADDR PORT [-R]: the receiver's rate in kbit/s (first second left out).
iperf_kbit() {
  local node=$1 addr=$2 port=$3
  shift 3
  local out i
  for ((i = 0; i < 3; i++)); do
    if out=$(lab_exec "$node" iperf3 -c "$addr" -p "$port" -t "$IPERF_SECONDS" -O 1 -f k "$@" 2>&1); then
      awk '/receiver/ {for (i = 1; i < NF; i++) if ($(i + 1) == "Kbits/sec") print $i}' <<<"$out" |
        tail -n 1
      return 0
    fi
    sleep 1  # the server may still be busy with the previous test
  done
  echo "$out" >&2
  return 1
}
within() { # within VALUE TARGET PERCENT
  awk -v v="$1" -v t="$2" -v p="$3" 'BEGIN { d = v - t; if (d < 0) d = -d; exit !(d <= t * p / 100) }'
}

up=$(iperf_kbit c1 172.16.1.65 5201) || lab_fail "iperf3 upload on the public instance failed"
down=$(iperf_kbit c1 172.16.1.65 5201 -R) || lab_fail "iperf3 download on the public instance failed"
lab_log "public, limit ${LIMIT_KBIT} kbit/s: upload ${up} kbit/s, download ${down} kbit/s"
within "$up" "$LIMIT_KBIT" 20 || lab_fail "public upload ${up} kbit/s is not within 20% of ${LIMIT_KBIT}"
within "$down" "$LIMIT_KBIT" 20 ||
  lab_fail "public download ${down} kbit/s is not within 20% of ${LIMIT_KBIT}"
tc -n "${LAB_NS[chip]}" -s class show dev vpn_public >"$LAB_TMP/classes.txt"

# The limit is per client: c1 and c2 downloading at once each get it.
lab_spawn chip iperf-public2 iperf3 -s -B 172.16.1.65 -p 5203
sleep 0.5
iperf_kbit c2 172.16.1.65 5203 -R >"$LAB_TMP/c2.kbit" &
c2_job=$!
both1=$(iperf_kbit c1 172.16.1.65 5201 -R) || lab_fail "concurrent iperf3 from c1 failed"
wait "$c2_job" || lab_fail "concurrent iperf3 from c2 failed"
both2=$(cat "$LAB_TMP/c2.kbit")
lab_log "public, two clients at once: download ${both1} and ${both2} kbit/s"
within "$both1" "$LIMIT_KBIT" 20 || lab_fail "c1 got ${both1} kbit/s while c2 downloaded too"
within "$both2" "$LIMIT_KBIT" 20 || lab_fail "c2 got ${both2} kbit/s while c1 downloaded too"

# 4. The private instance is not limited.
hub_stop shared1
hub_stop shared2
"$MESHBROKER" client add dave -c "$LAB_TMP/chip.json" -o "$LAB_TMP/dave.ovpn" 2>/dev/null ||
  lab_fail "client add dave failed"
hub_client c3 dave "$LAB_TMP/dave.ovpn"
lab_wait "$CONNECT_WAIT" "dave's tunnel address" hub_has_tun_address c3 ||
  lab_fail "dave did not connect to the private instance"
lab_wait 5 "dave pings 172.16.1.97" lab_ping c3 172.16.1.97 || lab_fail "dave cannot ping 172.16.1.97"
pup=$(iperf_kbit c3 172.16.1.97 5202) || lab_fail "iperf3 upload on the private instance failed"
pdown=$(iperf_kbit c3 172.16.1.97 5202 -R) || lab_fail "iperf3 download on the private instance failed"
lab_log "private, no limit: upload ${pup} kbit/s, download ${pdown} kbit/s"
awk -v u="$pup" -v d="$pdown" -v l="$LIMIT_KBIT" 'BEGIN { exit !(u > 5 * l && d > 5 * l) }' ||
  lab_fail "the private instance looks limited (${pup}/${pdown} kbit/s)"

lab_exec chip "$MESHBROKER" client rate-limit -c "$LAB_TMP/chip.json" -i public --clear \
  >/dev/null 2>&1 || lab_fail "client rate-limit --clear failed"
lab_log "RESULT {\"public_up_kbit\": $up, \"public_down_kbit\": $down, \"public_two_clients_down_kbit\": [$both1, $both2], \"limit_kbit\": $LIMIT_KBIT, \"private_up_kbit\": $pup, \"private_down_kbit\": $pdown}"

lab_pass
