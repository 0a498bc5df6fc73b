#!/usr/bin/env bash
# Integration test (issue 21): what each OpenVPN user used survives the user reconnecting and
# meshbroker restarting, and a garbled ledger file is kept aside, never read as zero silently.
#
#   netns mb-chip-PID: meshbroker run (chip.json): tincd, openvpn public and private (tcp 443)
#   netns mb-comegato-PID: alice's openvpn client (profile from `client add alice`)
#   veth 192.0.2.11 <-> 192.0.2.12
#
# Checks: alice's pings through the tunnel show up as her bytes in status (`usage`), sessions 1;
# her client killed and started again: sessions 2 and the bytes of both sessions; meshbroker
# stopped and started: the figures are read back from <state_dir>/openvpn-usage.json and grow
# from there (her open session is not counted twice); `client list --json` shows them; a
# garbled file: error in the log, file kept as .bad-TIME, counting from zero.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test openvpn_usage "$@"
lab_need openvpn ping jq

pair_config chip '.paths.pki_dir = "'"$LAB_TMP"'/pki"' '.supervisor.openvpn_status_interval_ms = 500'
pair_keys chip
pair_underlay chip comegato
pair_client chip init
pair_client chip add alice -o "$LAB_TMP/alice.ovpn"
LEDGER=$LAB_TMP/chip/state/openvpn-usage.json

alice() { pair_status chip ".usage[] | select(.instance == \"private\" and .user == \"alice\") | $1"; }
alice_at_least() { # FIELD N
  local v
  v=$(alice "$1")
  [[ $v =~ ^[0-9]+$ ]] && ((v >= $2))
}
ledger_at_least() { # FIELD N: the saved file says so
  local v
  v=$(jq -r ".users[] | select(.user == \"alice\") | $1" "$LEDGER" 2>/dev/null)
  [[ $v =~ ^[0-9]+$ ]] && ((v >= $2))
}
CLIENT_PID=
client_up() {
  lab_spawn comegato alice openvpn --config "$LAB_TMP/alice.ovpn" --dev tun0
  CLIENT_PID=$LAB_PID
  lab_expect 30 "alice's tunnel" lab_ping comegato 172.16.1.97
}
# 50 pings of 1000 bytes through the tunnel: at least 50 KB each way.
traffic() { lab_exec comegato ping -n -q -c 50 -i 0.02 -s 1000 172.16.1.97 >/dev/null || lab_fail "pings through alice's tunnel failed"; }

pair_run chip
lab_expect 30 "openvpn-private running" pair_backend_is chip openvpn-private running
client_up
traffic
lab_expect 10 "alice's upload in status" alice_at_least .total.bytes_received 50000
lab_expect 10 "alice's download in status" alice_at_least .total.bytes_sent 50000
[[ $(alice .total.sessions) == 1 && $(alice .connected) == true && $(alice .month) == $(date -u +%Y-%m) ]] ||
  lab_fail "alice after one session: $(alice .)"
first_in=$(alice .total.bytes_received)
lab_log "one session: alice sent $first_in bytes; status counts 1 session, connected"

# She reconnects: a new session, her figures go on.
lab_stop "$CLIENT_PID"
client_up
traffic
lab_expect 10 "alice's second session" alice_at_least .total.sessions 2
lab_expect 10 "the second session's bytes" alice_at_least .total.bytes_received $((first_in + 50000))
lab_expect 10 "the ledger file saved" ledger_at_least .total.sessions 2
[[ $(stat -c %a "$LEDGER") == 600 ]] || lab_fail "$LEDGER has mode $(stat -c %a "$LEDGER"), not 600"
lab_log "reconnected: sessions 2, $(alice .total.bytes_received) bytes; saved to the state dir (0600)"

# meshbroker restarts (alice's session goes on through openvpn's restart or reconnects):
# the figures come back from the file, and grow from there.
kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "meshbroker did not exit cleanly"
saved_in=$(jq -r '.users[] | select(.user == "alice") | .total.bytes_received' "$LEDGER")
saved_sessions=$(jq -r '.users[] | select(.user == "alice") | .total.sessions' "$LEDGER")
((saved_in >= first_in + 50000)) || lab_fail "the file saved at shutdown has $saved_in bytes"
pair_run chip
lab_expect 10 "alice's figures read back" alice_at_least .total.bytes_received "$saved_in"
lab_expect 30 "openvpn-private running again" pair_backend_is chip openvpn-private running
lab_expect 40 "alice's tunnel after the restart" lab_ping comegato 172.16.1.97
traffic
lab_expect 10 "alice's bytes growing after the restart" alice_at_least .total.bytes_received $((saved_in + 50000))
sessions=$(alice .total.sessions)
((sessions >= saved_sessions && sessions <= saved_sessions + 1)) ||
  lab_fail "sessions went from $saved_sessions to $sessions over one restart"
"$MESHBROKER" client list -c "$LAB_TMP/chip.json" --json >"$LAB_TMP/list.json" 2>"$LAB_TMP/list.err" ||
  lab_fail "client list failed: $(cat "$LAB_TMP/list.err")"
listed=$(jq -r '.usage[] | select(.user == "alice") | .total.bytes_received' "$LAB_TMP/list.json")
[[ $listed =~ ^[0-9]+$ ]] && ((listed >= saved_in)) || lab_fail "client list shows alice's upload as \"$listed\""
lab_log "meshbroker restarted: alice's $saved_in bytes read back, $(alice .total.bytes_received) now, sessions $saved_sessions -> $sessions; client list shows them"

# A garbled file: kept aside, an error in the log, counting from zero.
lab_stop "$CLIENT_PID"
kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "meshbroker did not exit cleanly"
printf '{"version": 1, "users": [{"instance": "private", "user": "alice", "total": "lots"}' >"$LEDGER"
pair_run chip
lab_expect 10 "the garbled file reported" grep -q 'usage: .*openvpn-usage.json: not JSON; kept as .*openvpn-usage.json.bad-' "$LAB_TMP/chip.log"
compgen -G "$LEDGER.bad-*" >/dev/null || lab_fail "the garbled file was not kept"
grep -q '"lots"' "$LEDGER".bad-* || lab_fail "the kept file is not the garbled one"
usage_empty() { [[ $(pair_status chip '.usage | length') == 0 ]]; }
lab_expect 10 "status with no usage after the garbled file" usage_empty
lab_log "a garbled ledger: error logged, file kept as $(basename "$(compgen -G "$LEDGER.bad-*")"), counting from zero"
kill -TERM "${PAIR_PID[chip]}"
wait "${PAIR_PID[chip]}" || lab_fail "meshbroker did not exit cleanly"
lab_pass
