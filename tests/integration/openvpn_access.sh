#!/usr/bin/env bash
# Integration test: private OpenVPN access with real openvpn, configured by meshbroker only.
#
#                       netns mb-hub-PID (bridge br0, 192.0.2.0/24)
#          +-----------------+-----------------+-----------------+
#          |                 |                 |                 |
#   mb-chip-PID        mb-comegato-PID     mb-c1-PID         mb-c2-PID
#   192.0.2.11         192.0.2.12          192.0.2.101       192.0.2.102
#   openvpn private    openvpn private     client alice      client bob / carol /
#   udp 1195           udp 1195            (both remotes)    tina (chip only:
#   tun 172.16.1.97    tun 172.16.1.161                       comegato unreachable)
#   openvpn ptcp
#   tcp 443, tun 172.16.1.193
#
# 1. `client add alice` gives a profile with both servers as `remote`; alice connects and
#    pings her server's tunnel address.
# 2. That server's openvpn is killed (SIGKILL): alice reconnects to the other server by
#    herself; the failover time is measured. The killed one is restarted, then the other is
#    stopped cleanly (SIGTERM): explicit-exit-notify sends alice back at once.
# 3. `client revoke carol` before she connects: chip refuses her (certificate revoked).
# 4. bob connects to chip, then `client revoke bob`: the management interface drops him
#    within seconds and the CRL keeps him out; the drop time is measured.
# 5. `client list` shows issued, revoked and connected clients.
# 6. A private instance on tcp 443 (`proto: tcp`) connects as well.
# 7. `client add` over a malformed CA certificate fails with an error naming the file.
#
# Usage: openvpn_access.sh /path/to/meshbroker
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, openvpn/ip/ping/tun/netns unavailable).
set -euo pipefail
TEST_NAME=openvpn_access
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib/openvpn_env.sh
source "$HERE/lib/openvpn_env.sh"

[[ $# -eq 1 ]] || {
  echo "usage: $0 /path/to/meshbroker" >&2
  exit 2
}
ovpn_setup "$1" c1 c2
declare -A TUNNEL=([chip]=172.16.1.97 [comegato]=172.16.1.161)
CONNECT_WAIT=20

for node in chip comegato; do
  ovpn_server "$node" private
done
for node in chip comegato; do
  wait_until 10 management_ready "$node" private || fail "openvpn private on $node did not start"
done
log "openvpn private instances up on chip and comegato"

# 1. A profile from `client add` connects.
"$MESHBROKER" client add alice -c "$TMP/chip.json" -o "$TMP/alice.ovpn" 2>/dev/null ||
  fail "client add alice failed"
[[ $(stat -c %a "$TMP/alice.ovpn") == 600 ]] || fail "the profile is not 0600"
remotes=$(grep -c '^remote 192\.0\.2\.1[12] 1195 udp$' "$TMP/alice.ovpn") || true
[[ $remotes == 2 ]] || fail "the profile lists $remotes remotes, expected both servers"
grep -q '^remote-random$' "$TMP/alice.ovpn" || fail "no remote-random in the profile"
ovpn_client c1 alice "$TMP/alice.ovpn"
wait_until "$CONNECT_WAIT" has_tun_address c1 || fail "alice did not connect within ${CONNECT_WAIT}s"
address=$(tun_address c1)
case $address in
  172.16.1.9[89] | 172.16.1.1[01][0-9] | 172.16.1.12[0-6]) first=chip second=comegato ;;
  172.16.1.16[2-9] | 172.16.1.1[7-8][0-9] | 172.16.1.19[0-4]) first=comegato second=chip ;;
  *) fail "alice got an unexpected address $address" ;;
esac
wait_until 5 pings c1 "${TUNNEL[$first]}" || fail "alice cannot ping ${TUNNEL[$first]}"
log "alice connected to $first as $address and pings ${TUNNEL[$first]}"

# 2. Failover: kill the server alice uses; she must move to the other remote.
kill -KILL "${PIDS[$first-private]}"
killed_at=$(now_ms)
wait "${PIDS[$first-private]}" 2>/dev/null || true
unset "PIDS[$first-private]"
wait_until 40 pings c1 "${TUNNEL[$second]}" ||
  fail "alice did not fail over to $second within 40s"
failover_ms=$(($(now_ms) - killed_at))
log "failover: alice pings $second (${TUNNEL[$second]}) ${failover_ms} ms after $first's openvpn was killed"
rm -f "$TMP/$first/run/openvpn-private.sock"
ovpn_server "$first" private
wait_until 10 management_ready "$first" private || fail "openvpn private on $first did not restart"

# 2b. A clean stop (SIGTERM) tells clients to move on at once (explicit-exit-notify 2).
sleep 1
kill -TERM "${PIDS[$second-private]}"
stopped_at=$(now_ms)
wait_until 20 pings c1 "${TUNNEL[$first]}" ||
  fail "alice did not move back to $first within 20s of $second's clean stop"
graceful_ms=$(($(now_ms) - stopped_at))
log "failover on a clean stop: alice pings $first ${graceful_ms} ms after $second's openvpn got SIGTERM"
ovpn_stop "$second-private"
rm -f "$TMP/$second/run/openvpn-private.sock"
ovpn_server "$second" private
wait_until 10 management_ready "$second" private || fail "openvpn private on $second did not restart"
ovpn_stop alice

# The next clients dial chip only.
ip -n "${NS[c2]}" route add unreachable "${ADDR[comegato]}/32"

# 3. A client revoked before connecting is refused.
"$MESHBROKER" client add carol -c "$TMP/chip.json" -o "$TMP/carol.ovpn" 2>/dev/null ||
  fail "client add carol failed"
"$MESHBROKER" client revoke carol -c "$TMP/chip.json" >"$TMP/revoke-carol.out" 2>&1 ||
  {
    cat "$TMP/revoke-carol.out"
    fail "client revoke carol failed"
  }
ovpn_client c2 carol "$TMP/carol.ovpn"
if wait_until 8 grep -q 'CRL CHECK FAILED\|certificate revoked' "$TMP/chip-private.log"; then
  log "chip refused the revoked carol: $(grep -m1 -o 'CRL CHECK FAILED.*\|certificate revoked.*' "$TMP/chip-private.log")"
else
  fail "chip's log does not show carol refused for revocation"
fi
has_tun_address c2 && fail "revoked carol got a tunnel address"
ovpn_stop carol

# 4. A connected client that gets revoked is dropped.
"$MESHBROKER" client add bob -c "$TMP/chip.json" -o "$TMP/bob.ovpn" 2>/dev/null ||
  fail "client add bob failed"
ovpn_client c2 bob "$TMP/bob.ovpn"
wait_until "$CONNECT_WAIT" has_tun_address c2 || fail "bob did not connect within ${CONNECT_WAIT}s"
wait_until 5 pings c2 "${TUNNEL[chip]}" || fail "bob cannot ping ${TUNNEL[chip]}"
log "bob connected to chip as $(tun_address c2)"

"$MESHBROKER" client list -c "$TMP/chip.json" >"$TMP/list.out" 2>"$TMP/list.err" ||
  fail "client list failed: $(cat "$TMP/list.err")"
grep -q '^bob  *private  *valid' "$TMP/list.out" || fail "client list does not show bob as valid"
grep -q '^carol  *private  *revoked' "$TMP/list.out" || fail "client list does not show carol revoked"
grep -q "^  bob  *${ADDR[c2]}:[0-9]*  *172\.16\.1\.[0-9]*  *[0-9]" "$TMP/list.out" ||
  {
    cat "$TMP/list.out" "$TMP/list.err"
    fail "client list does not show bob connected with addresses and bytes"
  }
log "client list shows bob connected: $(grep -m1 '^  bob' "$TMP/list.out" | tr -s ' ')"

"$MESHBROKER" client revoke bob -c "$TMP/chip.json" >"$TMP/revoke-bob.out" 2>&1 ||
  {
    cat "$TMP/revoke-bob.out"
    fail "client revoke bob failed"
  }
revoked_at=$(now_ms)
grep -q '^private: common name .bob. found' "$TMP/revoke-bob.out" ||
  {
    cat "$TMP/revoke-bob.out"
    fail "revoke did not kill bob's session through the management interface"
  }
dropped() { ! pings c2 "${TUNNEL[chip]}"; }
wait_until 10 dropped || fail "bob still reaches chip 10s after his revocation"
drop_ms=$(($(now_ms) - revoked_at))
log "revocation: bob lost the tunnel ${drop_ms} ms after client revoke"
sleep 4
pings c2 "${TUNNEL[chip]}" && fail "revoked bob is connected again"
"$MESHBROKER" client list -c "$TMP/chip.json" --json >"$TMP/list.json" 2>/dev/null
grep -q '"name": "bob"' "$TMP/list.json" || fail "client list --json lacks bob"
# 6. A private instance over TCP 443 (for filtered networks) works the same way.
ovpn_stop bob
ovpn_server chip ptcp
wait_until 10 management_ready chip ptcp || fail "openvpn ptcp on chip did not start"
"$MESHBROKER" client add tina -i ptcp -c "$TMP/chip.json" -o "$TMP/tina.ovpn" 2>/dev/null ||
  fail "client add tina -i ptcp failed"
grep -q '^remote 192\.0\.2\.11 443 tcp$' "$TMP/tina.ovpn" || fail "no tcp remote in tina's profile"
ovpn_client c2 tina "$TMP/tina.ovpn"
wait_until "$CONNECT_WAIT" has_tun_address c2 || fail "tina did not connect over tcp"
wait_until 5 pings c2 172.16.1.193 || fail "tina cannot ping 172.16.1.193 over tcp"
log "tina connected over tcp 443 as $(tun_address c2) and pings 172.16.1.193"
# 7. A malformed certificate file gives a clear error naming it, and changes nothing.
cp -r "$TMP/pki" "$TMP/pki-bad"
printf '%s\n' '-----BEGIN CERTIFICATE-----' 'bm90IGEgY2VydGlmaWNhdGU=' '-----END CERTIFICATE-----' \
  >"$TMP/pki-bad/ca.crt"
sed -e "s#\"pki_dir\": \"$TMP/pki\"#\"pki_dir\": \"$TMP/pki-bad\"#" "$TMP/chip.json" >"$TMP/chip-bad.json"
if "$MESHBROKER" client add uma -c "$TMP/chip-bad.json" >"$TMP/uma.out" 2>"$TMP/uma.err"; then
  fail "client add accepted a malformed CA certificate"
fi
grep -q "$TMP/pki-bad/ca.crt: holds a malformed certificate" "$TMP/uma.err" ||
  fail "unclear error for a malformed CA certificate: $(cat "$TMP/uma.err")"
[[ ! -s $TMP/uma.out ]] || fail "client add printed a profile despite the error"
log "malformed CA certificate: $(head -n1 "$TMP/uma.err")"
log "RESULT {\"failover_kill_ms\": $failover_ms, \"failover_sigterm_ms\": $graceful_ms, \"revocation_drop_ms\": $drop_ms}"

OK=1
