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
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test tinc_mesh "$@"

declare -A PEER=([chip]=comegato [comegato]=chip)
for node in chip comegato; do pair_config "$node"; done
pair_keys chip comegato
for node in chip comegato; do
  perms=$(stat -c %a "$LAB_TMP/$node/state/tinc/rsa_key.priv")
  [[ $perms == 600 ]] || lab_fail "private key of $node has mode $perms, expected 600"
  "$MESHBROKER" check -c "$LAB_TMP/$node.json" 2>"$LAB_TMP/$node.log" || lab_fail "check rejected $node"
  "$MESHBROKER" render -c "$LAB_TMP/$node.json" -o "$LAB_TMP/$node/rendered" >>"$LAB_TMP/$node.log" 2>&1 ||
    lab_fail "render failed for $node"
  for f in tinc.conf tinc-up tinc-down "hosts/$node" "hosts/${PEER[$node]}"; do
    [[ -s $LAB_TMP/$node/rendered/tinc/$f ]] || lab_fail "render did not write tinc/$f for $node"
  done
  [[ -x $LAB_TMP/$node/rendered/tinc/tinc-up ]] || lab_fail "tinc-up of $node is not executable"
done

pair_underlay chip comegato
lab_ping chip "${PAIR_UNDERLAY[comegato]}" >/dev/null || lab_fail "the veth underlay does not work"
for node in chip comegato; do
  # ip netns exec execs tincd in place, so $! is tincd's own PID.
  ip netns exec "${LAB_NS[$node]}" tincd -c "$LAB_TMP/$node/rendered/tinc" -D -d2 \
    --pidfile="$LAB_TMP/$node.pid" </dev/null >>"$LAB_TMP/$node.log" 2>&1 &
  LAB_PIDS+=("$!")
done

start=$(lab_ms)
lab_expect 20 "chip to reach comegato over the mesh" lab_ping chip "${PAIR_MESH[comegato]}"
lab_log "mesh up after $(($(lab_ms) - start)) ms"
for node in chip comegato; do
  peer=${PEER[$node]}
  ip netns exec "${LAB_NS[$node]}" ping -c3 -i0.3 -W2 "${PAIR_MESH[$peer]}" >"$LAB_TMP/ping.log" 2>&1 ||
    { cat "$LAB_TMP/ping.log"; lab_fail "$node cannot ping $peer"; }
  lab_log "$node -> $peer (${PAIR_MESH[$peer]}): 3/3 pings answered"
done

link=$(ip -n "${LAB_NS[chip]}" -o link show dev meshnet0)
addrs=$(ip -n "${LAB_NS[chip]}" -4 -o addr show dev meshnet0)
grep -q "inet ${PAIR_MESH[chip]}/27 " <<<"$addrs" || lab_fail "tinc-up did not set ${PAIR_MESH[chip]}/27: $addrs"
grep -q 'link/ether 02:00:64:40:0c:0b' <<<"$link" || lab_fail "meshnet0 lacks its stable MAC: $link"
grep -q ',UP' <<<"$link" || lab_fail "meshnet0 is not up"
lab_log "chip's tinc-up set ${PAIR_MESH[chip]}/27 and MAC 02:00:64:40:0c:0b on meshnet0"
lab_pass
