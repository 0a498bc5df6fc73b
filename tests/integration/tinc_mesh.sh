#!/usr/bin/env bash
# Integration test: two real tincd instances, configured only by `meshbroker render`, mesh up.
#
#   netns mb-chip-PID                                      netns mb-comegato-PID
#  +------------------------------+                       +------------------------------+
#  |  tincd (chip)                |                       |  tincd (comegato)            |
#  |   meshnet0  100.64.12.11/27  |== tinc, Mode=switch ==|   meshnet0  100.64.12.12/27  |
#  |        (tap, tinc-up)        |   TCP+UDP port 655    |        (tap, tinc-up)        |
#  |   veth0     192.0.2.11/24  --+-----------------------+--  veth0     192.0.2.12/24   |
#  +------------------------------+                       +------------------------------+
#
# Steps: the seed configs of chip and comegato with state/runtime paths moved into a temp
# folder; keygen both (private key 0600); publish each public key as keys/<name>.pub; check;
# render -o; start tincd by hand in each namespace from the rendered folder (no daemon); ping
# both ways over the mesh; check that tinc-up put the address and the stable MAC on meshnet0.
#
# Usage: tinc_mesh.sh /path/to/meshbroker   (exit 77: not root or tools missing)
set -euo pipefail
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
mb_init tinc_mesh "$@"

declare -A PEER=([chip]=comegato [comegato]=chip)
for node in chip comegato; do mb_config "$node"; done
mb_keys chip comegato
for node in chip comegato; do
  perms=$(stat -c %a "$TMP/$node/state/tinc/rsa_key.priv")
  [[ $perms == 600 ]] || mb_fail "private key of $node has mode $perms, expected 600"
  "$MESHBROKER" check -c "$TMP/$node.json" 2>"$TMP/$node.log" || mb_fail "check rejected $node"
  "$MESHBROKER" render -c "$TMP/$node.json" -o "$TMP/$node/rendered" >>"$TMP/$node.log" 2>&1 ||
    mb_fail "render failed for $node"
  for f in tinc.conf tinc-up tinc-down "hosts/$node" "hosts/${PEER[$node]}"; do
    [[ -s $TMP/$node/rendered/tinc/$f ]] || mb_fail "render did not write tinc/$f for $node"
  done
  [[ -x $TMP/$node/rendered/tinc/tinc-up ]] || mb_fail "tinc-up of $node is not executable"
done

mb_underlay chip comegato
mb_ping chip "${UNDERLAY[comegato]}" >/dev/null || mb_fail "the veth underlay does not work"
for node in chip comegato; do
  # ip netns exec execs tincd in place, so $! is tincd's own PID.
  ip netns exec "${NS[$node]}" tincd -c "$TMP/$node/rendered/tinc" -D -d2 \
    --pidfile="$TMP/$node.pid" </dev/null >>"$TMP/$node.log" 2>&1 &
  MB_PIDS+=("$!")
done

start=$(mb_now_ms)
mb_wait 20 "chip to reach comegato over the mesh" mb_ping chip "${MESH[comegato]}"
mb_log "mesh up after $(($(mb_now_ms) - start)) ms"
for node in chip comegato; do
  peer=${PEER[$node]}
  ip netns exec "${NS[$node]}" ping -c3 -i0.3 -W2 "${MESH[$peer]}" >"$TMP/ping.log" 2>&1 ||
    { cat "$TMP/ping.log"; mb_fail "$node cannot ping $peer"; }
  mb_log "$node -> $peer (${MESH[$peer]}): 3/3 pings answered"
done

link=$(ip -n "${NS[chip]}" -o link show dev meshnet0)
addrs=$(ip -n "${NS[chip]}" -4 -o addr show dev meshnet0)
grep -q "inet ${MESH[chip]}/27 " <<<"$addrs" || mb_fail "tinc-up did not set ${MESH[chip]}/27: $addrs"
grep -q 'link/ether 02:00:64:40:0c:0b' <<<"$link" || mb_fail "meshnet0 lacks its stable MAC: $link"
grep -q ',UP' <<<"$link" || mb_fail "meshnet0 is not up"
mb_log "chip's tinc-up set ${MESH[chip]}/27 and MAC 02:00:64:40:0c:0b on meshnet0"
MB_OK=1
