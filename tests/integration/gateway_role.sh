#!/usr/bin/env bash
# Integration test: meshbroker on a gateway router (cometa) keeps the route back to the
# server's OpenVPN client subnets only while that server (chip) answers over the mesh, so the
# mesh's routing protocol withdraws it and return traffic takes another gateway. Real tincd in
# the namespace lab of lab/failover.sh.
#
#   gateway_role.sh /path/to/meshbroker [--emulated]
#
# --emulated: the binary is another architecture's (scripts/cross), run by qemu-user through
# binfmt_misc (registered here when missing): correctness only, every wait 10 times as long.
#
# Checks: with chip up, cometa has 172.16.1.64/27 and 172.16.1.96/27 via 100.64.12.11, proto
# 177 (tinc-up installs them, meshbroker confirms them); chip's tincd stopped: both withdrawn
# within 2 s; chip back: both back after up_after replies; no route of another protocol is
# touched (a `proto static` route stays).
set -euo pipefail

# shellcheck source=../../lab/failover.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/failover.sh"
[[ $# -ge 1 && ($# -eq 1 || $2 == --emulated) ]] ||
  { echo "usage: $0 /path/to/meshbroker [--emulated]" >&2; exit 2; }
lab_binary MESHBROKER "$1"
SLOW=1
if [[ ${2-} == --emulated ]]; then
  SLOW=10
  lab_binfmt "$MESHBROKER"
fi
fo_init --test gateway_role
# The lab's keys and tinc files (every node's, chip's server config too) come from this
# machine's full build: the binary under test may be a gateway-only build, and it renders
# cometa's files itself when it runs.
# MESHBROKER_SETUP_BIN: that build (default build/meshbroker beside this checkout).
setup=${MESHBROKER_SETUP_BIN:-$LAB_ROOT/build/meshbroker}
if [[ -x $setup ]]; then
  lab_binary FO_SETUP_MESHBROKER "$setup"
elif [[ $("$MESHBROKER" --version 2>/dev/null) == *"gateway only"* ]]; then
  lab_fail "$MESHBROKER is a gateway-only build; the lab needs a full one for chip's files ($setup)"
fi
[[ -n ${LAB_EMULATED-} ]] && lab_log "cometa's meshbroker is a $LAB_EMULATED program, run by qemu-$LAB_EMULATED"

fo_up
CHIP=${FO_MESH[chip]}
# cometa's routes with our protocol, as "PREFIX via GW" lines.
ours() { lab_exec cometa ip -o route show proto 177 | awk '{ print $1, $2, $3 }' | sort; }
have_both() {
  [[ $(ours) == "172.16.1.64/27 via $CHIP"$'\n'"172.16.1.96/27 via $CHIP" ]]
}
have_none() { [[ -z $(ours | grep 172.16.1. || true) ]]; }

# meshbroker takes over cometa's tincd (the lab started one by hand).
cfg=$LAB_TMP/cometa-gw.json
fo_config cometa "$cfg" '.health.interval_ms = 100' '.health.up_after = 5' \
  '.routing.resync_ms = 1000'
fo_tinc_stop cometa
lab_spawn cometa meshbroker-cometa "$MESHBROKER" run -c "$cfg"
lab_wait $((20 * SLOW)) "cometa's routes back to chip's clients (proto 177)" have_both ||
  lab_fail "no routes back to chip's client subnets: $(ours | tr '\n' ';')"
lab_log "routes back installed: $(ours | tr '\n' ';')"
lab_wait $((10 * SLOW)) "meshbroker's verdict on chip" bash -c \
  "jq -e 'any(.gateways[]; .name == \"chip\" and .verdict == \"up\")' '$LAB_TMP/cometa/run/status.json' >/dev/null" ||
  lab_fail "chip is not up in cometa's status.json"
# A route of another protocol that must survive everything below.
lab_exec cometa ip route add 172.16.1.160/27 via "$CHIP" dev meshnet0 proto static

# chip's tincd stops: the server is unreachable over the mesh.
t0=$(lab_ms)
fo_tinc_stop chip
lab_wait $((3 * SLOW)) "routes back withdrawn" have_none || lab_fail "routes back still there: $(ours | tr '\n' ';')"
lab_log "routes back withdrawn $(($(lab_ms) - t0)) ms after chip's tincd stopped"
[[ -n $(lab_exec cometa ip route show proto static 172.16.1.160/27) ]] ||
  lab_fail "a route of another protocol was touched"

# chip back.
fo_tinc_start chip
fo_redial
t0=$(lab_ms)
lab_wait $((20 * SLOW)) "routes back again" have_both || lab_fail "routes back did not return: $(ours | tr '\n' ';')"
lab_log "routes back restored $(($(lab_ms) - t0)) ms after chip's tincd started again"
jq -e '[.events[] | select(.source == "health") | .what] | any(test("chip icmp: up -> down"))' \
  "$LAB_TMP/cometa/run/status.json" >/dev/null || lab_fail "status.json has no event for chip going down"
[[ -n $(lab_exec cometa ip route show proto static 172.16.1.160/27) ]] ||
  lab_fail "a route of another protocol was touched"
lab_pass
