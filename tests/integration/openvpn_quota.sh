#!/usr/bin/env bash
# Integration test (issue 21): a monthly quota ends a user's session and refuses them until the
# month ends, on a private instance (by certificate) and a public one (by source address), and
# the refusal outlives a meshbroker restart.
#
#   netns mb-chip-PID: meshbroker run (chip.json, every instance "quota": "1MB"): tincd,
#                      openvpn public (udp 1194) and private (tcp 443)
#   netns mb-comegato-PID: alice's openvpn client, then a public user's (the shared profile)
#   veth 192.0.2.11 <-> 192.0.2.12
#
# Checks, the way a user over quota would try to go on: alice moves 1.2 MB through the private
# tunnel: her session is ended, chip logs why and until when, a client-config-dir file holds
# "disable", and her reconnect is refused (AUTH_FAILED) while she stays over; a meshbroker
# restart keeps refusing her. A public user (shared certificate) over quota: session ended, the
# source address in meshbroker's nftables set, and a reconnect from that address never gets an
# address (its packets are dropped and counted).
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test openvpn_quota "$@"
lab_need openvpn ping jq nft

pair_config chip '.paths.pki_dir = "'"$LAB_TMP"'/pki"' '.supervisor.openvpn_status_interval_ms = 500' \
  '.openvpn |= map(.quota = "1MB")'
pair_keys chip
pair_underlay chip comegato
pair_client chip init
pair_client chip add alice -o "$LAB_TMP/alice.ovpn"
pair_client chip shared -o "$LAB_TMP/public.ovpn"
CCD=$LAB_TMP/chip/state/openvpn-ccd/private

CLIENT_PID=
client_up() { # PROFILE LABEL SERVER_ADDRESS
  lab_spawn comegato "$2" openvpn --config "$LAB_TMP/$1" --dev tun0
  CLIENT_PID=$LAB_PID
  lab_expect 30 "$2's tunnel" lab_ping comegato "$3"
}
client_gone() { ! kill -0 "$CLIENT_PID" 2>/dev/null || ! lab_ping comegato "$1"; }
# 600 pings of 1000 bytes: 1.2 MB both ways together, past the 1 MB quota.
traffic() { lab_exec comegato ping -n -q -c 600 -i 0.005 -s 1000 "$1" >/dev/null 2>&1 || true; }

pair_run chip
lab_expect 30 "openvpn-private running" pair_backend_is chip openvpn-private running
lab_expect 30 "openvpn-public running" pair_backend_is chip openvpn-public running

# --- private: alice by certificate ---------------------------------------------------------
client_up alice.ovpn alice 172.16.1.97
traffic 172.16.1.97
lab_expect 15 "chip to log alice over quota" grep -q 'openvpn-private: alice is over the monthly quota (.* of 1.00 MB): sessions ended, refused until [0-9-]* 00:00 UTC' "$LAB_TMP/chip.log"
lab_expect 15 "alice's session ended" grep -q 'openvpn-private: ended the session of alice (.*): over the monthly quota' "$LAB_TMP/chip.log"
grep -qx disable "$CCD/alice" || lab_fail "no disable line in $CCD/alice: $(cat "$CCD/alice" 2>&1)"
lab_log "alice over quota: session ended, $CCD/alice says disable"
# She tries again, and again: refused at the handshake.
lab_stop "$CLIENT_PID"
lab_spawn comegato alice-again openvpn --config "$LAB_TMP/alice.ovpn" --dev tun0
CLIENT_PID=$LAB_PID
lab_expect 30 "alice's reconnect refused" grep -q 'AUTH_FAILED' "$LAB_TMP/alice-again.log"
lab_ping comegato 172.16.1.97 && lab_fail "alice reached chip through the tunnel while over quota"
lab_stop "$CLIENT_PID"
pair_status chip '.events[]?.what' | grep -q 'alice is over the monthly quota' ||
  lab_fail "no quota event in chip's status: $(pair_status chip '.events')"
lab_log "alice's reconnect: AUTH_FAILED; the status has the event"

# meshbroker restarts: still refused (the file is kept, and written again from the ledger).
kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "meshbroker did not exit cleanly"
rm -f -- "$CCD/alice"
pair_run chip
lab_expect 30 "openvpn-private running again" pair_backend_is chip openvpn-private running
grep -qx disable "$CCD/alice" || lab_fail "after a restart $CCD/alice is not written again from the ledger"
lab_spawn comegato alice-restart openvpn --config "$LAB_TMP/alice.ovpn" --dev tun0
CLIENT_PID=$LAB_PID
lab_expect 30 "alice refused after the restart" grep -q 'AUTH_FAILED' "$LAB_TMP/alice-restart.log"
lab_stop "$CLIENT_PID"
lab_log "after a meshbroker restart: the file is back from the ledger, alice still refused"

# --- public: one certificate for all, a user is a source address -----------------------------
client_up public.ovpn public 172.16.1.65
traffic 172.16.1.65
lab_expect 15 "chip to log 192.0.2.12 over quota" grep -q 'openvpn-public: 192.0.2.12 is over the monthly quota' "$LAB_TMP/chip.log"
blocked() { lab_exec chip nft list set inet meshbroker public_quota4 | grep -q '192\.0\.2\.12'; }
lab_expect 15 "192.0.2.12 in the nftables set" blocked
lab_expect 15 "the public session ended for the quota" grep -q 'openvpn-public: ended the session of .* (192\.0\.2\.12:[0-9]*): over the monthly quota' "$LAB_TMP/chip.log"
lab_expect 30 "the public tunnel to be gone" client_gone 172.16.1.65
lab_stop "$CLIENT_PID"
dropped_before=$(lab_exec chip nft list counter inet meshbroker public_quota_dropped | awk '/packets/ { print $2 }')
lab_spawn comegato public-again openvpn --config "$LAB_TMP/public.ovpn" --dev tun0
CLIENT_PID=$LAB_PID
sleep 8
lab_ping comegato 172.16.1.65 && lab_fail "the blocked address got a tunnel again"
grep -q 'Initialization Sequence Completed' "$LAB_TMP/public-again.log" &&
  lab_fail "the blocked address completed a connection"
dropped=$(lab_exec chip nft list counter inet meshbroker public_quota_dropped | awk '/packets/ { print $2 }')
((dropped > dropped_before)) || lab_fail "no packet counted as dropped ($dropped_before -> $dropped)"
lab_stop "$CLIENT_PID"
lab_log "public user over quota: session ended, 192.0.2.12 blocked, its reconnect dropped ($((dropped - dropped_before)) packets)"

kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "meshbroker did not exit cleanly"
lab_pass
