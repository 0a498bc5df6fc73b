#!/usr/bin/env bash
# Integration test: a backend that exits at once (tincd replaced by /bin/false) is restarted
# immediately once, then with exponential backoff, then marked failed; meshbroker keeps running
# and still answers SIGHUP and SIGTERM.
#
#   meshbroker run (chip.json, supervisor.tincd = /bin/false)
#     '- "tincd" -> exit 1 -> restart now -> exit 1 -> wait 100 ms -> ... -> failed
#
# No namespaces: nothing here touches the network.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test supervisor_crash_loop "$@"

pair_config chip '.openvpn = []' \
  '.supervisor = {"tincd": "/bin/false", "restart_base_ms": 100, "restart_max_ms": 400, "max_crashes": 5}'
"$MESHBROKER" run -c "$LAB_TMP/chip.json" </dev/null >"$LAB_TMP/chip.log" 2>&1 &
mbpid=$!
LAB_PIDS+=("$mbpid")

lab_expect 20 "tinc to be marked failed" pair_backend_is chip tinc failed
failure=$(pair_status chip '.backends[]|select(.id=="tinc")|.failure')
[[ $failure == *"gave up after 5 crashes in a row"* ]] || lab_fail "failure message: $failure"
[[ $failure == *"exited with status 1"* ]] || lab_fail "failure does not say why: $failure"
grep -q 'tinc: backoff -> failed\|-> failed' "$LAB_TMP/chip.log" || lab_fail "no log line for the failure"
grep -q 'FAILED: gave up' "$LAB_TMP/chip.log" || lab_fail "the failure is not logged loudly"
kill -0 "$mbpid" || lab_fail "meshbroker died with its backend"

# Gaps between spawns: 0 (first restart is immediate), then 100, 200, 400 ms.
mapfile -t stamps < <(grep 'tinc: started pid' "$LAB_TMP/chip.log" | awk '{print $1}')
[[ ${#stamps[@]} -eq 5 ]] || lab_fail "expected 5 spawns, saw ${#stamps[@]}"
to_ms() { IFS=:. read -r h m s ms <<<"$1"; echo $(((10#$h * 3600 + 10#$m * 60 + 10#$s) * 1000 + 10#$ms)); }
expected=(0 100 200 400)
gaps=()
for ((i = 1; i < 5; i++)); do
  gap=$(($(to_ms "${stamps[i]}") - $(to_ms "${stamps[i - 1]}")))
  gaps+=("$gap")
  want=${expected[i - 1]}
  ((gap >= want)) || lab_fail "restart $i came after $gap ms, before its $want ms backoff"
  ((gap < want + 1000)) || lab_fail "restart $i came after $gap ms, long after its $want ms backoff"
done
lab_log "spawn gaps (ms): ${gaps[*]} (backoff 0, 100, 200, 400), then failed"

# Still alive and in charge: a reload works, and SIGTERM exits 0.
before=$(pair_status chip '.daemon.last_reload.at_ms')
kill -HUP "$mbpid"
lab_expect 10 "reload" bash -c "[[ \$(jq -r .daemon.last_reload.at_ms '$LAB_TMP/chip/run/status.json') != '$before' ]]"
kill -TERM "$mbpid"
rc=0
wait "$mbpid" || rc=$?
[[ $rc -eq 0 ]] || lab_fail "meshbroker exited $rc"
lab_pass
