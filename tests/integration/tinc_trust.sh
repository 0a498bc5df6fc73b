#!/usr/bin/env bash
# Integration test (issue 18, findings 4 and 8): in the tinc mesh (Mode = switch) a node can
# only be who it is. A gateway router is a volunteer's machine: here illimani is the attacker,
# with root on it and its own tinc files in hand. Real tincd in the lab of lab/failover.sh,
# configured only by `meshbroker render` (StrictSubnets, one `Subnet = MAC` per host file,
# permanent neighbours).
#
#                 chip (server) 100.64.12.11  02:00:64:40:0c:0b
#                   /                 \            tinc, switch mode, over the "Internet"
#   cometa (gateway) 100.64.12.9       illimani (gateway, THE ATTACKER) 100.64.12.10
#       02:00:64:40:0c:09                  02:00:64:40:0c:0a
#
# The attack, as the router's owner can do it: write `Subnet = VICTIM_MAC#1` into its own host
# file (weight 1 beats the victim's 10) and restart tincd, so its tincd claims the victim's MAC
# to every node; set its tap's MAC to the victim's and add the victim's mesh IP (its tincd then
# also learns and advertises that MAC, and the kernel sends gratuitous ARP for the IP).
# nftables counters on the taps (netdev ingress: every frame tincd hands the node) count what
# each node receives.
#
# Checks:
#   1. the mesh works with StrictSubnets: pings server <-> gateways both ways, gateway ->
#      gateway (no host file of each other: flooded); neighbour entries are PERMANENT.
#   2. illimani spoofs chip: cometa's tincd logs the claim and ignores it; 20 pings cometa ->
#      chip all answered by chip (its counter sees them), illimani receives no frame for chip's
#      MAC. A gratuitous ARP "chip's IP is at another MAC" reaches cometa and leaves its entry
#      for chip as it was; the same ARP does move a `nud stale` entry (why it is permanent now).
#      IPv6 likewise: illimani takes chip's IPv6 mesh address and sends unsolicited neighbour
#      advertisements (override flag) for it; cometa's entry stays at chip's MAC, PERMANENT,
#      while the same advertisement moves a `nud stale` entry (control).
#   3. illimani spoofs cometa (to answer chip's health probes for it): with cometa up, chip's
#      pings reach cometa only; with cometa's tincd stopped, no ping to its address is
#      answered, and illimani received none.
#   4. control: the same spoof against a chip whose tinc.conf lacks StrictSubnets captures the
#      probes (illimani answers for the dead cometa, its counter moves), so the counters above
#      could see a capture.
#   5. finding 8: cometa's key file on chip replaced by garbage: `meshbroker check` passes with
#      a warning naming the field, `meshbroker run` on chip starts, reaches illimani, and only
#      cometa is refused.
#
#   tinc_trust.sh /path/to/meshbroker   (exit 77: not root or tools missing)
set -euo pipefail

# shellcheck source=../../lab/failover.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/failover.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
MESHBROKER=$(readlink -f -- "$1")
[[ -x $MESHBROKER ]] || lab_fail "$1 is not an executable"
fo_init --test tinc_trust

declare -A MAC=([chip]=02:00:64:40:0c:0b [cometa]=02:00:64:40:0c:09 [illimani]=02:00:64:40:0c:0a)
# How tincd 1.0 writes a MAC subnet in its log (%x, with the weight).
declare -A TINC_MAC=([chip]=2:0:64:40:c:b [cometa]=2:0:64:40:c:9)
rendered() { echo "$LAB_TMP/$1/rendered/tinc"; }  # NODE's tinc folder (fo_configs renders it)

fo_up

# --- 1. the mesh works, and the rendered files are strict ----------------------------------
for node in chip cometa illimani; do
  grep -qx 'StrictSubnets = yes' "$(rendered "$node")/tinc.conf" ||
    lab_fail "$node's tinc.conf has no StrictSubnets = yes"
  grep -qx "Subnet = ${MAC[$node]}" "$(rendered "$node")/hosts/$node" ||
    lab_fail "$node's host file does not pin its MAC"
  grep -qx 'MACLength = 16' "$(rendered "$node")/hosts/$node" ||
    lab_fail "$node's host file has no MACLength = 16"
done
for gw in cometa illimani; do
  lab_exec "$gw" ping -n -c3 -i0.2 -W2 "${FO_MESH[chip]}" >/dev/null || lab_fail "$gw cannot ping chip"
  lab_exec chip ping -n -c3 -i0.2 -W2 "${FO_MESH[$gw]}" >/dev/null || lab_fail "chip cannot ping $gw"
  neigh=$(lab_exec chip ip neigh show "${FO_MESH[$gw]}" dev meshnet0)
  [[ $neigh == *"lladdr ${MAC[$gw]} PERMANENT"* ]] || lab_fail "chip's entry for $gw is not permanent: $neigh"
done
lab_exec cometa ping -n -c3 -i0.2 -W2 "${FO_MESH[illimani]}" >/dev/null ||
  lab_fail "cometa cannot ping illimani (a MAC no host file here pins is flooded, not lost)"
lab_log "mesh up with StrictSubnets: chip <-> cometa, chip <-> illimani, cometa -> illimani"

# --- helpers ---------------------------------------------------------------------------------

# spy NODE MAC SRC DST: counters on NODE's tap: "frames" for MAC, "echoes" from SRC to DST.
spy() {
  local node=$1 mac=$2 src=$3 dst=$4
  lab_exec "$node" nft delete table netdev spy 2>/dev/null || true
  lab_exec "$node" nft -f - <<EOF || lab_fail "cannot add the counters on $node"
table netdev spy {
  counter frames {}
  counter echoes {}
  counter claims {}
  chain in {
    type filter hook ingress device "meshnet0" priority 0;
    ether daddr $mac counter name frames
    ip saddr $src ip daddr $dst icmp type echo-request counter name echoes
    arp saddr ip $dst counter name claims
  }
}
EOF
}
count() {  # NODE COUNTER
  lab_exec "$1" nft -j list counter netdev spy "$2" | jq -e '.nftables[] | select(.counter) | .counter.packets'
}

arp_above() { (($(count cometa claims) > $1)); }
chip_entry_is() { lab_exec cometa ip neigh show "${FO_MESH[chip]}" dev meshnet0 | grep -q "lladdr $1 "; }
cometa_gone() { ! lab_ping chip "${FO_MESH[cometa]}"; }

cp -- "$(rendered illimani)/hosts/illimani" "$LAB_TMP/illimani.host"

# attack VICTIM: illimani claims VICTIM's MAC and IP (see the top).
attack() {
  local victim=$1 hosts
  hosts=$(rendered illimani)/hosts
  cp -- "$LAB_TMP/illimani.host" "$hosts/illimani"
  echo "Subnet = ${MAC[$victim]}#1" >>"$hosts/illimani"
  fo_tinc_stop illimani
  fo_tinc_start illimani
  lab_expect 20 "illimani back in the mesh" lab_ping chip "${FO_MESH[illimani]}"
  lab_sysctl illimani net.ipv4.conf.meshnet0.arp_notify=1
  lab_exec illimani ip addr add "${FO_MESH[$victim]}/32" dev meshnet0
  lab_exec illimani ip link set dev meshnet0 address "${MAC[$victim]}"
  lab_log "illimani now claims ${MAC[$victim]}#1 in its host file, on its tap, and ${FO_MESH[$victim]}"
}

# pings FROM TO N: how many of N pings were answered.
pings() {
  lab_exec "$1" ping -n -c "$3" -i 0.05 -W 1 "$2" 2>/dev/null |
    awk '/packets transmitted/ { print $4 }' || true
}

# --- 2. illimani spoofs the server -----------------------------------------------------------
attack chip
spy illimani "${MAC[chip]}" "${FO_MESH[cometa]}" "${FO_MESH[chip]}"
spy chip "${MAC[chip]}" "${FO_MESH[cometa]}" "${FO_MESH[chip]}"
# The claim reached cometa (forwarded by chip) and was ignored there.
lab_expect 10 "cometa's tincd ignoring illimani's claim on chip's MAC" \
  grep -q "Ignoring unauthorized ADD_SUBNET.*: ${TINC_MAC[chip]}#1" "$LAB_TMP/tincd-cometa.log"
got=$(pings cometa "${FO_MESH[chip]}" 20)
[[ $got == 20 ]] || lab_fail "cometa -> chip: $got of 20 pings answered while illimani spoofs chip"
[[ $(count chip echoes) -ge 20 ]] || lab_fail "chip received $(count chip echoes) of cometa's 20 pings"
[[ $(count illimani frames) == 0 && $(count illimani echoes) == 0 ]] ||
  lab_fail "illimani received $(count illimani frames) frames for chip's MAC ($(count illimani echoes) of cometa's pings)"
lab_log "illimani spoofing chip: cometa -> chip 20/20, chip received them, illimani 0 frames"

# ARP: "chip's IP is at 02:00:de:ad:be:ef", from illimani (which holds chip's IP now).
spy cometa "${MAC[chip]}" "${FO_MESH[chip]}" "${FO_MESH[chip]}"
lab_exec illimani ip link set dev meshnet0 address 02:00:de:ad:be:ef
lab_expect 5 "the gratuitous ARP reaching cometa" arp_above 0
sleep 0.2
neigh=$(lab_exec cometa ip neigh show "${FO_MESH[chip]}" dev meshnet0)
[[ $neigh == *"lladdr ${MAC[chip]} PERMANENT"* ]] || lab_fail "cometa's entry for chip moved: $neigh"
# The same ARP against the entry tinc-up used to write (nud stale) does move it.
lab_exec cometa ip neigh replace "${FO_MESH[chip]}" lladdr "${MAC[chip]}" dev meshnet0 nud stale
sleep 1.2  # past the entry's locktime (1 s), so nothing but its state decides
before=$(count cometa claims)
lab_exec illimani ip link set dev meshnet0 address 02:00:de:ad:be:ee
lab_expect 5 "the second gratuitous ARP reaching cometa" arp_above "$before"
lab_expect 2 "a stale entry poisoned by the ARP (control)" chip_entry_is 02:00:de:ad:be:ee
lab_exec cometa ip neigh replace "${FO_MESH[chip]}" lladdr "${MAC[chip]}" dev meshnet0 nud permanent
lab_log "gratuitous ARP for chip's IP: a permanent entry stays, a stale one is poisoned (control)"

# NDP: illimani holds chip's IPv6 mesh address too, and on every MAC change its kernel sends an
# unsolicited neighbour advertisement for it with the override flag (ndisc_notify), to all
# nodes: what a gateway claiming a server's IPv6 address sends.
lab_exec cometa nft -f - <<EOF || lab_fail "cannot add the NA counter on cometa"
table netdev spy6 {
  counter adverts {}
  chain in {
    type filter hook ingress device "meshnet0" priority 0;
    icmpv6 type nd-neighbor-advert counter name adverts
  }
}
EOF
adverts() { lab_exec cometa nft -j list counter netdev spy6 adverts | jq -e '.nftables[] | select(.counter) | .counter.packets'; }
na_above() { (($(adverts) > $1)); }
chip6_entry_is() { lab_exec cometa ip -6 neigh show "${FO_MESH6[chip]}" dev meshnet0 | grep -q "lladdr $1 "; }
lab_sysctl illimani net.ipv6.conf.meshnet0.ndisc_notify=1
lab_exec illimani ip -6 addr add "${FO_MESH6[chip]}/128" dev meshnet0 nodad
before=$(adverts)
lab_exec illimani ip link set dev meshnet0 address 02:00:de:ad:be:ed
lab_expect 5 "the neighbour advertisement reaching cometa" na_above "$before"
sleep 0.2
neigh=$(lab_exec cometa ip -6 neigh show "${FO_MESH6[chip]}" dev meshnet0)
[[ $neigh == *"lladdr ${MAC[chip]} PERMANENT"* ]] || lab_fail "cometa's IPv6 entry for chip moved: $neigh"
lab_exec cometa ping -n -c 3 -i 0.2 -W 1 "${FO_MESH6[chip]}" >/dev/null ||
  lab_fail "cometa cannot ping chip's IPv6 address while illimani claims it"
# Control: the same advertisement moves an entry that is only stale.
lab_exec cometa ip -6 neigh replace "${FO_MESH6[chip]}" lladdr "${MAC[chip]}" dev meshnet0 nud stale
before=$(adverts)
lab_exec illimani ip link set dev meshnet0 address 02:00:de:ad:be:ec
lab_expect 5 "the second neighbour advertisement reaching cometa" na_above "$before"
lab_expect 2 "a stale IPv6 entry poisoned by the advertisement (control)" chip6_entry_is 02:00:de:ad:be:ec
lab_exec cometa ip -6 neigh replace "${FO_MESH6[chip]}" lladdr "${MAC[chip]}" dev meshnet0 nud permanent
lab_exec illimani ip -6 addr del "${FO_MESH6[chip]}/128" dev meshnet0
lab_exec cometa nft delete table netdev spy6
lab_log "neighbour advertisement for chip's IPv6 address: a permanent entry stays (cometa still reaches chip), a stale one is poisoned (control)"

# --- 3. illimani spoofs a gateway, to answer chip's health probes for it ---------------------
attack cometa
spy illimani "${MAC[cometa]}" "${FO_MESH[chip]}" "${FO_MESH[cometa]}"
spy cometa "${MAC[cometa]}" "${FO_MESH[chip]}" "${FO_MESH[cometa]}"
lab_expect 10 "chip's tincd ignoring illimani's claim on cometa's MAC" \
  grep -q "Ignoring unauthorized ADD_SUBNET from illimani .*: ${TINC_MAC[cometa]}#1" "$LAB_TMP/tincd-chip.log"
got=$(pings chip "${FO_MESH[cometa]}" 20)
[[ $got == 20 ]] || lab_fail "chip -> cometa: $got of 20 probes answered while illimani spoofs cometa"
[[ $(count cometa echoes) -ge 20 ]] || lab_fail "cometa received $(count cometa echoes) of chip's 20 probes"
[[ $(count illimani frames) == 0 ]] || lab_fail "illimani received $(count illimani frames) frames for cometa's MAC"
fo_tinc_stop cometa
lab_expect 20 "chip seeing cometa gone" cometa_gone
got=$(pings chip "${FO_MESH[cometa]}" 10)
[[ $got == 0 ]] || lab_fail "$got of chip's 10 probes to the dead cometa were answered (by illimani)"
[[ $(count illimani frames) == 0 && $(count illimani echoes) == 0 ]] ||
  lab_fail "illimani received $(count illimani echoes) of chip's probes for cometa"
lab_log "illimani spoofing cometa: probes reach cometa only; cometa dead: 0/10 answered, illimani got none"

# --- 4. control: without StrictSubnets the same spoof captures the probes --------------------
fo_tinc_stop chip
sed -i '/^StrictSubnets/d' "$(rendered chip)/tinc.conf"
fo_tinc_start chip
before=$(count illimani echoes)
captured=0
for ((i = 0; i < 40; i++)); do
  fo_redial
  if lab_ping chip "${FO_MESH[cometa]}" >/dev/null 2>&1; then
    captured=1
    break
  fi
  sleep 0.5
done
((captured)) || lab_fail "control: without StrictSubnets illimani should answer for the dead cometa; this test could not tell a capture"
got=$(pings chip "${FO_MESH[cometa]}" 10)
[[ $got -ge 9 && $(count illimani echoes) -ge $((before + got)) ]] ||
  lab_fail "control: $got of 10 probes answered, illimani's counter went from $before to $(count illimani echoes)"
lab_log "control: without StrictSubnets illimani answers chip's probes for the dead cometa ($got/10, its counter $before -> $(count illimani echoes))"

# --- 5. finding 8: a peer's corrupt key drops that peer only ---------------------------------
fo_tinc_stop chip
cp -- "$LAB_TMP/illimani.host" "$(rendered illimani)/hosts/illimani"
fo_tinc_stop illimani
fo_tinc_start illimani
fo_tinc_start cometa
echo '<html><body>502 Bad Gateway</body></html>' >"$LAB_TMP/keys/cometa.pub"
cfg=$LAB_TMP/chip-run.json
fo_config chip "$cfg"
"$MESHBROKER" check -c "$cfg" >"$LAB_TMP/check.out" 2>"$LAB_TMP/check.err" ||
  lab_fail "check refused chip's config for one peer's key: $(cat "$LAB_TMP/check.err")"
grep -q '/hosts/[0-9]*/public_key_file: warning: ".*keys/cometa.pub" holds a key that .*cometa is dropped' \
  "$LAB_TMP/check.err" || lab_fail "check did not warn about cometa's key: $(cat "$LAB_TMP/check.err")"
lab_spawn chip meshbroker-chip "$MESHBROKER" run -c "$cfg"
daemon=$LAB_PID
fo_mesh_illimani() { lab_ping chip "${FO_MESH[illimani]}"; }
reached=0
for ((i = 0; i < 40; i++)); do
  fo_redial
  if lab_wait 1 "chip -> illimani" fo_mesh_illimani 2>/dev/null; then
    reached=1
    break
  fi
done
((reached)) || lab_fail "meshbroker run with one corrupt peer key does not reach illimani"
kill -0 "$daemon" 2>/dev/null || lab_fail "meshbroker run exited"
got=$(pings chip "${FO_MESH[cometa]}" 5)
[[ $got == 0 ]] || lab_fail "cometa (whose key is garbage) was reached: $got of 5"
lab_expect 15 "chip's tincd refusing cometa for want of a key" \
  grep -q 'No public key for cometa specified' "$LAB_TMP/meshbroker-chip.log"
lab_log "one corrupt peer key: check passes with a warning, the daemon runs, reaches illimani, refuses cometa"
lab_pass
