#!/usr/bin/env bash
# Integration test: restarting meshbroker never drops traffic. A meshbroker killed with SIGKILL
# leaves tincd running; the next one adopts it instead of starting another.
#
#   netns mb-chip-PID                                  netns mb-comegato-PID
#  +----------------------------------+               +----------------------------------+
#  | meshbroker run (chip.json)       |               | meshbroker run (comegato.json)   |
#  |   kill -9, then run again        |               |                                  |
#  |   '- tincd   meshnet0 .11/27  <--+== tinc mesh ==+-- tincd   meshnet0 .12/27        |
#  |      (keeps running, adopted)    |  ping, UDP -> |   ping 100.64.12.11 every 10 ms  |
#  |   udp_stream recv :9000          |               |   udp_stream send, 1 kHz         |
#  |   veth0  192.0.2.11/24  ---------+---- veth -----+---------  veth0  192.0.2.12/24   |
#  +----------------------------------+               +----------------------------------+
#
# Checks: while comegato pings chip over the mesh every 10 ms (and, when build/bench/udp_stream
# is built, sends it a 1 kHz UDP stream), chip's meshbroker is killed with SIGKILL: its tincd
# keeps running (same pid, pid file kept); a new meshbroker adopts it (log line, status
# "adopted", same pid, state running, no second tincd) and learns at once from tincd's node
# list (SIGUSR2) that comegato is up; not one ping or datagram is lost;
# tincd's output after the adoption still reaches meshbroker's log; `meshbroker handover` (a
# restart) exits the daemon and leaves tincd to the next one, again without a lost ping;
# SIGTERM then stops tincd and removes its pid file.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test supervisor_adopt "$@"

for node in chip comegato; do pair_config "$node" '.openvpn = []'; done
pair_keys chip comegato
pair_underlay chip comegato
for node in chip comegato; do pair_run "$node"; done
for node in chip comegato; do
  lab_expect 20 "$node's tinc running" pair_backend_is "$node" tinc running
done
lab_expect 20 "mesh ping chip -> comegato" lab_ping chip "${PAIR_MESH[comegato]}"
lab_expect 10 "mesh ping comegato -> chip" lab_ping comegato "${PAIR_MESH[chip]}"

alive() {  # PID: running and not a zombie (init may not reap what meshbroker left to it)
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z ]]
}
tincds_in() {  # NODE: how many tincd processes run in its namespace
  ip netns pids "${LAB_NS[$1]}" | while read -r pid; do
    alive "$pid" && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == tincd ]] && echo "$pid"
  done | wc -l
}
status_json() {  # NODE JQ: asks the running daemon over its HTTP API (not status.json)
  "$MESHBROKER" status -c "$LAB_TMP/$1.json" --json 2>/dev/null | jq -r "$2"
}

# Both sides dial each other at start-up; their duplicate connections take a moment (and a few
# host-down/host-up rounds) to settle. Measure the restart, not that.
mesh_events() { cat "$LAB_TMP/chip.log" "$LAB_TMP/comegato.log" | grep -c ' mesh: '; }
mesh_quiet() {  # no mesh event on either side for a second
  local before
  before=$(mesh_events)
  sleep 1
  [[ $(mesh_events) == "$before" ]]
}
lab_expect 30 "the mesh to settle" mesh_quiet

tinc_pid=$(pair_backend_pid chip tinc)
pid_file=$LAB_TMP/chip/run/backends/tinc.pid
[[ $(cut -d' ' -f1 "$pid_file") == "$tinc_pid" ]] || lab_fail "pid file $pid_file: $(cat "$pid_file")"

# --- pings every 10 ms (and a 1 kHz UDP stream) cross the mesh while chip's meshbroker dies
# and comes back. ping -c waits for its last reply, so nothing in flight is counted as lost.
count=800
ip netns exec "${LAB_NS[comegato]}" ping -q -i 0.01 -W 1 -c "$count" "${PAIR_MESH[chip]}" \
  >"$LAB_TMP/ping.out" 2>&1 &
ping_pid=$!
LAB_PIDS+=("$ping_pid")
ping_started=$(lab_ms)
# The benchmark's UDP stream tool, when built next to meshbroker (build/bench/udp_stream).
udp_stream=$(dirname -- "$MESHBROKER")/bench/udp_stream
if [[ -x $udp_stream ]]; then
  ip netns exec "${LAB_NS[chip]}" "$udp_stream" recv 9000 --seconds 20 >"$LAB_TMP/udp.recv" 2>&1 &
  recv_pid=$!
  LAB_PIDS+=("$recv_pid")
  sleep 0.2
  ip netns exec "${LAB_NS[comegato]}" "$udp_stream" send "${PAIR_MESH[chip]}:9000" --rate 1000 \
    --seconds 6 >"$LAB_TMP/udp.send" 2>&1 &
  send_pid=$!
  LAB_PIDS+=("$send_pid")
fi
sleep 1

old_mb=${PAIR_PID[chip]}
kill -KILL "$old_mb"
wait "$old_mb" 2>/dev/null || true
lab_forget "$old_mb"
killed_at=$(lab_ms)
sleep 1
alive "$tinc_pid" || lab_fail "tincd $tinc_pid died with its meshbroker"
[[ -e $pid_file ]] || lab_fail "the pid file went with the meshbroker"
lab_log "kill -9 meshbroker: tincd $tinc_pid still running 1 s later"

pair_run chip
lab_expect 10 "the new meshbroker to adopt tincd" \
  grep -q "adopted tincd (pid $tinc_pid) left running by a previous meshbroker" "$LAB_TMP/chip.log"
adopted_at=$(lab_ms)
lab_expect 10 "the new meshbroker to answer status" \
  bash -c "[[ \$('$MESHBROKER' status -c '$LAB_TMP/chip.json' --json 2>/dev/null | jq -r .daemon.pid) == ${PAIR_PID[chip]} ]]"
[[ $(status_json chip '.backends[]|select(.id=="tinc")|.state') == running ]] ||
  lab_fail "adopted tincd is not running: $(status_json chip .backends)"
[[ $(status_json chip '.backends[]|select(.id=="tinc")|.pid') == "$tinc_pid" ]] ||
  lab_fail "status shows another tincd pid: $(status_json chip .backends)"
[[ $(status_json chip '.backends[]|select(.id=="tinc")|.adopted') == true ]] ||
  lab_fail "status does not say adopted"
# The host-up for comegato went to the killed meshbroker; the new one asks tincd (SIGUSR2).
lab_expect 5 "the new meshbroker to learn comegato is up from tincd's node list" \
  grep -q "mesh: comegato up (192.0.2.12), from tincd's node list" "$LAB_TMP/chip.log"
[[ $(status_json chip '.mesh[]|select(.name=="comegato")|.up') == true ]] ||
  lab_fail "status does not show comegato up after the adoption: $(status_json chip .mesh)"
[[ $(tincds_in chip) -eq 1 ]] || lab_fail "$(tincds_in chip) tincd processes in chip's namespace"
lab_log "new meshbroker adopted tincd $tinc_pid $((adopted_at - killed_at)) ms after the kill"
((adopted_at - ping_started < count * 10 - 1000)) || lab_fail "too slow: the ping ended first"

wait "$ping_pid" || true
lab_forget "$ping_pid"
summary=$(grep 'packets transmitted' "$LAB_TMP/ping.out") || lab_fail "no ping summary: $(cat "$LAB_TMP/ping.out")"
sent=$(sed -E 's/^([0-9]+) packets transmitted.*/\1/' <<<"$summary")
received=$(sed -E 's/.* ([0-9]+) (packets )?received.*/\1/' <<<"$summary")
lab_log "ping every 10 ms across kill -9 and adoption: $summary"
lab_log "$(grep -E '^rtt|^round-trip' "$LAB_TMP/ping.out" || true)"
[[ $sent -eq $count ]] || lab_fail "ping sent $sent of $count"
[[ $received -eq $sent ]] || lab_fail "$((sent - received)) of $sent pings lost"
if [[ -x $udp_stream ]]; then
  wait "$send_pid" || lab_fail "udp_stream send failed: $(cat "$LAB_TMP/udp.send")"
  wait "$recv_pid" || lab_fail "udp_stream recv failed: $(cat "$LAB_TMP/udp.recv")"
  lab_forget "$send_pid"
  lab_forget "$recv_pid"
  udp=$(tail -n 1 "$LAB_TMP/udp.recv")
  lab_log "1 kHz UDP stream across kill -9 and adoption: $(jq -c \
    '{expected, received, lost, max_gap_ms, latency_ms}' <<<"$udp")"
  [[ $(jq -r '.complete and .lost == 0 and .received == .expected' <<<"$udp") == true ]] ||
    lab_fail "UDP stream lost datagrams: $udp"
fi

# --- tincd's output after the adoption reaches the new meshbroker through its log file ------
kill -HUP "$tinc_pid"
lab_expect 10 "tincd's 'Got HUP signal' in the new meshbroker's log" \
  bash -c "sed -n '/adopted tincd/,\$p' '$LAB_TMP/chip.log' | grep -q 'tinc: Got HUP signal'"
lab_expect 10 "mesh ping after tincd's SIGHUP" lab_ping comegato "${PAIR_MESH[chip]}"
tinc_tail() { status_json chip '.backends[]|select(.id=="tinc")|.log_tail[]'; }
# The status reply is assembled from the daemon's last published snapshot: poll, do not race it.
tail_has_hup() { tinc_tail | grep -q 'Got HUP signal'; }
if ! lab_wait 10 "tincd's 'Got HUP signal' in status's log tail" tail_has_hup; then
  lab_fail "tincd's lines are not in status's log tail: $(tinc_tail); status -c chip.json --json said: \
$("$MESHBROKER" status -c "$LAB_TMP/chip.json" --json 2>&1 | head -c 4000)"
fi
tail_lines=$(tinc_tail)
if grep -q 'End of nodes' <<<"$tail_lines"; then lab_fail "tincd's node list went into the log tail"; fi
lab_log "tincd's log lines after the adoption reach meshbroker (the node list only its journal)"

# --- handover (what systemctl restart and a package upgrade do): the daemon exits cleanly,
# tincd stays, the next meshbroker adopts it; pings every 10 ms lose nothing --------------
ip netns exec "${LAB_NS[comegato]}" ping -q -i 0.01 -W 1 -c 500 "${PAIR_MESH[chip]}" \
  >"$LAB_TMP/ping2.out" 2>&1 &
ping_pid=$!
LAB_PIDS+=("$ping_pid")
sleep 1
"$MESHBROKER" handover -c "$LAB_TMP/chip.json" >"$LAB_TMP/handover.out" 2>&1 ||
  lab_fail "meshbroker handover failed: $(cat "$LAB_TMP/handover.out")"
grep -q "exited; tincd and openvpn keep running" "$LAB_TMP/handover.out" ||
  lab_fail "handover said: $(cat "$LAB_TMP/handover.out")"
rc=0
wait "${PAIR_PID[chip]}" || rc=$?
lab_forget "${PAIR_PID[chip]}"
[[ $rc -eq 0 ]] || lab_fail "meshbroker exited $rc on handover"
grep -q "handover: exiting for a restart; tinc (pid $tinc_pid) keep running" "$LAB_TMP/chip.log" ||
  lab_fail "no handover log line naming tincd $tinc_pid"
alive "$tinc_pid" || lab_fail "tincd $tinc_pid did not outlive the handover"
[[ -e $pid_file ]] || lab_fail "the pid file went with the handover"
pair_run chip
lab_expect 10 "the next meshbroker to adopt tincd after the handover" \
  bash -c "[[ \$(grep -c 'adopted tincd (pid $tinc_pid)' '$LAB_TMP/chip.log') -ge 2 ]]"
wait "$ping_pid" || true
lab_forget "$ping_pid"
summary=$(grep 'packets transmitted' "$LAB_TMP/ping2.out") || lab_fail "no ping summary: $(cat "$LAB_TMP/ping2.out")"
sent=$(sed -E 's/^([0-9]+) packets transmitted.*/\1/' <<<"$summary")
received=$(sed -E 's/.* ([0-9]+) (packets )?received.*/\1/' <<<"$summary")
[[ $sent -eq 500 && $received -eq $sent ]] || lab_fail "pings across the handover: $summary"
lab_log "handover: meshbroker exited 0, tincd $tinc_pid kept running and was adopted; pings every 10 ms: $summary"

# --- SIGTERM: a clean shutdown stops the adopted tincd and removes its pid file ------------
kill -TERM "${PAIR_PID[chip]}"
rc=0
wait "${PAIR_PID[chip]}" || rc=$?
[[ $rc -eq 0 ]] || lab_fail "meshbroker exited $rc on SIGTERM"
lab_forget "${PAIR_PID[chip]}"
! alive "$tinc_pid" || lab_fail "adopted tincd $tinc_pid survived meshbroker's shutdown"
[[ ! -e $pid_file ]] || lab_fail "pid file $pid_file left behind"
[[ $(tincds_in chip) -eq 0 ]] || lab_fail "a tincd still runs in chip's namespace"
grep -q 'meshbroker stopped' "$LAB_TMP/chip.log" || lab_fail "no shutdown log line"
lab_log "SIGTERM: adopted tincd stopped, pid file removed, meshbroker exited 0"
lab_pass
