#!/usr/bin/env bash
# Integration test: the stale-path watch (supervisor/stale_path.hpp) with real tincd, in the
# namespace lab of lab/failover.sh (diagram there).
#
#   stale_path.sh /path/to/meshbroker
#
#   chip (server)  `meshbroker run` (it runs chip's tincd); route set "mesh": 10.64.0.0/11 via
#                  cometa (priority 0) or illimani (priority 1), probes every 200 ms.
#   cometa, illimani (gateways, hand-started tincd).
#
# What tinc 1.0 does wrong (seen in ansible_deploy): after meta connections churn, a peer's packet
# key can be out of step; the meta connection stays up and every packet to the peer is dropped.
# This test makes the same symptom on purpose: cometa's tap interface drops every frame that
# arrives (nftables, netdev ingress on meshnet0), so tinc's meta connection and UDP are fine and
# nothing chip sends over the mesh reaches cometa's kernel.
#
# Checks:
#   1. cometa silent from the start (its meta connection up, every frame dropped): illimani up and
#      the route via illimani; 25 s (the watch's silence) after cometa's host-up, not before,
#      meshbroker logs why ("answered nothing since it connected") and restarts its tincd once.
#   2. cometa reconnects to the new tincd and still answers nothing: no second restart (one was
#      made for cometa and it has not answered since), illimani up again.
#   3. the drop lifted: cometa answers, the route returns to cometa.
#   4. cometa silent again after answering: the route moves to illimani at once, and 25 s after
#      the drop meshbroker restarts tincd again ("answered nothing for 25 s").
#   5. the drop lifted: the route returns to cometa; status.json's events say "restarting tincd".
# LAB_KEEP=1 keeps the temp folder.
set -euo pipefail

# shellcheck source=../../lab/failover.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/failover.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
lab_binary MESHBROKER "$1"
fo_init --test stale_path
lab_need awk

# After a failure: chip's verdicts (lab_cleanup shows the logs).
# shellcheck disable=SC2317  # called by lab_cleanup
show_verdicts() { fo_show_health '.gateways | map({name, verdict, reason})'; }
lab_on_cleanup show_verdicts

COMETA=${FO_MESH[cometa]}
ILLIMANI=${FO_MESH[illimani]}
DEST=$FO_DEST
CFG=$LAB_TMP/server.json
STATUS=$LAB_TMP/chip/run/status.json
MBLOG=$LAB_TMP/meshbroker.log

route_via() {  # GW: chip's proto 177 route to DEST is via GW alone
  [[ $(lab_exec chip ip -j route show proto 177 2>/dev/null |
    jq -r --arg d "$DEST" 'map(select(.dst == $d)) | .[0].gateway // ""') == "$1" ]]
}
status_json() { jq -r "$1" "$STATUS" 2>/dev/null; }
verdict_is() { [[ $(status_json ".gateways[] | select(.name == \"$1\") | .verdict") == "$2" ]]; }
both_up() { verdict_is cometa up && verdict_is illimani up; }
tinc_restarts() { status_json '.backends[] | select(.id == "tinc") | .restarts'; }
tinc_running() { [[ $(status_json '.backends[] | select(.id == "tinc") | .state') == running ]]; }
stale_lines() { grep -c 'has answered nothing' "$MBLOG" || true; }
drop_on() {
  lab_exec cometa nft -f - <<EOF || lab_fail "nft: cannot add the drop on cometa's meshnet0"
table netdev stale_path {
  chain in { type filter hook ingress device "meshnet0" priority 0; policy drop; }
}
EOF
}
drop_off() { lab_exec cometa nft delete table netdev stale_path; }

# --- lab and config -------------------------------------------------------------------------
t_start=$(lab_ms)
FO_SERVER_TINC=none fo_up
fo_config chip "$CFG" \
  ".routes = [{\"name\": \"mesh\", \"to\": [\"$DEST\"], \"policy\": \"failover\",
     \"via\": [{\"gateway\": \"cometa\", \"priority\": 0}, {\"gateway\": \"illimani\", \"priority\": 1}]}]" \
  ".health = {\"interval_ms\": 200, \"timeout_ms\": 150, \"up_after\": 5}" \
  '.routing = ((.routing // {}) + {"resync_ms": 1000})'
"$MESHBROKER" check -c "$CFG" >"$LAB_TMP/check.log" 2>&1 ||
  { cat "$LAB_TMP/check.log" >&2; lab_fail "meshbroker check rejected the test config"; }
# The watch counts from cometa's host-up in meshbroker's lab_log (meshbroker logs it as it reads it).
cometa_up_after() {  # N: a "mesh: cometa up" after the Nth stale-path line
  awk -v n="$1" '/has answered nothing/ {seen++} seen >= n && /mesh: cometa up/ {found=1}
    END {exit !found}' "$MBLOG"
}
illimani_reached() {
  local i
  for ((i = 0; i < 40; i++)); do
    fo_redial
    lab_wait 1 "illimani" lab_ping chip "$ILLIMANI" >/dev/null 2>&1 && return 0
  done
  return 1
}
stale_count_is() { [[ $(stale_lines) -ge $1 ]]; }
restarted_since() { [[ $(tinc_restarts) -gt $1 ]] && tinc_running; }

# --- 1. cometa silent from the start -------------------------------------------------------
drop_on
lab_spawn chip meshbroker "$MESHBROKER" run -c "$CFG"
illimani_reached || lab_fail "chip's tincd under meshbroker did not reach illimani"
lab_wait 20 "cometa's host-up" cometa_up_after 0 || lab_fail "cometa never connected to chip's tincd"
up_ms=$(lab_ms)
lab_log "lab up, illimani reached and cometa connected after $((up_ms - t_start)) ms"
lab_wait 15 "illimani up in status.json" verdict_is illimani up || lab_fail "illimani not up"
lab_wait 10 "the route via illimani" route_via "$ILLIMANI" || lab_fail "no route via illimani"
restarts0=$(tinc_restarts)
lab_wait 45 "meshbroker to call cometa's path stale" stale_count_is 1 ||
  lab_fail "no stale-path restart 45 s after cometa connected in silence"
after=$(($(lab_ms) - up_ms))
line=$(grep -m1 'has answered nothing' "$MBLOG")
lab_log "1. stale after ${after} ms: ${line#*tinc: }"
grep -q 'peer cometa .*answered nothing since it connected' <<<"$line" ||
  lab_fail "not cometa, or not 'since it connected': $line"
# Not before the 25 s of silence and at most a few 1 s ticks after, by the daemon's own clock
# (its line says how long): this script sees the host-up a poll late or more on a busy machine
# (under ASan it once saw it 2.4 s late), so its own stopwatch only bounds the wait.
silent_for() {  # LINE PATTERN: the seconds the daemon's line reports after PATTERN
  sed -n "s/.*$2 \([0-9]*\.[0-9]\) s.*/\1/p" <<<"$1" | awk '{ printf "%d", $1 * 1000 }'
}
ms=$(silent_for "$line" 'connected over tinc for')
[[ -n $ms ]] || lab_fail "no duration in: $line"
((ms >= 25000)) || lab_fail "called stale after ${ms} ms of silence, before 25 s"
((ms <= 30000)) || lab_fail "called stale only after ${ms} ms of silence (25 s, 1 s ticks)"
((after <= 45000)) || lab_fail "called stale only ${after} ms after cometa connected"
lab_wait 15 "tincd restarted and running" restarted_since "$restarts0" ||
  lab_fail "tincd was not restarted (restarts $(tinc_restarts), was $restarts0)"
restart1_ms=$(lab_ms)

# --- 2. cometa reconnects, still silent: no second restart ----------------------------------
illimani_reached || lab_fail "illimani did not come back after chip's tincd restart"
lab_wait 20 "cometa's meta connection again" cometa_up_after 1 ||
  lab_fail "cometa did not reconnect to chip's new tincd"
lab_wait 15 "illimani up again" verdict_is illimani up || lab_fail "illimani not up after the restart"
sleep 40  # more than the silence: a second restart would have come by now
[[ $(stale_lines) -eq 1 ]] ||
  lab_fail "$(stale_lines) stale-path restarts; want 1 (cometa has not answered since the first)"
restarts1=$(tinc_restarts)
((restarts1 == restarts0 + 1)) || lab_fail "tinc restarted $((restarts1 - restarts0)) times; want 1"
route_via "$ILLIMANI" || lab_fail "the route left illimani while cometa is silent"
lab_log "2. cometa reconnected and silent for 40 s more: no second restart, route via illimani"

# --- 3. the drop lifted ---------------------------------------------------------------------
drop_off
lift_ms=$(lab_ms)
lab_wait 15 "cometa up" verdict_is cometa up || lab_fail "cometa did not come up after the drop was lifted"
lab_wait 10 "the route via cometa" route_via "$COMETA" || lab_fail "the route did not return to cometa"
lab_log "3. drop lifted: cometa up and the route via cometa after $(($(lab_ms) - lift_ms)) ms"

# --- 4. silent again after answering --------------------------------------------------------
# The watch's back-off: at least 60 s after the first restart (it has been that long by now).
drop_on
drop_ms=$(lab_ms)
lab_wait 10 "the route via illimani" route_via "$ILLIMANI" ||
  lab_fail "the route did not leave cometa after it went silent"
lab_log "4. cometa silent: route via illimani after $(($(lab_ms) - drop_ms)) ms"
lab_wait 45 "a second stale-path restart" stale_count_is 2 ||
  lab_fail "no stale-path restart 45 s after cometa went silent again"
after=$(($(lab_ms) - drop_ms))
line=$(grep 'has answered nothing' "$MBLOG" | sed -n 2p)
lab_log "4. stale after ${after} ms ($(((drop_ms - restart1_ms) / 1000)) s after the first): ${line#*tinc: }"
grep -q 'peer cometa .*answered nothing for' <<<"$line" || lab_fail "not cometa, or not 'for': $line"
ms=$(silent_for "$line" 'has answered nothing for')
[[ -n $ms ]] || lab_fail "no duration in: $line"
((ms >= 25000)) || lab_fail "called stale after ${ms} ms of silence, before 25 s"
((ms <= 30000)) || lab_fail "called stale only after ${ms} ms of silence (25 s, 1 s ticks)"
((after >= 24000)) || lab_fail "called stale ${after} ms after the drop, before the 25 s of silence"
lab_wait 15 "tincd restarted again" restarted_since "$restarts1" ||
  lab_fail "tincd was not restarted again (restarts $(tinc_restarts), was $restarts1)"

# --- 5. the drop lifted again ---------------------------------------------------------------
drop_off
lift_ms=$(lab_ms)
illimani_reached || lab_fail "illimani did not come back after the second restart"
lab_wait 20 "cometa up" verdict_is cometa up || lab_fail "cometa did not come back up"
lab_wait 10 "the route via cometa" route_via "$COMETA" || lab_fail "the route did not return to cometa"
lab_log "5. drop lifted: cometa up and the route back after $(($(lab_ms) - lift_ms)) ms"
events=$(status_json '[.events[] | select(.what | test("restarting tincd"))] | length')
[[ $events -ge 2 ]] || lab_fail "status.json's events do not say 'restarting tincd' twice ($events)"
[[ $(stale_lines) -eq 2 ]] || lab_fail "$(stale_lines) stale-path restarts; want 2"

lab_pass
