#!/usr/bin/env bash
# Integration test: meshbroker supervising real OpenVPN next to tincd, and reloading one
# instance without touching anything else.
#
#   netns mb-chip-PID
#  +--------------------------------------------------------------+
#  | meshbroker run (chip.json)                                   |
#  |   |- tincd            meshnet0 100.64.12.11/27 (peer absent) |
#  |   |- openvpn public   vpn_public  udp 1194  172.16.1.64/27   |
#  |   '- openvpn private  vpn_private tcp 443   172.16.1.96/27   |
#  |   veth0 192.0.2.11/24 (other end in mb-comegato-PID, idle)   |
#  +--------------------------------------------------------------+
#
# Checks: without a PKI the instances are not started and the log says what to run; both
# OpenVPN instances become "running" (their management interface answered) and
# meshbroker reads their client lists; SIGHUP with the private instance's port changed
# restarts only openvpn-private (tincd and openvpn-public keep their PIDs); the new port is
# listening; meshbroker applies the public instance's per-client rate limit to its tun device;
# kill -9 of an openvpn is repaired (and shaped again); a management interface that stops
# answering is dropped and reconnected.
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
mb_init supervisor_openvpn "$@"
command -v openvpn >/dev/null || mb_skip "openvpn is not installed"

mb_config chip '.paths.pki_dir = "'"$TMP"'/pki"' '.supervisor.restart_base_ms = 100'
mb_keys chip
mb_underlay chip comegato

# No PKI yet: the instances are not started, and the log says what to do.
mb_run chip
mb_wait 10 "the missing PKI to be reported" grep -q 'is missing (run: meshbroker client init' "$TMP/chip.log"
kill -TERM "${MBPID[chip]}"
wait "${MBPID[chip]}" || mb_fail "meshbroker did not exit cleanly"
mb_log "without a PKI: openvpn not started, log says to run client init"
"$MESHBROKER" client init -c "$TMP/chip.json" >"$TMP/init.log" 2>&1 ||
  { cat "$TMP/init.log"; mb_fail "client init failed"; }
mb_run chip
for backend in tinc openvpn-public openvpn-private; do
  mb_wait 30 "$backend running" mb_backend_is chip "$backend" running
done
mb_wait 15 "openvpn client lists read" \
  bash -c "[[ \$(jq -r '.openvpn.public.updated_ms' '$TMP/chip/run/status.json') -gt 0 ]]"
[[ $(mb_status chip '.openvpn.private.management_connected') == true ]] ||
  mb_fail "no management connection to openvpn-private"
mb_log "tinc, openvpn-public and openvpn-private running; client lists read"
mb_wait 10 "the public instance's rate limit" \
  bash -c "ip netns exec '${NS[chip]}' tc qdisc show dev vpn_public | grep -q htb"
ip netns exec "${NS[chip]}" tc qdisc show dev vpn_private | grep -q htb && mb_fail "the private instance is shaped"
grep -q 'openvpn-public: per-client rate limit applied on vpn_public' "$TMP/chip.log" ||
  mb_fail "no log line for the rate limit"
mb_log "meshbroker shaped vpn_public (HTB), left vpn_private alone"

pids() { mb_status chip '[.backends[] | "\(.id)=\(.pid)"] | join(" ")'; }
before=$(pids)
tinc_pid=$(mb_backend_pid chip tinc)
public_pid=$(mb_backend_pid chip openvpn-public)
private_pid=$(mb_backend_pid chip openvpn-private)

at=$(mb_status chip '.last_reload.at_ms')
jq '(.openvpn[] | select(.name == "private") | .port) = 4443' "$TMP/chip.json" >"$TMP/chip.new"
mv "$TMP/chip.new" "$TMP/chip.json"
kill -HUP "${MBPID[chip]}"
mb_wait 10 "reload" bash -c "[[ \$(jq -r .last_reload.at_ms '$TMP/chip/run/status.json') != '$at' ]]"
[[ $(mb_status chip '.last_reload.actions["openvpn-private"]') == restart ]] ||
  mb_fail "private instance not restarted: $(mb_status chip '.last_reload.actions')"
mb_wait 30 "openvpn-private running again" mb_backend_is chip openvpn-private running
[[ $(mb_backend_pid chip tinc) == "$tinc_pid" ]] || mb_fail "tincd restarted"
[[ $(mb_backend_pid chip openvpn-public) == "$public_pid" ]] || mb_fail "openvpn-public restarted"
[[ $(mb_backend_pid chip openvpn-private) != "$private_pid" ]] || mb_fail "openvpn-private kept its pid"
mb_wait 10 "port 4443 listening" \
  bash -c "ip netns exec '${NS[chip]}' ss -Hltn 'sport = :4443' | grep -q 4443"
mb_log "SIGHUP, private port 443 -> 4443: only openvpn-private restarted ($before -> $(pids))"

old=$(mb_backend_pid chip openvpn-public)
kill -KILL "$old"
mb_wait 10 "openvpn-public restarted" \
  bash -c "p=\$(jq -r '.backends[]|select(.id==\"openvpn-public\")|.pid' '$TMP/chip/run/status.json'); [[ \$p != $old && \$p != 0 ]]"
mb_wait 30 "openvpn-public running again" mb_backend_is chip openvpn-public running
mb_wait 10 "vpn_public shaped again" \
  bash -c "ip netns exec '${NS[chip]}' tc qdisc show dev vpn_public | grep -q htb"
mb_log "kill -9 openvpn-public: restarted, management interface answered, shaped again"

# A management interface that stops answering (openvpn SIGSTOPped: the next client-list read
# gets no reply within 10 s) is dropped, and meshbroker connects again once it answers.
mgmt_connected() { [[ $(mb_status chip '.openvpn.public.management_connected') == "$1" ]]; }
stopped=$(mb_backend_pid chip openvpn-public)
kill -STOP "$stopped"
mb_wait 25 "the management connection dropped" mgmt_connected false
kill -CONT "$stopped"
mb_wait 10 "the management connection back" mgmt_connected true
[[ $(mb_backend_pid chip openvpn-public) == "$stopped" ]] || mb_fail "openvpn-public was restarted"
grep -q "openvpn-public: openvpn management: reconnecting" "$TMP/chip.log" ||
  mb_fail "no reconnect in the log"
mb_log "openvpn-public SIGSTOPped: management connection dropped after the reply timeout, back after SIGCONT"

kill -TERM "${MBPID[chip]}"
rc=0
wait "${MBPID[chip]}" || rc=$?
[[ $rc -eq 0 ]] || mb_fail "meshbroker exited $rc"
pgrep -f "$TMP/chip/state/rendered/openvpn" >/dev/null && mb_fail "an openvpn outlived meshbroker"
MB_OK=1
