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
# answering is dropped and reconnected. The PKI is made ten days in the past (faketime): its
# CRLs are due, and the daemon refreshes them at start and reports their expiry in status.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test supervisor_openvpn "$@"
lab_need openvpn faketime openssl

pair_config chip '.paths.pki_dir = "'"$LAB_TMP"'/pki"' '.supervisor.restart_base_ms = 100'
pair_keys chip
pair_underlay chip comegato

# No PKI yet: the instances are not started, and the log says what to do.
pair_run chip
lab_expect 10 "the missing PKI to be reported" grep -q 'is missing (run: meshbroker client init' "$LAB_TMP/chip.log"
kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "meshbroker did not exit cleanly"
lab_log "without a PKI: openvpn not started, log says to run client init"
# libfaketime is an LD_PRELOAD library: under ASan (build-asan) its runtime must be told it
# need not come first.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
  faketime -f -10d "$MESHBROKER" client init -c "$LAB_TMP/chip.json" >"$LAB_TMP/init.log" 2>&1 ||
  { cat "$LAB_TMP/init.log"; lab_fail "client init failed"; }
# next_update FILE: the earliest nextUpdate of the CRLs in FILE, in seconds since the epoch.
next_update() {
  local pem crl t earliest=''
  pem=$(mktemp -d "$LAB_TMP/crl.XXXXXX")
  awk -v dir="$pem" '/BEGIN X509 CRL/ { n++ } { print > (dir "/" n ".pem") }' "$1"
  for crl in "$pem"/*.pem; do
    t=$(date -d "$(openssl crl -in "$crl" -noout -nextupdate | cut -d= -f2)" +%s)
    [[ -z $earliest || $t -lt $earliest ]] && earliest=$t
  done
  rm -rf -- "$pem"
  echo "$earliest"
}
# Made at -10 days: 20 days left (less than 23, so due).
left=$(($(next_update "$LAB_TMP/pki/crl/public.pem") - $(date +%s)))
((left > 19 * 86400 && left <= 20 * 86400 + 600)) || lab_fail "the aged PKI's CRL has $left s left, not 20 days"
pair_run chip
lab_expect 10 "the due CRLs to be refreshed" grep -q 'pki: CRLs refreshed' "$LAB_TMP/chip.log"
lab_expect 10 "the CRLs' expiry in status" \
  bash -c "[[ \$(jq -r '.daemon.pki.crl_next_update' '$LAB_TMP/chip/run/status.json') =~ ^[0-9]+\$ ]]"
reported=$(pair_status chip '.daemon.pki.crl_next_update')
for instance in public private; do
  fresh=$(next_update "$LAB_TMP/pki/crl/$instance.pem")
  ((fresh - $(date +%s) > 29 * 86400)) || lab_fail "crl/$instance.pem was not refreshed (nextUpdate $fresh)"
  ((fresh >= reported)) || lab_fail "status says the CRLs expire at $reported, crl/$instance.pem at $fresh"
done
((reported - $(date +%s) > 29 * 86400)) || lab_fail "status reports an expiry of $reported"
[[ $(pair_status chip '.daemon.pki.advice') == "" ]] || lab_fail "advice: $(pair_status chip '.daemon.pki.advice')"
lab_log "the PKI made 10 days ago ($((left / 3600)) h left) was refreshed at start: $(((reported - $(date +%s)) / 3600)) h left in status"
for backend in tinc openvpn-public openvpn-private; do
  lab_expect 30 "$backend running" pair_backend_is chip "$backend" running
done
lab_expect 15 "openvpn client lists read" \
  bash -c "[[ \$(jq -r '.clients[] | select(.instance == \"public\") | .updated_ms' '$LAB_TMP/chip/run/status.json') -gt 0 ]]"
[[ $(pair_status chip '.clients[] | select(.instance == "private") | .management_connected') == true ]] ||
  lab_fail "no management connection to openvpn-private"
lab_log "tinc, openvpn-public and openvpn-private running; client lists read"
lab_expect 10 "the public instance's rate limit" \
  bash -c "ip netns exec '${LAB_NS[chip]}' tc qdisc show dev vpn_public | grep -q htb"
ip netns exec "${LAB_NS[chip]}" tc qdisc show dev vpn_private | grep -q htb && lab_fail "the private instance is shaped"
grep -q 'openvpn-public: per-client rate limit applied on vpn_public' "$LAB_TMP/chip.log" ||
  lab_fail "no log line for the rate limit"
lab_log "meshbroker shaped vpn_public (HTB), left vpn_private alone"

pids() { pair_status chip '[.backends[] | "\(.id)=\(.pid)"] | join(" ")'; }
before=$(pids)
tinc_pid=$(pair_backend_pid chip tinc)
public_pid=$(pair_backend_pid chip openvpn-public)
private_pid=$(pair_backend_pid chip openvpn-private)

at=$(pair_status chip '.daemon.last_reload.at_ms')
jq '(.openvpn[] | select(.name == "private") | .port) = 4443' "$LAB_TMP/chip.json" >"$LAB_TMP/chip.new"
mv "$LAB_TMP/chip.new" "$LAB_TMP/chip.json"
kill -HUP "${PAIR_PID[chip]}"
lab_expect 10 "reload" bash -c "[[ \$(jq -r .daemon.last_reload.at_ms '$LAB_TMP/chip/run/status.json') != '$at' ]]"
[[ $(pair_status chip '.daemon.last_reload.actions["openvpn-private"]') == restart ]] ||
  lab_fail "private instance not restarted: $(pair_status chip '.daemon.last_reload.actions')"
lab_expect 30 "openvpn-private running again" pair_backend_is chip openvpn-private running
[[ $(pair_backend_pid chip tinc) == "$tinc_pid" ]] || lab_fail "tincd restarted"
[[ $(pair_backend_pid chip openvpn-public) == "$public_pid" ]] || lab_fail "openvpn-public restarted"
[[ $(pair_backend_pid chip openvpn-private) != "$private_pid" ]] || lab_fail "openvpn-private kept its pid"
lab_expect 10 "port 4443 listening" \
  bash -c "ip netns exec '${LAB_NS[chip]}' ss -Hltn 'sport = :4443' | grep -q 4443"
lab_log "SIGHUP, private port 443 -> 4443: only openvpn-private restarted ($before -> $(pids))"

old=$(pair_backend_pid chip openvpn-public)
kill -KILL "$old"
lab_expect 10 "openvpn-public restarted" \
  bash -c "p=\$(jq -r '.backends[]|select(.id==\"openvpn-public\")|.pid' '$LAB_TMP/chip/run/status.json'); [[ \$p != $old && \$p != 0 ]]"
lab_expect 30 "openvpn-public running again" pair_backend_is chip openvpn-public running
lab_expect 10 "vpn_public shaped again" \
  bash -c "ip netns exec '${LAB_NS[chip]}' tc qdisc show dev vpn_public | grep -q htb"
lab_log "kill -9 openvpn-public: restarted, management interface answered, shaped again"

# A management interface that stops answering (openvpn SIGSTOPped: the next client-list read
# gets no reply within 10 s) is dropped, and meshbroker connects again once it answers.
mgmt_connected() { [[ $(pair_status chip '.clients[] | select(.instance == "public") | .management_connected') == "$1" ]]; }
stopped=$(pair_backend_pid chip openvpn-public)
kill -STOP "$stopped"
lab_expect 25 "the management connection dropped" mgmt_connected false
kill -CONT "$stopped"
lab_expect 10 "the management connection back" mgmt_connected true
[[ $(pair_backend_pid chip openvpn-public) == "$stopped" ]] || lab_fail "openvpn-public was restarted"
grep -q "openvpn-public: openvpn management: reconnecting" "$LAB_TMP/chip.log" ||
  lab_fail "no reconnect in the log"
lab_log "openvpn-public SIGSTOPped: management connection dropped after the reply timeout, back after SIGCONT"

kill -TERM "${PAIR_PID[chip]}"
rc=0
wait "${PAIR_PID[chip]}" || rc=$?
[[ $rc -eq 0 ]] || lab_fail "meshbroker exited $rc"
pgrep -f "$LAB_TMP/chip/state/rendered/openvpn" >/dev/null && lab_fail "an openvpn outlived meshbroker"
lab_pass
