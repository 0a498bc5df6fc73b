# shellcheck shell=bash
# shellcheck disable=SC2034  # globals read by the scripts that source this file
# lab/two_nodes.sh — two servers of the seed network, chip and comegato, in network namespaces
# joined by one veth pair, each with its seed config moved into $LAB_TMP and its own keys.
# Used by the tests tinc_mesh, supervisor_run, supervisor_crash_loop, supervisor_openvpn, network_registry,
# network_removal,
# supervisor_adopt and by bench/restart.
#
#   netns mb-chip-ID                                   netns mb-comegato-ID
#  +----------------------------------+               +----------------------------------+
#  | meshbroker run (chip.json)       |               | meshbroker run (comegato.json)   |
#  |   '- tincd   meshnet0 .11/27     |== tinc mesh ==|   '- tincd   meshnet0 .12/27     |
#  |   veth0  192.0.2.11/24  ---------+---- veth -----+---------  veth0  192.0.2.12/24   |
#  +----------------------------------+               +----------------------------------+
#
#   source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
#   pair_init --test NAME "$@"          # $1: the meshbroker binary
#   pair_config chip '.openvpn = []'; pair_keys chip comegato; pair_underlay chip comegato
#   pair_run chip; lab_expect 20 "chip's tinc running" pair_backend_is chip tinc running
#
# Functions (the core's lab_exec, lab_spawn, lab_wait, ... work on the nodes chip, comegato):
#   pair_init [--test] NAME MESHBROKER  lab_init, MESHBROKER resolved, skips (CI: fails)
#                       without tincd, ping, jq or /dev/net/tun.
#   pair_config NODE [JQ..]  $LAB_TMP/NODE.json: the seed config with state and runtime paths
#                       inside $LAB_TMP/NODE/, extra jq filters applied.
#   pair_keys NODE..    keygen for each node; public keys also in $LAB_TMP/keys/NODE.pub.
#   pair_client NODE ARGS..  `meshbroker client ARGS -c NODE.json` (output in client.log,
#                       shown when it fails, which fails the test).
#   pair_underlay A B   the namespaces of A and B joined by veth0 (192.0.2.0/24).
#   pair_openvpn_server chip with its OpenVPN instances and a PKI (client init), comegato
#                       without OpenVPN, keys and underlay made.
#   pair_run NODE       `meshbroker run` for NODE in its namespace (log $LAB_TMP/NODE.log);
#                       its PID in PAIR_PID[NODE].
#   pair_status NODE JQ JQ on NODE's status.json (empty output when it is missing).
#   pair_backend_is NODE BACKEND STATE / pair_backend_pid NODE BACKEND
#
# Globals: PAIR_MESH[node] (tinc address), PAIR_UNDERLAY[node], PAIR_PID[node].

if [[ -n ${LAB_TWO_NODES_LOADED:-} ]]; then
  return 0
fi
LAB_TWO_NODES_LOADED=1
# shellcheck source=core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/core.sh"
LAB_PREFIX=mb

declare -gA PAIR_UNDERLAY=([chip]=192.0.2.11 [comegato]=192.0.2.12)
declare -gA PAIR_MESH=([chip]=100.64.12.11 [comegato]=100.64.12.12 [cometa]=100.64.12.9)
declare -gA PAIR_PID=()

pair_init() {
  local -a args=("$@")
  [[ ${#args[@]} -ge 2 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
  lab_init "${args[@]:0:${#args[@]}-1}"  # [--test] NAME; the last argument is the binary
  lab_binary MESHBROKER "${args[-1]}"
  lab_need tincd ping jq
  lab_need_tun
}

pair_config() {
  local node=$1
  shift
  local filter=".paths.state_dir = \"$LAB_TMP/$node/state\" | .paths.runtime_dir = \"$LAB_TMP/$node/run\""
  local f
  for f in "$@"; do filter+=" | $f"; done
  jq "$filter" "$LAB_ROOT/examples/seed/$node.json" >"$LAB_TMP/$node.json" ||
    lab_fail "jq failed on $node's config"
}

pair_keys() {
  local node
  mkdir -p "$LAB_TMP/keys"
  for node in "$@"; do
    "$MESHBROKER" keygen -c "$LAB_TMP/$node.json" >/dev/null 2>"$LAB_TMP/$node.keygen.err" ||
      { cat "$LAB_TMP/$node.keygen.err" >&2; lab_fail "keygen failed for $node"; }
    cp -- "$LAB_TMP/$node/state/tinc/rsa_key.pub" "$LAB_TMP/keys/$node.pub"
  done
}

pair_client() {
  local node=$1
  shift
  "$MESHBROKER" client "$@" -c "$LAB_TMP/$node.json" >>"$LAB_TMP/client.log" 2>&1 ||
    { cat "$LAB_TMP/client.log" >&2; lab_fail "meshbroker client $* failed"; }
}

pair_underlay() {
  lab_ns_add "$1" "$2"
  lab_link "$1" veth0 "${PAIR_UNDERLAY[$1]}/24" "$2" veth0 "${PAIR_UNDERLAY[$2]}/24"
}

# chip a server with its OpenVPN instances and a PKI of its own ($LAB_TMP/pki), comegato a
# server without OpenVPN; both keyed and joined by the underlay.
pair_openvpn_server() {
  pair_config chip '.paths.pki_dir = "'"$LAB_TMP"'/pki"'
  pair_config comegato '.openvpn = []'
  pair_keys chip comegato
  pair_underlay chip comegato
  "$MESHBROKER" client init -c "$LAB_TMP/chip.json" >"$LAB_TMP/init.log" 2>&1 ||
    { cat "$LAB_TMP/init.log"; lab_fail "client init failed"; }
}

pair_run() {
  local node=$1
  lab_spawn "$node" "$node" "$MESHBROKER" run -c "$LAB_TMP/$node.json"
  PAIR_PID[$node]=$LAB_PID
}

pair_status() { jq -r "$2" "$LAB_TMP/$1/run/status.json" 2>/dev/null || true; }
pair_backend_is() {  # NODE BACKEND STATE
  [[ $(pair_status "$1" ".backends[] | select(.id == \"$2\") | .state") == "$3" ]]
}
pair_backend_pid() {  # NODE BACKEND
  pair_status "$1" ".backends[] | select(.id == \"$2\") | .pid"
}
