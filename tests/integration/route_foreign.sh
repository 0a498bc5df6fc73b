#!/usr/bin/env bash
# Integration test: routes of others are left alone (issue 18). Real `meshbroker run` (with its
# tincd) and the real kernel, in one namespace:
#
#   netns fo-chip-ID:  uplink (veth, its peer in the same namespace) 192.0.2.11/24, meshnet0
#     chip's config: route set "mesh" (10.64.0.0/11 and 10.254.0.0/16) via cometa or illimani,
#     which never answer (they do not exist here): after the warm-up the set's all_down route
#     "unreachable" goes in for both, in the main table, with protocol 177.
#
# The attack is an ordinary one: somebody else routes the same destination with the key ours
# would use (destination, table, metric 0). NLM_F_REPLACE matches on that key, not on the
# protocol, so a daemon that replaces blindly takes the other route over.
#
# Checks:
#   1. start with the administrator's `10.64.0.0/11 via 192.0.2.1 proto static` in place: it is
#      the same after the all-down verdict, after re-syncs and after a reload (SIGHUP); ours is there beside it, at metric 1; the log warns once; status.json
#      and `meshbroker routes` name the conflict.
#   2. while running, another program takes over our 10.254.0.0/16 (`ip route replace ... proto
#      static`, what a second routing daemon does): its route stays, ours comes back beside it
#      at metric 1 within the re-sync.
#   3. the administrator removes both: ours go back to metric 0, the metric-1 ones are removed,
#      the conflicts are gone from status.json.
# LAB_KEEP=1 keeps the temp folder.
set -euo pipefail

# shellcheck source=../../lab/failover.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/failover.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
lab_binary MESHBROKER "$1"
fo_init --test route_foreign

CFG=$LAB_TMP/chip.json
STATUS=$LAB_TMP/chip/run/status.json
MBLOG=$LAB_TMP/meshbroker.log
MESH=10.64.0.0/11
OTHER=10.254.0.0/16

lab_ns_add chip
lab_exec chip ip link set lo up
lab_exec chip ip link add uplink type veth peer name uplink-peer  # (no dummy module here)
lab_exec chip ip addr add 192.0.2.11/24 dev uplink
lab_exec chip ip link set uplink-peer up
lab_exec chip ip link set uplink up

# Routes to DEST in the main table as "proto metric type gateway" lines, sorted.
routes_to() {  # DEST
  lab_exec chip ip -j route show table main exact "$1" 2>/dev/null |
    jq -r '.[] | "\(.protocol) \(.metric // 0) \(.type // "unicast") \(.gateway // "-")"' | sort
}
theirs() { routes_to "$1" | grep -v '^177 ' || true; }
ours() { routes_to "$1" | grep '^177 ' || true; }
status_json() { jq -r "$1" "$STATUS" 2>/dev/null; }
conflicts() { status_json '.daemon.route_conflicts | length'; }
ours_is() { [[ $(ours "$1") == "$2" ]]; }         # DEST "177 METRIC TYPE GATEWAY"
all_are() { [[ $(routes_to "$1") == "$2" ]]; }    # DEST LINES
conflicts_are() { [[ $(conflicts) == "$1" ]]; }  # N
# Long enough for several re-syncs (resync_ms 500): what they do is checked after it.
resyncs_pass() { sleep 2; }

# The seed's chip, localized: no OpenVPN, probes every 200 ms, warm-up 1 s, re-sync 500 ms.
fo_config chip "$CFG" \
  '.health = ((.health // {}) + {"interval_ms": 200, "timeout_ms": 150, "warmup_ms": 1000})' \
  '.routing = ((.routing // {}) + {"resync_ms": 500})'
"$MESHBROKER" keygen -c "$CFG" >/dev/null 2>"$LAB_TMP/keygen.log" ||
  { cat "$LAB_TMP/keygen.log" >&2; lab_fail "keygen failed"; }
"$MESHBROKER" check -c "$CFG" >"$LAB_TMP/check.log" 2>&1 ||
  { cat "$LAB_TMP/check.log" >&2; lab_fail "meshbroker check rejected the test config"; }
jq -e --arg d "$OTHER" '.routes[0].to | index($d)' "$CFG" >/dev/null ||
  lab_fail "the seed's chip has no route to $OTHER"

# --- 1. the administrator's route was there first -------------------------------------------
lab_exec chip ip route add "$MESH" via 192.0.2.1 dev uplink proto static
static_before=$(theirs "$MESH")
[[ $static_before == "static 0 unicast 192.0.2.1" ]] || lab_fail "the static route is \"$static_before\""

lab_spawn chip meshbroker "$MESHBROKER" run -c "$CFG"
MBPID=$LAB_PID
lab_wait 20 "meshbroker's unreachable route to $MESH beside the static one" \
  ours_is "$MESH" "177 1 unreachable -" ||
  lab_fail "our route to $MESH is \"$(ours "$MESH")\", not unreachable at metric 1 (all: $(routes_to "$MESH" | tr '\n' ';'))"
[[ $(theirs "$MESH") == "$static_before" ]] || lab_fail "the static route changed at start: $(theirs "$MESH")"
lab_wait 10 "status.json names the conflict" conflicts_are 1 ||
  lab_fail "status.json route_conflicts: $(status_json '.daemon.route_conflicts')"
status_json '.daemon.route_conflicts[0]' | grep -q "^$MESH (table 254, metric 0) is routed by another program (proto static)" ||
  lab_fail "status.json's conflict says: $(status_json '.daemon.route_conflicts[0]')"
lab_log "1. start: static route untouched, ours at metric 1: $(routes_to "$MESH" | tr '\n' ';')"

# Re-syncs later, and across a reload.
resyncs_pass
[[ $(theirs "$MESH") == "$static_before" ]] || lab_fail "the static route changed at a re-sync: $(theirs "$MESH")"
kill -HUP "$MBPID"
lab_wait 10 "the reload" grep -q 'SIGHUP: reloading' "$MBLOG" || lab_fail "no reload logged"
resyncs_pass
[[ $(theirs "$MESH") == "$static_before" ]] || lab_fail "the static route changed across the reload: $(theirs "$MESH")"
[[ $(ours "$MESH") == "177 1 unreachable -" ]] || lab_fail "ours after the reload: $(ours "$MESH")"
warned=$(grep -c "routes: $MESH (table 254, metric 0) is routed by another program" "$MBLOG" || true)
((warned == 1)) || lab_fail "the conflict was logged $warned times (want once, not at every re-sync)"
table=$("$MESHBROKER" routes -c "$CFG" 2>&1) || lab_fail "meshbroker routes failed: $table"
grep -q "^conflict: $MESH " <<<"$table" || lab_fail "meshbroker routes does not show the conflict: $table"
lab_log "1. after re-syncs and a reload: static route untouched, logged once, shown by meshbroker routes"

# --- 2. another program takes our key over while we run -------------------------------------
[[ $(ours "$OTHER") == "177 0 unreachable -" ]] || lab_fail "ours to $OTHER: $(ours "$OTHER")"
lab_exec chip ip route replace "$OTHER" via 192.0.2.2 dev uplink proto static
other=$(theirs "$OTHER")
[[ $other == "static 0 unicast 192.0.2.2" ]] || lab_fail "the other program's route is \"$other\""
lab_wait 5 "ours to $OTHER back beside it" ours_is "$OTHER" "177 1 unreachable -" ||
  lab_fail "ours to $OTHER: \"$(ours "$OTHER")\" (all: $(routes_to "$OTHER" | tr '\n' ';'))"
resyncs_pass
[[ $(theirs "$OTHER") == "$other" ]] || lab_fail "the taken-over route changed: $(theirs "$OTHER")"
lab_wait 5 "two conflicts in status.json" conflicts_are 2 ||
  lab_fail "status.json route_conflicts: $(status_json '.daemon.route_conflicts')"
lab_log "2. taken over while running: theirs kept, ours back at metric 1"

# --- 3. the others go away: ours return to metric 0 -----------------------------------------
lab_exec chip ip route del "$MESH" proto static
lab_exec chip ip route del "$OTHER" proto static
for dest in "$MESH" "$OTHER"; do
  lab_wait 5 "ours to $dest at metric 0 alone" all_are "$dest" "177 0 unreachable -" ||
    lab_fail "routes to $dest: $(routes_to "$dest" | tr '\n' ';')"
done
lab_wait 5 "no conflict in status.json" conflicts_are 0 ||
  lab_fail "status.json route_conflicts: $(status_json '.daemon.route_conflicts')"
grep -q "routes: the other route to $MESH (proto static) is gone" "$MBLOG" || lab_fail "the end of the conflict was not logged"
lab_log "3. the others removed: ours back at metric 0, conflicts gone"

lab_stop "$MBPID"
lab_pass
