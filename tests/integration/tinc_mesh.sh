#!/usr/bin/env bash
# Integration test: two real tincd instances, configured only by `meshbroker render`, mesh up.
#
#   netns mb-chip-PID                                      netns mb-comegato-PID
#  +------------------------------+                       +------------------------------+
#  |  tincd (chip)                |                       |  tincd (comegato)            |
#  |   meshnet0  100.64.12.11/27  |== tinc, Mode=switch ==|   meshnet0  100.64.12.12/27  |
#  |        (tun/tap, tinc-up)    |   TCP+UDP port 655    |        (tun/tap, tinc-up)    |
#  |                              |                       |                              |
#  |   veth0     192.0.2.11/24  --+-----------------------+--  veth0     192.0.2.12/24   |
#  |   lo up                      |       veth pair       |   lo up                      |
#  +------------------------------+                       +------------------------------+
#
# Steps: copy examples/seed/{chip,comegato}.json into a temp folder with state/runtime paths
# moved there; keygen both; publish each rsa_key.pub as keys/<name>.pub; check; render -o;
# start tincd in each namespace; wait for the mesh; ping both ways; check tinc-up's address.
#
# Usage: tinc_mesh.sh /path/to/meshbroker
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, or tincd/ip/ping/tun/netns unavailable).
set -euo pipefail

readonly SKIP=77
log() { printf 'tinc_mesh: %s\n' "$*"; }
skip() { log "SKIP: $*"; exit "$SKIP"; }
fail() { log "FAIL: $*"; exit 1; }
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

if [[ $# -ne 1 ]]; then
  echo "usage: $0 /path/to/meshbroker" >&2
  exit 2
fi
MESHBROKER=$(readlink -f -- "$1") || fail "cannot resolve $1"
[[ -x $MESHBROKER ]] || fail "$1 is not an executable meshbroker binary"

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/../.." && pwd)
SEED="$ROOT/examples/seed"

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, tun devices)"
for tool in tincd ip ping; do
  command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
done
[[ -c /dev/net/tun ]] || skip "/dev/net/tun is missing"

readonly NODES=(chip comegato)
declare -A NS=([chip]="mb-chip-$$" [comegato]="mb-comegato-$$")
declare -A UNDERLAY=([chip]=192.0.2.11 [comegato]=192.0.2.12)
declare -A MESH=([chip]=100.64.12.11 [comegato]=100.64.12.12)
declare -A PEER=([chip]=comegato [comegato]=chip)
declare -A PID=()
readonly WAIT_SECONDS=20

TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshbroker-tinc-mesh.XXXXXX")
OK=0

show_logs() {
  local node
  for node in "${NODES[@]}"; do
    for f in "$TMP/$node.log" "$TMP/$node.out"; do
      if [[ -s $f ]]; then
        echo "----- $f -----"
        cat -- "$f"
      fi
    done
  done
  for node in "${NODES[@]}"; do
    if ip netns list 2>/dev/null | grep -qw -- "${NS[$node]}"; then
      echo "----- ip addr / route in ${NS[$node]} -----"
      ip -n "${NS[$node]}" addr show 2>&1 || true
      ip -n "${NS[$node]}" route show 2>&1 || true
    fi
  done
}

stop_tincd() {
  local node pid i
  for node in "${!PID[@]}"; do
    pid=${PID[$node]}
    kill -TERM "$pid" 2>/dev/null || continue
  done
  for node in "${!PID[@]}"; do
    pid=${PID[$node]}
    for ((i = 0; i < 50; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "tincd $node (pid $pid) ignored SIGTERM; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PID=()
}

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [[ $OK -ne 1 && $rc -ne $SKIP ]]; then
    show_logs
  fi
  stop_tincd
  local node
  for node in "${NODES[@]}"; do
    ip netns delete "${NS[$node]}" 2>/dev/null
  done
  if [[ -n ${TINC_MESH_KEEP:-} ]]; then
    log "keeping $TMP (TINC_MESH_KEEP is set)"
  else
    rm -rf -- "$TMP"
  fi
  if [[ $OK -eq 1 ]]; then
    log "PASS"
  elif [[ $rc -eq 0 ]]; then
    rc=1
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Copies a seed config, moving its state and runtime folders into $TMP/<node>/. A config with
# no "paths" object gets one, since the defaults point at /var/lib/meshbroker.
localize_config() {
  local node=$1 src="$SEED/$1.json" dst="$TMP/$1.json"
  local state="$TMP/$node/state" run="$TMP/$node/run"
  [[ -r $src ]] || fail "missing seed config $src"
  if grep -q '"paths"[[:space:]]*:' "$src"; then
    sed -e "s#/var/lib/meshbroker#$state#g" -e "s#/run/meshbroker#$run#g" "$src" >"$dst"
  else
    sed -e '$ s#^}[[:space:]]*$#  ,"paths": {"state_dir": "'"$state"'", "runtime_dir": "'"$run"'"}\n}#' \
      "$src" >"$dst"
  fi
  if grep -q -e '/var/lib/meshbroker' -e '/run/meshbroker' "$dst" ||
    ! grep -q "\"state_dir\": \"$state\"" "$dst"; then
    fail "could not move the paths of $src into $TMP"
  fi
}

log "temp folder $TMP"
mkdir -p "$TMP/keys"
for node in "${NODES[@]}"; do
  localize_config "$node"
done

for node in "${NODES[@]}"; do
  "$MESHBROKER" keygen -c "$TMP/$node.json" >"$TMP/$node.hostfile" 2>"$TMP/$node.keygen.err" ||
    { cat "$TMP/$node.keygen.err"; fail "keygen failed for $node"; }
  [[ -s $TMP/$node/state/tinc/rsa_key.priv ]] || fail "keygen wrote no private key for $node"
  perms=$(stat -c %a "$TMP/$node/state/tinc/rsa_key.priv")
  [[ $perms == 600 ]] || fail "private key of $node has mode $perms, expected 600"
  cp -- "$TMP/$node/state/tinc/rsa_key.pub" "$TMP/keys/$node.pub"
done

for node in "${NODES[@]}"; do
  "$MESHBROKER" check -c "$TMP/$node.json" || fail "check rejected $TMP/$node.json"
  "$MESHBROKER" render -c "$TMP/$node.json" -o "$TMP/$node/rendered" >"$TMP/$node.render.out" 2>&1 ||
    { cat "$TMP/$node.render.out"; fail "render failed for $node"; }
  conf="$TMP/$node/rendered/tinc"
  for f in tinc.conf tinc-up tinc-down "hosts/$node" "hosts/${PEER[$node]}"; do
    [[ -s $conf/$f ]] || fail "render did not write $conf/$f"
  done
  [[ -x $conf/tinc-up ]] || fail "$conf/tinc-up is not executable"
done

log "creating namespaces ${NS[chip]} and ${NS[comegato]}"
for node in "${NODES[@]}"; do
  ip netns add "${NS[$node]}" 2>"$TMP/netns.err" ||
    { cat "$TMP/netns.err"; skip "cannot create network namespaces here"; }
  ip -n "${NS[$node]}" link set lo up
done
ip -n "${NS[chip]}" link add veth0 type veth peer name veth0 netns "${NS[comegato]}" ||
  fail "cannot create the veth pair"
for node in "${NODES[@]}"; do
  ip -n "${NS[$node]}" addr add "${UNDERLAY[$node]}/24" dev veth0
  ip -n "${NS[$node]}" link set veth0 up
done
ip netns exec "${NS[chip]}" ping -c1 -W2 "${UNDERLAY[comegato]}" >/dev/null ||
  fail "the veth underlay does not work"

for node in "${NODES[@]}"; do
  # ip netns exec execs tincd in place, so $! is tincd's own PID.
  ip netns exec "${NS[$node]}" tincd -c "$TMP/$node/rendered/tinc" -D -d2 \
    --pidfile="$TMP/$node.pid" --logfile="$TMP/$node.log" \
    </dev/null >"$TMP/$node.out" 2>&1 &
  PID[$node]=$!
  log "started tincd for $node in ${NS[$node]} (pid ${PID[$node]})"
done

log "waiting up to ${WAIT_SECONDS}s for chip to reach ${MESH[comegato]} over the mesh"
start=$SECONDS
start_ms=$(now_ms)
until ip netns exec "${NS[chip]}" ping -c1 -W1 "${MESH[comegato]}" >/dev/null 2>&1; do
  for node in "${NODES[@]}"; do
    kill -0 "${PID[$node]}" 2>/dev/null || fail "tincd for $node exited early"
  done
  ((SECONDS - start < WAIT_SECONDS)) || fail "no ping over the mesh within ${WAIT_SECONDS}s"
  sleep 0.5
done
log "mesh up after $(($(now_ms) - start_ms)) ms"

for node in "${NODES[@]}"; do
  peer=${PEER[$node]}
  ip netns exec "${NS[$node]}" ping -c3 -i0.3 -W2 "${MESH[$peer]}" >"$TMP/ping.out" 2>&1 ||
    { cat "$TMP/ping.out"; fail "$node cannot ping $peer at ${MESH[$peer]}"; }
  log "$node -> $peer (${MESH[$peer]}): 3/3 pings answered"
done

addrs=$(ip -n "${NS[chip]}" -4 -o addr show dev meshnet0) || fail "no meshnet0 in ${NS[chip]}"
grep -q "inet ${MESH[chip]}/27 " <<<"$addrs" ||
  fail "tinc-up did not put ${MESH[chip]}/27 on meshnet0: $addrs"
ip -n "${NS[chip]}" link show dev meshnet0 | grep -q 'state UP\|,UP' ||
  fail "meshnet0 is not up in ${NS[chip]}"
log "chip's tinc-up configured ${MESH[chip]}/27 on meshnet0"

OK=1
