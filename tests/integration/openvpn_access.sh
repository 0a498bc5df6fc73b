#!/usr/bin/env bash
# Integration test: private OpenVPN access with real openvpn, configured by meshbroker only.
# The network is lab/openvpn_hub.sh (full diagram there); this test uses:
#
#                       netns ovpn-hub-PID (bridge br0, 192.0.2.0/24)
#          +-----------------+-----------------+-----------------+
#          |                 |                 |                 |
#   ovpn-chip-PID      ovpn-comegato-PID   ovpn-c1-PID       ovpn-c2-PID
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
# Usage: openvpn_access.sh /path/to/meshbroker      (LAB_KEEP=1 keeps the temp folder)
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, openvpn/ip/ping/tun/netns unavailable;
# with CI=true or MESHBROKER_NO_SKIP=1 that is a failure naming what is missing).
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../lab/openvpn_hub.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/openvpn_hub.sh"

[[ $# -eq 1 ]] || {
  echo "usage: $0 /path/to/meshbroker" >&2
  exit 2
}
MESHBROKER=$1
hub_init --test openvpn_access c1 c2
declare -A TUNNEL=([chip]=172.16.1.97 [comegato]=172.16.1.161)
CONNECT_WAIT=20

for node in chip comegato; do
  hub_server "$node" private
done
for node in chip comegato; do
  lab_wait 10 "openvpn private's management socket on $node" hub_management_ready "$node" private ||
    lab_fail "openvpn private on $node did not start"
done
lab_log "openvpn private instances up on chip and comegato"

# 1. A profile from `client add` connects.
"$MESHBROKER" client add alice -c "$LAB_TMP/chip.json" -o "$LAB_TMP/alice.ovpn" 2>/dev/null ||
  lab_fail "client add alice failed"
[[ $(stat -c %a "$LAB_TMP/alice.ovpn") == 600 ]] || lab_fail "the profile is not 0600"
remotes=$(grep -c '^remote 192\.0\.2\.1[12] 1195 udp$' "$LAB_TMP/alice.ovpn") || true
[[ $remotes == 2 ]] || lab_fail "the profile lists $remotes remotes, expected both servers"
grep -q '^remote-random$' "$LAB_TMP/alice.ovpn" || lab_fail "no remote-random in the profile"
hub_client c1 alice "$LAB_TMP/alice.ovpn"
lab_wait "$CONNECT_WAIT" "alice's tunnel address" hub_has_tun_address c1 ||
  lab_fail "alice did not connect within ${CONNECT_WAIT}s"
address=$(hub_tun_address c1)
case $address in
  172.16.1.9[89] | 172.16.1.1[01][0-9] | 172.16.1.12[0-6]) first=chip second=comegato ;;
  172.16.1.16[2-9] | 172.16.1.1[7-8][0-9] | 172.16.1.19[0-4]) first=comegato second=chip ;;
  *) lab_fail "alice got an unexpected address $address" ;;
esac
lab_wait 5 "alice pings ${TUNNEL[$first]}" lab_ping c1 "${TUNNEL[$first]}" ||
  lab_fail "alice cannot ping ${TUNNEL[$first]}"
lab_log "alice connected to $first as $address and pings ${TUNNEL[$first]}"

# 2. Failover: kill the server alice uses; she must move to the other remote.
kill -KILL "${HUB_PID[$first-private]}"
killed_at=$(lab_ms)
hub_stop "$first-private"
lab_wait 40 "alice pings $second (${TUNNEL[$second]})" lab_ping c1 "${TUNNEL[$second]}" ||
  lab_fail "alice did not fail over to $second within 40s"
failover_ms=$(($(lab_ms) - killed_at))
lab_log "failover: alice pings $second (${TUNNEL[$second]}) ${failover_ms} ms after $first's openvpn was killed"
hub_server "$first" private
lab_wait 10 "openvpn private's management socket on $first" hub_management_ready "$first" private ||
  lab_fail "openvpn private on $first did not restart"

# 2b. A clean stop (SIGTERM) tells clients to move on at once (explicit-exit-notify 2).
sleep 1
kill -TERM "${HUB_PID[$second-private]}"
stopped_at=$(lab_ms)
lab_wait 20 "alice pings $first (${TUNNEL[$first]})" lab_ping c1 "${TUNNEL[$first]}" ||
  lab_fail "alice did not move back to $first within 20s of $second's clean stop"
graceful_ms=$(($(lab_ms) - stopped_at))
lab_log "failover on a clean stop: alice pings $first ${graceful_ms} ms after $second's openvpn got SIGTERM"
hub_stop "$second-private"
hub_server "$second" private
lab_wait 10 "openvpn private's management socket on $second" hub_management_ready "$second" private ||
  lab_fail "openvpn private on $second did not restart"
hub_stop alice

# The next clients dial chip only.
ip -n "${LAB_NS[c2]}" route add unreachable "${HUB_ADDR[comegato]}/32"

# 3. A client revoked before connecting is refused.
"$MESHBROKER" client add carol -c "$LAB_TMP/chip.json" -o "$LAB_TMP/carol.ovpn" 2>/dev/null ||
  lab_fail "client add carol failed"
"$MESHBROKER" client revoke carol -c "$LAB_TMP/chip.json" >"$LAB_TMP/revoke-carol.out" 2>&1 ||
  {
    cat "$LAB_TMP/revoke-carol.out" >&2
    lab_fail "client revoke carol failed"
  }
hub_client c2 carol "$LAB_TMP/carol.ovpn"
chip_log=$(hub_log chip-private)
if lab_wait 8 "chip refusing the revoked carol" grep -q 'CRL CHECK FAILED\|certificate revoked' "$chip_log"; then
  lab_log "chip refused the revoked carol: $(grep -m1 -o 'CRL CHECK FAILED.*\|certificate revoked.*' "$chip_log")"
else
  lab_fail "chip's log does not show carol refused for revocation"
fi
hub_has_tun_address c2 && lab_fail "revoked carol got a tunnel address"
hub_stop carol

# 4. A connected client that gets revoked is dropped.
"$MESHBROKER" client add bob -c "$LAB_TMP/chip.json" -o "$LAB_TMP/bob.ovpn" 2>/dev/null ||
  lab_fail "client add bob failed"
hub_client c2 bob "$LAB_TMP/bob.ovpn"
lab_wait "$CONNECT_WAIT" "bob's tunnel address" hub_has_tun_address c2 ||
  lab_fail "bob did not connect within ${CONNECT_WAIT}s"
lab_wait 5 "bob pings ${TUNNEL[chip]}" lab_ping c2 "${TUNNEL[chip]}" ||
  lab_fail "bob cannot ping ${TUNNEL[chip]}"
lab_log "bob connected to chip as $(hub_tun_address c2)"

"$MESHBROKER" client list -c "$LAB_TMP/chip.json" >"$LAB_TMP/list.out" 2>"$LAB_TMP/list.err" ||
  lab_fail "client list failed: $(cat "$LAB_TMP/list.err")"
grep -q '^bob  *private  *valid' "$LAB_TMP/list.out" || lab_fail "client list does not show bob as valid"
grep -q '^carol  *private  *revoked' "$LAB_TMP/list.out" ||
  lab_fail "client list does not show carol revoked"
grep -q "^  bob  *${HUB_ADDR[c2]}:[0-9]*  *172\.16\.1\.[0-9]*  *[0-9]" "$LAB_TMP/list.out" ||
  {
    cat "$LAB_TMP/list.out" "$LAB_TMP/list.err" >&2
    lab_fail "client list does not show bob connected with addresses and bytes"
  }
lab_log "client list shows bob connected: $(grep -m1 '^  bob' "$LAB_TMP/list.out" | tr -s ' ')"

"$MESHBROKER" client revoke bob -c "$LAB_TMP/chip.json" >"$LAB_TMP/revoke-bob.out" 2>&1 ||
  {
    cat "$LAB_TMP/revoke-bob.out" >&2
    lab_fail "client revoke bob failed"
  }
revoked_at=$(lab_ms)
grep -q '^private: common name .bob. found' "$LAB_TMP/revoke-bob.out" ||
  {
    cat "$LAB_TMP/revoke-bob.out" >&2
    lab_fail "revoke did not kill bob's session through the management interface"
  }
dropped() { ! lab_ping c2 "${TUNNEL[chip]}"; }
lab_wait 10 "bob's tunnel to chip gone" dropped ||
  lab_fail "bob still reaches chip 10s after his revocation"
drop_ms=$(($(lab_ms) - revoked_at))
lab_log "revocation: bob lost the tunnel ${drop_ms} ms after client revoke"
sleep 4
lab_ping c2 "${TUNNEL[chip]}" >/dev/null && lab_fail "revoked bob is connected again"
"$MESHBROKER" client list -c "$LAB_TMP/chip.json" --json >"$LAB_TMP/list.json" 2>/dev/null
grep -q '"name": "bob"' "$LAB_TMP/list.json" || lab_fail "client list --json lacks bob"
# 6. A private instance over TCP 443 (for filtered networks) works the same way.
hub_stop bob
hub_server chip ptcp
lab_wait 10 "openvpn ptcp's management socket on chip" hub_management_ready chip ptcp ||
  lab_fail "openvpn ptcp on chip did not start"
"$MESHBROKER" client add tina -i ptcp -c "$LAB_TMP/chip.json" -o "$LAB_TMP/tina.ovpn" 2>/dev/null ||
  lab_fail "client add tina -i ptcp failed"
grep -q '^remote 192\.0\.2\.11 443 tcp$' "$LAB_TMP/tina.ovpn" || lab_fail "no tcp remote in tina's profile"
hub_client c2 tina "$LAB_TMP/tina.ovpn"
lab_wait "$CONNECT_WAIT" "tina's tunnel address" hub_has_tun_address c2 ||
  lab_fail "tina did not connect over tcp"
lab_wait 5 "tina pings 172.16.1.193" lab_ping c2 172.16.1.193 ||
  lab_fail "tina cannot ping 172.16.1.193 over tcp"
lab_log "tina connected over tcp 443 as $(hub_tun_address c2) and pings 172.16.1.193"
# 7. A malformed certificate file gives a clear error naming it, and changes nothing.
cp -r "$LAB_TMP/pki" "$LAB_TMP/pki-bad"
printf '%s\n' '-----BEGIN CERTIFICATE-----' 'bm90IGEgY2VydGlmaWNhdGU=' '-----END CERTIFICATE-----' \
  >"$LAB_TMP/pki-bad/ca.crt"
sed -e "s#\"pki_dir\": \"$LAB_TMP/pki\"#\"pki_dir\": \"$LAB_TMP/pki-bad\"#" "$LAB_TMP/chip.json" \
  >"$LAB_TMP/chip-bad.json"
if "$MESHBROKER" client add uma -c "$LAB_TMP/chip-bad.json" >"$LAB_TMP/uma.out" 2>"$LAB_TMP/uma.err"; then
  lab_fail "client add accepted a malformed CA certificate"
fi
grep -q "$LAB_TMP/pki-bad/ca.crt: holds a malformed certificate" "$LAB_TMP/uma.err" ||
  lab_fail "unclear error for a malformed CA certificate: $(cat "$LAB_TMP/uma.err")"
[[ ! -s $LAB_TMP/uma.out ]] || lab_fail "client add printed a profile despite the error"
lab_log "malformed CA certificate: $(head -n1 "$LAB_TMP/uma.err")"
lab_log "RESULT {\"failover_kill_ms\": $failover_ms, \"failover_sigterm_ms\": $graceful_ms, \"revocation_drop_ms\": $drop_ms}"

lab_pass
