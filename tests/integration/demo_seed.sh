#!/usr/bin/env bash
# Integration test: scripts/demo as a newcomer runs it, under a namespace prefix and output
# folder of its own. Brings the seed network up (lab/seed.sh: real tincd, OpenVPN, babeld,
# meshbroker on four nodes), runs it a second time (idempotent), fails the active gateway over,
# and takes it all down; then nothing of it may be left.
#
#   demo_seed.sh /path/to/meshbroker
#
# Checks: `up` exits 0 twice and prints the seed traceroute (laptop -> chip 172.16.1.97 ->
# cometa 100.64.12.9 -> 10.65.2.8) and the mesh host's view of the laptop's own address; the
# status page of chip answers on this machine's loopback through the demo's forwarder; keys
# survive the rerun; `failover` moves chip's route to illimani and back; `down` leaves no
# namespace, interface or process, and a second `down` is fine.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../../lab/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/core.sh"

[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
lab_binary MESHBROKER "$1"
lab_init --test demo_seed
lab_need_tun
# What the demo runs: missing, it would install it (ensure_packages); here that is a skip.
lab_need tincd openvpn babeld traceroute socat jq curl nft ping ss pgrep

export DEMO_OUT=$LAB_TMP/out DEMO_PREFIX="mbt$((RANDOM % 90000 + 10000))" DEMO_MESHBROKER=$MESHBROKER
# A free loopback port for the forwarded pages (4 in a row from here).
export DEMO_PORT=$((20000 + RANDOM % 20000))
# Each command's output in $LAB_TMP/COMMAND.log (lab_cleanup shows them after a failure).
demo() { "$LAB_ROOT/scripts/demo" "$@" >"$LAB_TMP/$1.log" 2>&1; }

# shellcheck disable=SC2317  # run by lab_cleanup
demo_seed_cleanup() {
  local f
  if ((!LAB_OK)); then
    for f in "$DEMO_OUT"/logs/meshbroker-*.log; do
      [[ -s $f ]] || continue
      echo "----- $f (last 40 lines) -----" >&2
      tail -n 40 -- "$f" >&2
    done
  fi
  "$LAB_ROOT/scripts/demo" down >/dev/null 2>&1
}
lab_on_cleanup demo_seed_cleanup

t0=$SECONDS
demo up || lab_fail "scripts/demo exited $?"
grep -q '^Seed test: PASS$' "$LAB_TMP/up.log" || lab_fail "no 'Seed test: PASS' in the output"
grep -Eq '^ +1 +172\.16\.1\.97 ' "$LAB_TMP/up.log" || lab_fail "the traceroute's first hop is not chip"
grep -Eq '^ +2 +100\.64\.12\.9 ' "$LAB_TMP/up.log" || lab_fail "the traceroute's second hop is not cometa"
grep -Eq '^ +3 +10\.65\.2\.8 ' "$LAB_TMP/up.log" || lab_fail "the traceroute did not end at the mesh host"
grep -q 'the laptop.s own 172\.16\.1\.[0-9]*: routed, not NATed' "$LAB_TMP/up.log" ||
  lab_fail "the mesh host's view of the laptop's address is missing"
lab_log "1. up: seed traceroute through chip and cometa, no NAT ($((SECONDS - t0)) s)"

page_node() { curl -sS --max-time 5 "http://127.0.0.1:$DEMO_PORT/api/v1/status" | jq -r .node; }
# shellcheck disable=SC2317  # run by lab_wait
page_is_chip() { [[ $(page_node) == chip ]]; }
lab_wait 10 "chip's page on 127.0.0.1:$DEMO_PORT" page_is_chip ||
  lab_fail "127.0.0.1:$DEMO_PORT does not answer for chip (answers: \"$(page_node 2>&1)\")"
grep -q "http://127.0.0.1:$DEMO_PORT/" "$LAB_TMP/up.log" || lab_fail "the URL of chip's page is not printed"
lab_log "2. chip's status page answers on this machine's loopback (port $DEMO_PORT)"

key_before=$(sha256sum "$DEMO_OUT/chip/state/tinc/rsa_key.priv")
t1=$SECONDS
demo up || lab_fail "a second scripts/demo exited $?"
grep -q '^Seed test: PASS$' "$LAB_TMP/up.log" || lab_fail "the second run's seed test did not pass"
[[ $(sha256sum "$DEMO_OUT/chip/state/tinc/rsa_key.priv") == "$key_before" ]] ||
  lab_fail "the rerun replaced chip's tinc key"
lab_log "3. second up: PASS again, keys kept ($((SECONDS - t1)) s)"

demo failover || lab_fail "scripts/demo failover exited $?"
grep -q "chip's route moved to illimani" "$LAB_TMP/failover.log" || lab_fail "the route did not move to illimani"
grep -q "chip's route is back on cometa" "$LAB_TMP/failover.log" || lab_fail "the route did not come back"
lab_log "4. failover: $(grep -E "moved to|answered" "$LAB_TMP/failover.log" | tr -s ' ' | paste -sd ';')"

demo down || lab_fail "scripts/demo down exited $?"
left=$(ip netns list | grep -- "^$DEMO_PREFIX-" || true)
[[ -z $left ]] || lab_fail "namespaces left: $left"
left=$(ip -o link show | awk -F': ' '{ print $2 }' | grep -- "^$DEMO_PREFIX" || true)
[[ -z $left ]] || lab_fail "interfaces left: $left"
left=$(pgrep -af -- "$DEMO_OUT/|ip netns exec $DEMO_PREFIX-" || true)
[[ -z $left ]] || lab_fail "processes left: $left"
demo down || lab_fail "a second scripts/demo down exited $?"
lab_log "5. down: no namespace, interface or process left; down again is fine"
lab_pass
