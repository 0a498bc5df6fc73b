#!/usr/bin/env bash
# Integration test: scripts/demo as a newcomer runs it, under a namespace prefix and output
# folder of its own. Brings the seed network up (real tincd, OpenVPN, babeld, meshbroker on
# four nodes), runs it a second time (idempotent), fails the active gateway over, and takes it
# all down; then nothing of it may be left.
#
#   demo_seed.sh /path/to/meshbroker
#
# Checks: `up` exits 0 twice and prints the seed traceroute (laptop -> chip 172.16.1.97 ->
# cometa 100.64.12.9 -> 10.65.2.8) and the mesh host's view of the laptop's own address; the
# status page of chip answers on this machine's loopback through the demo's forwarder; keys
# survive the rerun; `failover` moves chip's route to illimani and back; `down` leaves no
# namespace, interface or process, and a second `down` is fine.
set -euo pipefail

NAME=demo_seed
log() { printf '%s: %s\n' "$NAME" "$*" >&2; }
fail() { log "FAIL: $*"; exit 1; }
skip() { log "SKIP: $*"; exit 77; }

[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
MESHBROKER=$(readlink -f -- "$1")
[[ -x $MESHBROKER ]] || fail "$1 is not an executable"
[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, tun devices)"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshbroker-demo.XXXXXX")
export DEMO_OUT=$TMP/out DEMO_PREFIX="mbt$((RANDOM % 90000 + 10000))" DEMO_MESHBROKER=$MESHBROKER
# A free loopback port for the forwarded pages (4 in a row from here).
export DEMO_PORT=$((20000 + RANDOM % 20000))
demo() { "$ROOT/scripts/demo" "$@" >"$TMP/$1.out" 2>&1; }

OK=0
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [[ $OK -ne 1 ]]; then
    ((rc == 0)) && rc=1
    for f in "$TMP"/*.out; do [[ -s $f ]] && { echo "----- $f (last 40 lines) -----"; tail -n 40 -- "$f"; }; done
    for f in "$DEMO_OUT"/logs/meshbroker-*.log; do [[ -s $f ]] && { echo "----- $f (last 20 lines) -----"; tail -n 20 -- "$f"; }; done
  fi
  "$ROOT/scripts/demo" down >/dev/null 2>&1
  rm -rf -- "$TMP"
  if [[ $OK -eq 1 ]]; then log "PASS"; else log "FAIL (exit $rc)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

t0=$SECONDS
demo up || fail "scripts/demo exited $?"
grep -q '^Seed test: PASS$' "$TMP/up.out" || fail "no 'Seed test: PASS' in the output"
grep -Eq '^ +1 +172\.16\.1\.97 ' "$TMP/up.out" || fail "the traceroute's first hop is not chip"
grep -Eq '^ +2 +100\.64\.12\.9 ' "$TMP/up.out" || fail "the traceroute's second hop is not cometa"
grep -Eq '^ +3 +10\.65\.2\.8 ' "$TMP/up.out" || fail "the traceroute did not end at the mesh host"
grep -q 'the laptop.s own 172\.16\.1\.[0-9]*: routed, not NATed' "$TMP/up.out" ||
  fail "the mesh host's view of the laptop's address is missing"
log "1. up: seed traceroute through chip and cometa, no NAT ($((SECONDS - t0)) s)"

node=$(curl -sS --max-time 5 "http://127.0.0.1:$DEMO_PORT/api/v1/status" | jq -r .node) ||
  fail "chip's page is not forwarded to 127.0.0.1:$DEMO_PORT"
[[ $node == chip ]] || fail "127.0.0.1:$DEMO_PORT answers for \"$node\", not chip"
grep -q "http://127.0.0.1:$DEMO_PORT/" "$TMP/up.out" || fail "the URL of chip's page is not printed"
log "2. chip's status page answers on this machine's loopback (port $DEMO_PORT)"

key_before=$(sha256sum "$DEMO_OUT/chip/state/tinc/rsa_key.priv")
t1=$SECONDS
demo up || fail "a second scripts/demo exited $?"
grep -q '^Seed test: PASS$' "$TMP/up.out" || fail "the second run's seed test did not pass"
[[ $(sha256sum "$DEMO_OUT/chip/state/tinc/rsa_key.priv") == "$key_before" ]] ||
  fail "the rerun replaced chip's tinc key"
log "3. second up: PASS again, keys kept ($((SECONDS - t1)) s)"

demo failover || fail "scripts/demo failover exited $?"
grep -q "chip's route moved to illimani" "$TMP/failover.out" || fail "the route did not move to illimani"
grep -q "chip's route is back on cometa" "$TMP/failover.out" || fail "the route did not come back"
log "4. failover: $(grep -E "moved to|answered" "$TMP/failover.out" | tr -s ' ' | paste -sd ';')"

demo down || fail "scripts/demo down exited $?"
left=$(ip netns list | grep -- "^$DEMO_PREFIX-" || true)
[[ -z $left ]] || fail "namespaces left: $left"
left=$(ip -o link show | awk -F': ' '{ print $2 }' | grep -- "^$DEMO_PREFIX" || true)
[[ -z $left ]] || fail "interfaces left: $left"
left=$(pgrep -af -- "$DEMO_OUT/|ip netns exec $DEMO_PREFIX-" || true)
[[ -z $left ]] || fail "processes left: $left"
demo down || fail "a second scripts/demo down exited $?"
log "5. down: no namespace, interface or process left; down again is fine"
OK=1
