#!/usr/bin/env bash
# Integration test: `meshbroker run` supervising real tincd in two namespaces.
#
#   netns mb-chip-PID                                  netns mb-comegato-PID
#  +----------------------------------+               +----------------------------------+
#  | meshbroker run (chip.json)       |               | meshbroker run (comegato.json)   |
#  |   '- tincd   meshnet0 .11/27     |== tinc mesh ==|   '- tincd   meshnet0 .12/27     |
#  |   veth0  192.0.2.11/24  ---------+---- veth -----+---------  veth0  192.0.2.12/24   |
#  +----------------------------------+               +----------------------------------+
#
# Checks: the mesh comes up under meshbroker; kill -9 of tincd is repaired and the mesh pings
# again (times printed); SIGHUP with an unchanged config keeps every PID; SIGHUP with an invalid
# config keeps the old one running; a hosts-only change is applied with SIGHUP (same PID);
# 200 kill/restart cycles (50 under ASan) leave no zombies, no more open fds and a stable RSS;
# SIGTERM stops everything and exits 0.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test supervisor_run "$@"

# OpenVPN has its own tests; fast restarts so 200 kill cycles take seconds, never give up.
fast='.supervisor = {"restart_base_ms": 20, "restart_max_ms": 100, "max_crashes": 0}'
# No route sets: their gateways are not in this two-node lab (route_failover tests them).
for node in chip comegato; do pair_config "$node" '.openvpn = []' '.routes = []' "$fast"; done
pair_keys chip comegato
pair_underlay chip comegato
# A sanitizer build's quarantine of freed memory (default up to 256 MiB) would hide any RSS
# trend of the kill cycles below: 16 MiB, still far more than one restart frees.
[[ -n ${MESHBROKER_SANITIZER:-} ]] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=16"
for node in chip comegato; do pair_run "$node"; done

for node in chip comegato; do
  lab_expect 20 "$node's tinc running" pair_backend_is "$node" tinc running
done
start=$(lab_ms)
lab_expect 20 "mesh ping chip -> comegato" lab_ping chip "${PAIR_MESH[comegato]}"
lab_log "mesh up; first ping answered $(($(lab_ms) - start)) ms after both tincs were ready"
lab_expect 10 "mesh ping comegato -> chip" lab_ping comegato "${PAIR_MESH[chip]}"

# `meshbroker status` asks the daemon over its control socket.
lab_expect 10 "status to show comegato up" \
  bash -c "'$MESHBROKER' status -c '$LAB_TMP/chip.json' 2>/dev/null | grep -Eq '^comegato +up'"
table=$("$MESHBROKER" status -c "$LAB_TMP/chip.json" 2>/dev/null) || lab_fail "status exited non-zero"
grep -Eq '^tinc +running' <<<"$table" || lab_fail "status does not show tinc running: $table"
[[ $("$MESHBROKER" status -c "$LAB_TMP/chip.json" --json 2>/dev/null | jq -r .node) == chip ]] ||
  lab_fail "status --json"
lab_log "meshbroker status: tinc running, comegato up"

# --- kill -9 of tincd -------------------------------------------------------------------
old=$(pair_backend_pid chip tinc)
t0=$(lab_ms)
kill -KILL "$old"
lab_expect 10 "a new tincd for chip" \
  bash -c "[[ \$(jq -r '.backends[]|select(.id==\"tinc\")|.pid' '$LAB_TMP/chip/run/status.json') != $old ]]"
t1=$(lab_ms)
lab_expect 10 "chip's new tinc running" pair_backend_is chip tinc running
t2=$(lab_ms)
lab_expect 15 "mesh ping after the tincd restart" lab_ping chip "${PAIR_MESH[comegato]}"
t3=$(lab_ms)
lab_log "kill -9 tincd: new pid seen after $((t1 - t0)) ms, ready after $((t2 - t0)) ms," \
  "mesh answering after $((t3 - t0)) ms"
restarts=$(pair_status chip '.backends[]|select(.id=="tinc")|.restarts')
[[ $restarts -ge 1 ]] || lab_fail "restart count is $restarts"

# --- SIGHUP, unchanged config: no PID changes ---------------------------------------------
reload_at() { pair_status "$1" '.daemon.last_reload.at_ms'; }
hup_and_wait() {  # NODE
  local before
  before=$(reload_at "$1")
  kill -HUP "${PAIR_PID[$1]}"
  lab_expect 10 "$1 to reload" bash -c "[[ \$(jq -r .daemon.last_reload.at_ms '$LAB_TMP/$1/run/status.json') != '$before' ]]"
}
pid_before=$(pair_backend_pid chip tinc)
hup_and_wait chip
[[ $(pair_status chip '.daemon.last_reload.ok') == true ]] || lab_fail "unchanged reload not ok"
[[ $(pair_status chip '.daemon.last_reload.actions.tinc') == none ]] || lab_fail "unchanged reload touched tinc"
[[ $(pair_backend_pid chip tinc) == "$pid_before" ]] || lab_fail "unchanged reload changed tincd's pid"
lab_log "SIGHUP, unchanged config: tincd pid $pid_before kept"

# --- SIGHUP, invalid config: old one keeps running ----------------------------------------
cp "$LAB_TMP/chip.json" "$LAB_TMP/chip.json.good"
jq '.tinc.address = "100.64.99.11" | .routes[0].to = ["10.1.0.0/11"]' "$LAB_TMP/chip.json.good" >"$LAB_TMP/chip.json"
hup_and_wait chip
[[ $(pair_status chip '.daemon.last_reload.ok') == false ]] || lab_fail "invalid reload reported ok"
pair_status chip '.daemon.last_reload.errors[]' | grep -q '/routes/0/to/0' || lab_fail "reload errors do not name the field"
grep -q 'still running the old one unchanged' "$LAB_TMP/chip.log" || lab_fail "no log line for the kept config"
[[ $(pair_backend_pid chip tinc) == "$pid_before" ]] || lab_fail "invalid reload changed tincd's pid"
# The kept config is proven by tincd's pid above; the mesh answering is a liveness check,
# bounded like the other pings here: under ASan next to other tests, tinc's two meta
# connections between the nodes raced for seconds after start (CI saw 5.9 s to the first ping).
lab_expect 15 "mesh ping after an invalid reload" lab_ping chip "${PAIR_MESH[comegato]}"
lab_log "SIGHUP, invalid config: errors logged, old config kept, mesh still up"

# --- SIGHUP, a host file change: tincd takes it with SIGHUP --------------------------------
jq '.hosts[0].port = 656' "$LAB_TMP/chip.json.good" >"$LAB_TMP/chip.json"
hup_and_wait chip
[[ $(pair_status chip '.daemon.last_reload.actions.tinc') == signal ]] || lab_fail "hosts change was not a signal"
[[ $(pair_backend_pid chip tinc) == "$pid_before" ]] || lab_fail "hosts change restarted tincd"
# tincd logs the signal when it handles it, and meshbroker copies its lines into chip.log as
# they come: poll for the line instead of expecting it the moment the reload is reported.
lab_expect 10 "tincd to log the SIGHUP" grep -q 'tinc: Got HUP signal' "$LAB_TMP/chip.log"
cp "$LAB_TMP/chip.json.good" "$LAB_TMP/chip.json"
hup_and_wait chip
lab_log "SIGHUP, hosts/comegato changed: applied with SIGHUP, tincd pid kept"

# --- 200 (ASan: 50) kill / restart cycles -------------------------------------------------
mbpid=${PAIR_PID[chip]}
# The fewest open fds over 10 samples 50 ms apart: a probe socket or a child's pipe open at one
# instant is not a leak (CI once saw 20 -> 19); a leak grows with the cycles and shows in every
# sample.
fds() {
  local n min=
  for _ in {1..10}; do
    n=$(find "/proc/$mbpid/fd" -mindepth 1 -maxdepth 1 | wc -l)
    [[ -z $min || $n -lt $min ]] && min=$n
    sleep 0.05
  done
  echo "$min"
}
rss() { awk '/VmRSS/ {print $2}' "/proc/$mbpid/status"; }
fds_before=$(fds)
rss_before=$(rss)
# 200 cycles take ~55 s here; under ASan one takes ~0.7 s (spawning tincd from a 230 MB
# sanitized process: ~190 ms of it), 146 s idle and past the 300 s timeout when CI runs other
# labs beside it. There 50: LeakSanitizer reports a leak of any single cycle at exit, and an fd
# leaked per cycle still shows as 50 more.
cycles=200
[[ -n ${MESHBROKER_SANITIZER:-} ]] && cycles=50
for ((i = 1; i <= cycles; i++)); do
  pid=$(pair_backend_pid chip tinc)
  [[ $pid =~ ^[0-9]+$ && $pid -gt 0 ]] || { sleep 0.02; ((i--)); continue; }
  kill -KILL "$pid" 2>/dev/null || true
  lab_expect 10 "restart $i" bash -c "p=\$(jq -r '.backends[]|select(.id==\"tinc\")|.pid' '$LAB_TMP/chip/run/status.json'); [[ \$p != $pid && \$p != 0 ]]"
done
lab_expect 10 "tinc running after the cycles" pair_backend_is chip tinc running
fds_after=$(fds)
rss_after=$(rss)
zombies=$(ps -o stat= --ppid "$mbpid" | grep -c '^Z' || true)
lab_log "$cycles kill cycles: fds $fds_before -> $fds_after, RSS ${rss_before} -> ${rss_after} kB, zombies $zombies"
[[ $zombies -eq 0 ]] || lab_fail "$zombies zombie children"
[[ $fds_after -le $fds_before ]] || { ls -l "/proc/$mbpid/fd"; lab_fail "fd count grew"; }
# 2 MiB. Under ASan (MESHBROKER_SANITIZER, set by tests/CMakeLists.txt) freed memory is not
# reused at once but held in its quarantine to catch use-after-free (quarantine_size_mb, 16 for
# this daemon, set before pair_run above), with 1/8 more of shadow, and a block freed in one size
# class is not reused for another: 2 MiB + 16 MiB + 2 MiB + 28 MiB there (measured: 24 MiB).
# Leaks themselves are LeakSanitizer's job in that build: its report at meshbroker's exit
# (SIGTERM below) fails the test (exit 23, and tests/sanitizer_reports.sh).
rss_limit_kb=2048
[[ -n ${MESHBROKER_SANITIZER:-} ]] && rss_limit_kb=$((2048 + 16384 + 2048 + 28672))
((rss_after - rss_before < rss_limit_kb)) ||
  lab_fail "RSS grew by $((rss_after - rss_before)) kB (limit $rss_limit_kb kB)"
# 200 reconnects in a row can leave tinc 1.0 stuck: comegato's tincd accepted chip's last
# connection but ran no host-up for it, and every packet between them was dropped for 45 s
# and more (CI saw it in 2 of ~7 runs). meshbroker's stale-path watch, which restarts tincd for
# such a silence, watches only the gateways it probes; this two-node lab has none, so nothing
# here repairs it (a gap noted for the redesign/registry work, docs/supervisor.md). What this
# test asserts is meshbroker's part: after the cycles its tincd works, at once or after one
# clean restart through the supervisor (SIGTERM to tincd: it says goodbye to its peers).
t=$(lab_ms)
if lab_wait 15 "mesh ping after the cycles" lab_ping chip "${PAIR_MESH[comegato]}"; then
  lab_log "mesh answering $(($(lab_ms) - t)) ms after the cycles"
else
  old_pid=$(pair_backend_pid chip tinc)
  lab_log "mesh silent 15 s after the cycles (tinc 1.0 left stuck); one clean restart of tincd $old_pid"
  kill -TERM "$old_pid"
  lab_expect 20 "a new tincd running" eval '[[ $(pair_backend_pid chip tinc) != "$old_pid" ]] && pair_backend_is chip tinc running'
  t=$(lab_ms)
  lab_expect 30 "mesh ping after the clean restart" lab_ping chip "${PAIR_MESH[comegato]}"
  lab_log "mesh answering $(($(lab_ms) - t)) ms after the clean restart"
fi

# --- SIGTERM: children stopped, exit 0 ----------------------------------------------------
tinc_pid=$(pair_backend_pid chip tinc)
kill -TERM "$mbpid"
rc=0
wait "$mbpid" || rc=$?
[[ $rc -eq 0 ]] || lab_fail "meshbroker exited $rc on SIGTERM"
! kill -0 "$tinc_pid" 2>/dev/null || lab_fail "tincd $tinc_pid survived meshbroker's shutdown"
[[ ! -e $LAB_TMP/chip/run/status.json ]] || lab_fail "status.json left behind"
grep -q 'meshbroker stopped' "$LAB_TMP/chip.log" || lab_fail "no shutdown log line"
rc=0
"$MESHBROKER" status -c "$LAB_TMP/chip.json" >/dev/null 2>"$LAB_TMP/status.err" || rc=$?
[[ $rc -eq 3 ]] && grep -q 'meshbroker is not running' "$LAB_TMP/status.err" ||
  lab_fail "status of a stopped daemon: exit $rc, $(cat "$LAB_TMP/status.err")"
lab_log "SIGTERM: tincd stopped, meshbroker exited 0; status says it is not running"
lab_pass
