#!/usr/bin/env bash
# Integration test: meshbroker on a gateway router (cometa) keeps the route back to the
# server's OpenVPN client subnets only while that server (chip) answers over the mesh, so the
# mesh's routing protocol withdraws it and return traffic takes another gateway. Real tincd in
# the namespace lab of bench/lab/lab.sh.
#
#   gateway_role.sh /path/to/meshbroker
#
# Checks: with chip up, cometa has 172.16.1.64/27 and 172.16.1.96/27 via 100.64.12.11, proto
# 177 (tinc-up installs them, meshbroker confirms them); chip's tincd stopped: both withdrawn
# within 2 s; chip back: both back after up_after replies; no route of another protocol is
# touched (a `proto static` route stays).
set -euo pipefail

NAME=gateway_role
log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }

[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
MESHBROKER=$(readlink -f -- "$1")
[[ -x $MESHBROKER ]] || fail "$1 is not an executable"
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, tun devices)"
for tool in ip tincd jq ping setsid; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"

export MESHBROKER
# shellcheck source-path=SCRIPTDIR source=../../bench/lab/lab.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../bench/lab/lab.sh"

OK=0
cleanup() {
  local rc=$? f
  set +e
  trap - EXIT INT TERM
  if [[ $OK -ne 1 ]]; then
    ((rc == 0)) && rc=1
    for f in "$LAB_TMP"/meshbroker*.log; do
      [[ -s $f ]] && { echo "----- $f (last 60 lines) -----"; tail -n 60 -- "$f"; }
    done
  fi
  lab_down
  if [[ $OK -eq 1 ]]; then log "PASS"; else log "FAIL (exit $rc)"; fi
  exit "$rc"
}
lab_init "$NAME"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lab_up
CHIP=${LAB_MESH[chip]}
# cometa's routes with our protocol, as "PREFIX via GW" lines.
ours() { lab_exec cometa ip -o route show proto 177 | awk '{ print $1, $2, $3 }' | sort; }
have_both() {
  [[ $(ours) == "172.16.1.64/27 via $CHIP"$'\n'"172.16.1.96/27 via $CHIP" ]]
}
have_none() { [[ -z $(ours | grep 172.16.1. || true) ]]; }

# meshbroker takes over cometa's tincd (the lab started one by hand).
cfg=$LAB_TMP/cometa-gw.json
lab_config cometa "$cfg" '.health.interval_ms = 100' '.health.up_after = 5' \
  '.routing.resync_ms = 1000'
lab_tinc_stop cometa
lab_spawn cometa meshbroker-cometa "$MESHBROKER" run -c "$cfg"
lab_wait 20 "cometa's routes back to chip's clients (proto 177)" have_both ||
  fail "no routes back to chip's client subnets: $(ours | tr '\n' ';')"
log "routes back installed: $(ours | tr '\n' ';')"
lab_wait 10 "meshbroker's verdict on chip" bash -c \
  "jq -e '.health.peers.chip.verdict == \"up\"' '$LAB_TMP/cometa/run/status.json' >/dev/null" ||
  fail "chip is not up in cometa's status.json"
# A route of another protocol that must survive everything below.
lab_exec cometa ip route add 172.16.1.160/27 via "$CHIP" dev meshnet0 proto static

# chip's tincd stops: the server is unreachable over the mesh.
t0=$(lab_ms_int)
lab_tinc_stop chip
lab_wait 3 "routes back withdrawn" have_none || fail "routes back still there: $(ours | tr '\n' ';')"
log "routes back withdrawn $(($(lab_ms_int) - t0)) ms after chip's tincd stopped"
[[ -n $(lab_exec cometa ip route show proto static 172.16.1.160/27) ]] ||
  fail "a route of another protocol was touched"

# chip back.
lab_tinc_start chip
lab_redial
t0=$(lab_ms_int)
lab_wait 20 "routes back again" have_both || fail "routes back did not return: $(ours | tr '\n' ';')"
log "routes back restored $(($(lab_ms_int) - t0)) ms after chip's tincd started again"
jq -e '.health.events | map(.what) | any(test("chip icmp: up -> down"))' \
  "$LAB_TMP/cometa/run/status.json" >/dev/null || fail "status.json has no event for chip going down"
[[ -n $(lab_exec cometa ip route show proto static 172.16.1.160/27) ]] ||
  fail "a route of another protocol was touched"
OK=1
