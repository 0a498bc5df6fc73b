#!/usr/bin/env bash
# Integration test (issue 20): a gateway joins a running network with one line, and a laptop's
# traffic reaches a mesh host through it.
#
#   netns mb-laptop-ID                  netns mb-chip-ID (the registry)     netns mb-comegato-ID
#  +------------------------------+   +-------------------------------+   +---------------------------+
#  | openvpn laptop.ovpn (private)|   | meshbroker run                |   | meshbroker run            |
#  | veth0 203.0.113.2/24 --------+---+- veth2 203.0.113.1/24         |   |  tincd .12 (ConnectTo chip)|
#  +------------------------------+   |  tincd .11, joins on :8657    |===|  veth0 192.0.2.12/24      |
#                                     |  openvpn private 172.16.1.96/27   |  (via chip to cometa)     |
#  netns mb-cometa-ID (fresh)         |  route 10.65/16 "all_gateways"|   +---------------------------+
#  +------------------------------+   |  veth0 192.0.2.11/24 ---------+---- (to comegato)
#  | nothing but the binary:      |   |  veth1 198.51.100.1/24        |
#  |  meshbroker join LINE        |   |  forwards (the "Internet")    |
#  |  meshbroker run              |   +---------------+---------------+
#  |  veth1 198.51.100.2/24 ------+-------------------+
#  |  veth2 10.65.2.1/24 ---------+--- netns mb-meshhost-ID: veth0 10.65.2.8/24 (the mesh host)
#  +------------------------------+
#
# Checks: `invite cometa` on chip prints one line; in cometa's empty namespace `join LINE`
# makes the tinc key there (0600, never sent), proves the token and writes a config that loads;
# `meshbroker run` then reaches comegato over the mesh, and the laptop (connected to chip before
# the join, when no gateway existed and the mesh host was unreachable) reaches the mesh host
# through cometa — times from `join` to each first reply printed; comegato got cometa's host
# file from the document; no config file of a server changed; neither server restarted its
# tincd (its permanent neighbour entry for cometa comes from the daemon). Attacks: the same
# line again (used), the registry down, a line whose fingerprint names another key (the joiner
# refuses the answer), an expired one and a revoked one; `invite --list` shows each state.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test network_join "$@"
lab_need openvpn openssl

# chip: a private OpenVPN instance and a route set that follows the network's gateways (none
# yet: the mesh is unreachable for its clients until one joins).
private='.openvpn = [{"name": "private", "kind": "private", "port": 443, "proto": "tcp", "subnet": "172.16.1.96/27"}]'
follow='.routes = [{"name": "mesh", "to": ["10.65.0.0/16"], "via": "all_gateways", "policy": "failover", "all_down": "unreachable"}]'
pki=".paths.pki_dir = \"$LAB_TMP/pki\""
pair_config chip "$private" '.routes = []' "$pki"
pair_config comegato '.openvpn = []' '.routes = []'
pair_keys chip comegato
pair_underlay chip comegato
"$MESHBROKER" client init -c "$LAB_TMP/chip.json" >"$LAB_TMP/client-init.log" 2>&1 ||
  lab_fail "client init failed: $(cat "$LAB_TMP/client-init.log")"
"$MESHBROKER" client add laptop -i private -c "$LAB_TMP/chip.json" -o "$LAB_TMP/laptop.ovpn" \
  >"$LAB_TMP/client-add.log" 2>&1 || lab_fail "client add failed: $(cat "$LAB_TMP/client-add.log")"
chmod 755 "$LAB_TMP"  # openvpn drops to meshbroker-openvpn and re-reads the CRL
lab_ns_add cometa laptop meshhost
lab_link chip veth1 198.51.100.1/24 cometa veth1 198.51.100.2/24
lab_link chip veth2 203.0.113.1/24 laptop veth0 203.0.113.2/24
ip -n "${LAB_NS[laptop]}" route add default via 203.0.113.1
# Behind cometa, the mesh: one host, its way back through cometa (a mesh router forwards).
lab_link cometa veth2 10.65.2.1/24 meshhost veth0 10.65.2.8/24
ip -n "${LAB_NS[meshhost]}" route add default via 10.65.2.1
lab_exec cometa sysctl -qw net.ipv4.ip_forward=1
# chip routes between its two links, as the Internet would: cometa reaches both servers'
# public addresses, and comegato answers it.
lab_exec chip sysctl -qw net.ipv4.ip_forward=1
ip -n "${LAB_NS[cometa]}" route add default via 198.51.100.1
ip -n "${LAB_NS[comegato]}" route add 198.51.100.0/24 via "${PAIR_UNDERLAY[chip]}"

key_file=$LAB_TMP/chip/state/network/signing.key
"$MESHBROKER" network init --key-file "$key_file" >"$LAB_TMP/netinit.out" 2>&1 ||
  lab_fail "network init failed: $(cat "$LAB_TMP/netinit.out")"
key=$(sed -n 's/^public key: *//p' "$LAB_TMP/netinit.out")
network=".network = {\"name\": \"seed\", \"registry\": \"chip\", \"key\": \"$key\", \"poll_ms\": 2000}"
no_gateways='del(.hosts[] | select(.role == "gateway"))'
pair_config chip "$private" "$follow" "$pki" "$network" "$no_gateways"
pair_config comegato '.openvpn = []' '.routes = []' "$network" "$no_gateways"
servers_before=$(cat "$LAB_TMP/chip.json" "$LAB_TMP/comegato.json" | sha256sum)
for node in chip comegato; do pair_run "$node"; done
lab_expect 20 "chip to sign version 1" bash -c "[[ \$(jq -r '.network.version // 0' '$LAB_TMP/chip/run/status.json' 2>/dev/null) -ge 1 ]]"
lab_spawn laptop laptop openvpn --config "$LAB_TMP/laptop.ovpn" --dev tun-laptop --verb 3
lab_expect 40 "the laptop's tunnel to chip" lab_exec laptop ip -4 addr show dev tun-laptop
if lab_ping laptop 10.65.2.8 >/dev/null 2>&1; then lab_fail "the mesh host answered before any gateway joined"; fi
lab_expect 30 "comegato to take it" bash -c "[[ \$(jq -r '.network.version // 0' '$LAB_TMP/comegato/run/status.json' 2>/dev/null) -ge 1 ]]"
declare -A tincd_before=()
for node in chip comegato; do
  lab_expect 20 "$node's tincd to run" pair_backend_is "$node" tinc running
  tincd_before[$node]=$(pair_backend_pid "$node" tinc)
done

invite() {  # NAME [ARGS..]: prints the line
  "$MESHBROKER" invite "$@" -c "$LAB_TMP/chip.json" 2>>"$LAB_TMP/invite.err" |
    sed -n 's/^meshbroker join //p'
}
join() {  # DIR LINE: a join into $LAB_TMP/DIR, in cometa's namespace
  lab_exec cometa "$MESHBROKER" join "$2" -c "$LAB_TMP/$1/meshbroker.json" \
    --state-dir "$LAB_TMP/$1/state" --runtime-dir "$LAB_TMP/$1/run"
}

# --- the join ---------------------------------------------------------------------------------
line=$(invite cometa --role gateway)
[[ $line == "mb1:${PAIR_UNDERLAY[chip]}:8657/"* ]] || lab_fail "invite printed '$line': $(cat "$LAB_TMP/invite.err")"
t0=$(lab_ms)
join cometa "$line" >"$LAB_TMP/join.out" 2>&1 || lab_fail "join failed: $(cat "$LAB_TMP/join.out")"
join_ms=$(($(lab_ms) - t0))
grep -q "joined seed as cometa" "$LAB_TMP/join.out" || lab_fail "join said: $(cat "$LAB_TMP/join.out")"
[[ $(stat -c %a "$LAB_TMP/cometa/state/tinc/rsa_key.priv") == 600 ]] || lab_fail "the key is not 0600"
"$MESHBROKER" check -c "$LAB_TMP/cometa/meshbroker.json" >/dev/null 2>&1 || lab_fail "the joined config does not check"
mesh=$(jq -r .tinc.address "$LAB_TMP/cometa/meshbroker.json")
lab_spawn cometa cometa "$MESHBROKER" run -c "$LAB_TMP/cometa/meshbroker.json"
lab_expect 60 "cometa to reach comegato over the mesh" lab_ping cometa "${PAIR_MESH[comegato]}"
ready_ms=$(($(lab_ms) - t0))
lab_expect 60 "the laptop's traffic to the mesh host through cometa" lab_ping laptop 10.65.2.8
laptop_ms=$(($(lab_ms) - t0))
ip -n "${LAB_NS[chip]}" route show 10.65.0.0/16 | grep -q "via $mesh" ||
  lab_fail "chip's route to the mesh is not via cometa: $(ip -n "${LAB_NS[chip]}" route show 10.65.0.0/16)"
# Reported, not asserted (bench/network holds the 60 s target and 30 s goal).
lab_log "cometa joined at $mesh: join took $join_ms ms; mesh traffic to comegato $ready_ms ms after join began; the laptop's to the mesh host $laptop_ms ms (target 60000, goal 30000)"
# The seed is dual stack: the invitation promised an IPv6 mesh address as well, and cometa
# reaches comegato over IPv6 across the mesh.
mesh6=$(jq -r '.tinc.address6 // empty' "$LAB_TMP/cometa/meshbroker.json")
[[ -n $mesh6 ]] || lab_fail "the joined config has no IPv6 mesh address: $(jq -c .tinc "$LAB_TMP/cometa/meshbroker.json")"
[[ $(jq -r .tinc.prefix6 "$LAB_TMP/cometa/meshbroker.json") == $(jq -r .tinc.prefix6 "$LAB_TMP/chip.json") ]] ||
  lab_fail "the joined config's prefix6 is not the network's"
grep -q "and $mesh6" "$LAB_TMP/join.out" || lab_fail "join did not say the IPv6 address: $(cat "$LAB_TMP/join.out")"
comegato6=$(jq -r .tinc.address6 "$LAB_TMP/comegato.json")
lab_expect 20 "cometa to reach comegato over IPv6 ($comegato6)" lab_exec cometa ping -6 -n -c1 -W1 "$comegato6"
lab_log "cometa got the IPv6 mesh address $mesh6 too and reaches comegato's $comegato6 over the mesh"
lab_expect 10 "comegato to hold cometa's host file" test -s "$LAB_TMP/comegato/state/rendered/tinc/hosts/cometa"
# A join changes every node's host list, and must not restart their tincd (a break of every
# mesh connection on every node): host files by SIGHUP, the neighbour entry by the daemon.
for node in chip comegato; do
  [[ $(pair_backend_pid "$node" tinc) == "${tincd_before[$node]}" ]] ||
    lab_fail "$node restarted tincd for the join: $(grep 'reload: tinc' "$LAB_TMP/$node.log" | tail -1)"
  dev=$(jq -r .tinc.interface "$LAB_TMP/$node.json")
  lab_expect 10 "$node to pin cometa's mesh MAC" bash -c \
    "ip -n '${LAB_NS[$node]}' neigh show $mesh dev $dev | grep -q 'lladdr 02:00:.* PERMANENT'"
  lab_expect 10 "$node to pin cometa's IPv6 mesh address at that MAC" bash -c \
    "ip -n '${LAB_NS[$node]}' -6 neigh show $mesh6 dev $dev | grep -q 'lladdr 02:00:.* PERMANENT'"
done
lab_log "chip and comegato kept their tincd (pids ${tincd_before[chip]}, ${tincd_before[comegato]}) and pinned cometa's MAC (IPv4 and IPv6)"
[[ $(cat "$LAB_TMP/chip.json" "$LAB_TMP/comegato.json" | sha256sum) == "$servers_before" ]] ||
  lab_fail "a server's config file changed"
grep -q "cometa joined as a gateway" "$LAB_TMP/chip.log" || lab_fail "chip did not log the join"
lab_log "no server file edited; comegato learned cometa from the document"

# --- attacks -------------------------------------------------------------------------------
if join again "$line" >"$LAB_TMP/again.out" 2>&1; then lab_fail "the same invitation worked twice"; fi
grep -q "used already" "$LAB_TMP/again.out" || lab_fail "a second use said: $(cat "$LAB_TMP/again.out")"
[[ ! -e $LAB_TMP/again/meshbroker.json ]] || lab_fail "a refused join wrote a config"

# The registry down (nothing listens on the line's port): a clear error, nothing written.
down=${line/:8657\//:8659/}
if join down "$down" >"$LAB_TMP/down.out" 2>&1; then lab_fail "a join with no registry succeeded"; fi
grep -q "cannot reach the registry" "$LAB_TMP/down.out" || lab_fail "the down case said: $(cat "$LAB_TMP/down.out")"
[[ ! -e $LAB_TMP/down/meshbroker.json ]] || lab_fail "a join with no registry wrote a config"

# An IPv6 mesh address chosen by the operator (--mesh-address6, any spelling) is promised as
# asked, in its normal form; one another node holds is refused.
other=$(invite illimani --mesh-address6 fd00:64:12:0::99)
grep -q "illimani may join as a gateway at [0-9.]* and fd00:64:12::99 " "$LAB_TMP/invite.err" ||
  lab_fail "invite --mesh-address6 said: $(cat "$LAB_TMP/invite.err")"
if "$MESHBROKER" invite tunari --mesh-address6 "$mesh6" -c "$LAB_TMP/chip.json" >/dev/null 2>"$LAB_TMP/taken6.err"; then
  lab_fail "invite promised cometa's IPv6 address $mesh6 to another node"
fi
grep -q "$mesh6 is taken" "$LAB_TMP/taken6.err" || lab_fail "the taken IPv6 case said: $(cat "$LAB_TMP/taken6.err")"
impostor=${other%/*}/$("$MESHBROKER" network init --key-file "$LAB_TMP/other.key" 2>&1 | sed -n 's/^fingerprint: *//p')
if join impostor "$impostor" >"$LAB_TMP/impostor.out" 2>&1; then lab_fail "a join trusted an answer the line does not pin"; fi
grep -q "not this network's registry" "$LAB_TMP/impostor.out" || lab_fail "the impostor case said: $(cat "$LAB_TMP/impostor.out")"
[[ ! -e $LAB_TMP/impostor/meshbroker.json ]] || lab_fail "an unpinned answer wrote a config"

short=$(invite sajama --ttl 1s)
sleep 2
if join expired "$short" >"$LAB_TMP/expired.out" 2>&1; then lab_fail "an expired invitation worked"; fi
grep -q "has expired" "$LAB_TMP/expired.out" || lab_fail "the expired case said: $(cat "$LAB_TMP/expired.out")"

revoked=$(invite nevado)
id=$("$MESHBROKER" invite --list -c "$LAB_TMP/chip.json" | awk '$2 == "nevado" { print $1 }')
"$MESHBROKER" invite --revoke "$id" -c "$LAB_TMP/chip.json" >/dev/null || lab_fail "invite --revoke failed"
if join revoked "$revoked" >"$LAB_TMP/revoked.out" 2>&1; then lab_fail "a revoked invitation worked"; fi
grep -q "was revoked" "$LAB_TMP/revoked.out" || lab_fail "the revoked case said: $(cat "$LAB_TMP/revoked.out")"
"$MESHBROKER" invite --list -c "$LAB_TMP/chip.json" >"$LAB_TMP/list.out"
grep -Eq "illimani +gateway +[0-9.]+ +fd00:64:12::99 " "$LAB_TMP/list.out" ||
  lab_fail "invite --list lacks illimani's IPv6 address: $(cat "$LAB_TMP/list.out")"
for want in "cometa.*used" "sajama.*expired" "nevado.*revoked"; do
  grep -Eq "$want" "$LAB_TMP/list.out" || lab_fail "invite --list lacks '$want': $(cat "$LAB_TMP/list.out")"
done
# The impostor's join was admitted (the registry cannot know the joiner refused its answer):
# a new node in the document, which every node applies.
lab_expect 30 "cometa to be on the mesh after the attacks" lab_ping cometa "${PAIR_MESH[comegato]}"
lab_log "refused: a used, an unpinned, an expired and a revoked invitation, and a join with the registry down; invite --list shows each"
lab_pass
