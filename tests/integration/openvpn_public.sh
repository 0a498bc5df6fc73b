#!/usr/bin/env bash
# Integration test: the public OpenVPN instance (shared certificate, client cap, per-client
# rate limit) against the private one (no limit), with real openvpn and iperf3.
#
#                       netns mb-hub-PID (bridge br0, 192.0.2.0/24)
#          +-----------------+-----------------+-----------------+-----------------+
#          |                 |                 |                 |                 |
#   mb-chip-PID        mb-comegato-PID     mb-c1-PID         mb-c2-PID         mb-c3-PID
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
# Usage: openvpn_public.sh /path/to/meshbroker
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, openvpn/iperf3/ip/ping/tun unavailable).
set -euo pipefail
TEST_NAME=openvpn_public
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/openvpn_env.sh
source "$HERE/lib/openvpn_env.sh"

[[ $# -eq 1 ]] || {
  echo "usage: $0 /path/to/meshbroker" >&2
  exit 2
}
ovpn_setup "$1" c1 c2 c3 iperf3 tc
LIMIT_KBIT=2000
CONNECT_WAIT=20
IPERF_SECONDS=${OPENVPN_IPERF_SECONDS:-6}

for client in c1 c2 c3; do
  ip -n "${NS[$client]}" route add unreachable "${ADDR[comegato]}/32"
done
ovpn_server chip public
ovpn_server chip private
wait_until 10 management_ready chip public || fail "openvpn public did not start"
wait_until 10 management_ready chip private || fail "openvpn private did not start"

# 1. Two clients share the public certificate.
"$MESHBROKER" client shared -c "$TMP/chip.json" -o "$TMP/shared.ovpn" 2>/dev/null ||
  fail "client shared failed"
"$MESHBROKER" client shared -c "$TMP/chip.json" >"$TMP/shared-again.ovpn" 2>/dev/null
cmp -s "$TMP/shared.ovpn" "$TMP/shared-again.ovpn" || fail "the shared profile changed between calls"
ovpn_client c1 shared1 "$TMP/shared.ovpn"
ovpn_client c2 shared2 "$TMP/shared.ovpn"
wait_until "$CONNECT_WAIT" has_tun_address c1 || fail "c1 did not connect with the shared profile"
wait_until "$CONNECT_WAIT" has_tun_address c2 || fail "c2 did not connect with the shared profile"
wait_until 5 pings c1 172.16.1.65 || fail "c1 cannot ping 172.16.1.65"
wait_until 5 pings c2 172.16.1.65 || fail "c2 cannot ping 172.16.1.65"
log "c1 ($(tun_address c1)) and c2 ($(tun_address c2)) are connected at once with the shared certificate"

# 2. A third one is beyond max_clients.
ovpn_client c3 shared3 "$TMP/shared.ovpn"
wait_until 10 grep -q 'would exceed maximum number of clients' "$TMP/chip-public.log" ||
  fail "chip did not refuse the third shared client"
has_tun_address c3 && fail "the third shared client got an address"
pings c1 172.16.1.65 >/dev/null || fail "c1 lost its tunnel when the third client came"
log "the third shared client is refused (max_clients 2)"
ovpn_stop shared3

# 3. The per-client limit, both directions.
ip netns exec "${NS[chip]}" "$MESHBROKER" client rate-limit -c "$TMP/chip.json" -i public \
  >"$TMP/ratelimit.out" 2>&1 ||
  {
    cat "$TMP/ratelimit.out"
    fail "client rate-limit failed"
  }
log "$(cat "$TMP/ratelimit.out")"
ip netns exec "${NS[chip]}" iperf3 -s -B 172.16.1.65 -p 5201 >"$TMP/iperf-public.srv" 2>&1 &
PIDS[iperf-public]=$!
ip netns exec "${NS[chip]}" iperf3 -s -B 172.16.1.97 -p 5202 >"$TMP/iperf-private.srv" 2>&1 &
PIDS[iperf-private]=$!
sleep 0.5

# iperf_kbit NS ADDR PORT [-R]: the receiver's rate in kbit/s (first second left out).
iperf_kbit() {
  local ns=$1 addr=$2 port=$3
  shift 3
  local out i
  for ((i = 0; i < 3; i++)); do
    if out=$(ip netns exec "${NS[$ns]}" iperf3 -c "$addr" -p "$port" -t "$IPERF_SECONDS" -O 1 \
      -f k "$@" 2>&1); then
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

up=$(iperf_kbit c1 172.16.1.65 5201) || fail "iperf3 upload on the public instance failed"
down=$(iperf_kbit c1 172.16.1.65 5201 -R) || fail "iperf3 download on the public instance failed"
log "public, limit ${LIMIT_KBIT} kbit/s: upload ${up} kbit/s, download ${down} kbit/s"
within "$up" "$LIMIT_KBIT" 20 || fail "public upload ${up} kbit/s is not within 20% of ${LIMIT_KBIT}"
within "$down" "$LIMIT_KBIT" 20 ||
  fail "public download ${down} kbit/s is not within 20% of ${LIMIT_KBIT}"
tc -n "${NS[chip]}" -s class show dev vpn_public >"$TMP/classes.txt"

# The limit is per client: c1 and c2 downloading at once each get it.
ip netns exec "${NS[chip]}" iperf3 -s -B 172.16.1.65 -p 5203 >"$TMP/iperf-public2.srv" 2>&1 &
PIDS[iperf-public2]=$!
sleep 0.5
iperf_kbit c2 172.16.1.65 5203 -R >"$TMP/c2.kbit" &
c2_job=$!
both1=$(iperf_kbit c1 172.16.1.65 5201 -R) || fail "concurrent iperf3 from c1 failed"
wait "$c2_job" || fail "concurrent iperf3 from c2 failed"
both2=$(cat "$TMP/c2.kbit")
log "public, two clients at once: download ${both1} and ${both2} kbit/s"
within "$both1" "$LIMIT_KBIT" 20 || fail "c1 got ${both1} kbit/s while c2 downloaded too"
within "$both2" "$LIMIT_KBIT" 20 || fail "c2 got ${both2} kbit/s while c1 downloaded too"

# 4. The private instance is not limited.
ovpn_stop shared1
ovpn_stop shared2
"$MESHBROKER" client add dave -c "$TMP/chip.json" -o "$TMP/dave.ovpn" 2>/dev/null ||
  fail "client add dave failed"
ovpn_client c3 dave "$TMP/dave.ovpn"
wait_until "$CONNECT_WAIT" has_tun_address c3 || fail "dave did not connect to the private instance"
wait_until 5 pings c3 172.16.1.97 || fail "dave cannot ping 172.16.1.97"
pup=$(iperf_kbit c3 172.16.1.97 5202) || fail "iperf3 upload on the private instance failed"
pdown=$(iperf_kbit c3 172.16.1.97 5202 -R) || fail "iperf3 download on the private instance failed"
log "private, no limit: upload ${pup} kbit/s, download ${pdown} kbit/s"
awk -v u="$pup" -v d="$pdown" -v l="$LIMIT_KBIT" 'BEGIN { exit !(u > 5 * l && d > 5 * l) }' ||
  fail "the private instance looks limited (${pup}/${pdown} kbit/s)"

ip netns exec "${NS[chip]}" "$MESHBROKER" client rate-limit -c "$TMP/chip.json" -i public --clear \
  >/dev/null 2>&1 || fail "client rate-limit --clear failed"
log "RESULT {\"public_up_kbit\": $up, \"public_down_kbit\": $down, \"public_two_clients_down_kbit\": [$both1, $both2], \"limit_kbit\": $LIMIT_KBIT, \"private_up_kbit\": $pup, \"private_down_kbit\": $pdown}"

OK=1
