# shellcheck shell=bash
# lab/openvpn_hub.sh — the OpenVPN hub: two servers (chip, comegato) and up to three clients
# (c1, c2, c3) in network namespaces on one bridge, each server configured only by meshbroker
# (`check`, `client init`, `render`) from a config written here; configs and the PKI in
# $LAB_TMP. Used by the tests openvpn_access and openvpn_public.
#
#                       netns ovpn-hub-ID (bridge br0, 192.0.2.0/24)
#          +----------------+----------------+----------------+----------------+
#          |                |                |                |                |
#   ovpn-chip-ID    ovpn-comegato-ID   ovpn-c1-ID       ovpn-c2-ID       ovpn-c3-ID
#   192.0.2.11      192.0.2.12         192.0.2.101      192.0.2.102      192.0.2.103
#   openvpn public  (udp 1194, 172.16.1.64/27, max 2, 2mbit)            openvpn clients
#   openvpn private (udp 1195, 172.16.1.96/27 on chip, .160/27 on comegato)
#   openvpn ptcp    (tcp 443, private, 172.16.1.192/28 on chip, .208/28 on comegato)
#   comegato: public 172.16.1.128/27
#
# Every node's eth0 is a veth whose other end (p-NODE) is a port of br0 in ovpn-hub-ID. ID is
# the sourcing script's $$ (LAB_ID, lab/core.sh), so parallel runs do not collide. Both
# servers read one PKI folder, $LAB_TMP/pki (on real networks Ansible copies CA, CRL and
# tls-crypt keys to every server).
#
#   source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/openvpn_hub.sh"
#   MESHBROKER=$1                       # the binary under test (default build/meshbroker)
#   hub_init --test openvpn_access c1 c2
#   hub_server chip private; lab_wait 10 "..." hub_management_ready chip private || lab_fail ...
#   hub_client c1 alice "$LAB_TMP/alice.ovpn"; lab_wait 20 "..." hub_has_tun_address c1 || ...
#
# Functions (the core's lab_exec, lab_ping, lab_spawn, lab_wait, ... work on the nodes hub,
# chip, comegato and the clients passed to hub_init):
#   hub_init [--test] NAME CLIENT..  lab_init (temp folder made traversable: openvpn drops to
#                       meshbroker-openvpn and re-reads the CRL when it changes), skips (CI: fails) without
#                       openvpn, ip, ping or /dev/net/tun; MESHBROKER resolved; the servers'
#                       configs, `meshbroker check`, `client init`, `render`; the namespaces
#                       of hub, chip, comegato and each CLIENT (c1, c2, c3) on the bridge.
#   hub_write_config NODE PEER PUBLIC PRIVATE PTCP  $LAB_TMP/NODE.json: the server NODE with
#                       its peer server PEER and the subnets of its instances public, private
#                       and ptcp (a private instance on tcp 443, the way through filters).
#   hub_server NODE INSTANCE  openvpn from NODE's rendered INSTANCE.conf in NODE's namespace
#                       (a stale management socket removed first); label NODE-INSTANCE.
#   hub_client NODE LABEL PROFILE  an openvpn client with PROFILE in NODE's namespace.
#   hub_stop LABEL      lab_stop of the openvpn started under LABEL (fine when it is gone,
#                       e.g. killed by the test with SIGKILL: no job notice then).
#   hub_log LABEL       the path of LABEL's log (openvpn logs to stdout, which lab_spawn keeps
#                       in $LAB_TMP/LABEL.log; lab_cleanup shows it after a failure).
#   hub_tun_address NODE  the IPv4 address of NODE's tun0 ("" while there is none).
#   hub_has_tun_address NODE / hub_management_ready NODE INSTANCE  (for lab_wait)
#
# Globals: HUB_ADDR[node] (underlay address), HUB_PID[label] (openvpn PIDs), MESHBROKER.
# LAB_KEEP=1 keeps $LAB_TMP (configs, PKI, profiles, logs); it replaces OPENVPN_TEST_KEEP.

if [[ -n ${LAB_OPENVPN_HUB_LOADED:-} ]]; then
  return 0
fi
LAB_OPENVPN_HUB_LOADED=1
# shellcheck source=SCRIPTDIR/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/core.sh"
# shellcheck disable=SC2034  # read by lab_ns (lab/core.sh)
LAB_PREFIX=ovpn

declare -gA HUB_ADDR=([chip]=192.0.2.11 [comegato]=192.0.2.12 [c1]=192.0.2.101
  [c2]=192.0.2.102 [c3]=192.0.2.103)
declare -gA HUB_PID=()

hub_init() {
  local test=()
  if [[ ${1:-} == --test ]]; then
    test=(--test)
    shift
  fi
  lab_init "${test[@]}" "$1"
  shift
  lab_need openvpn ip ping
  lab_need_tun
  lab_binary MESHBROKER "$MESHBROKER"
  local node
  for node in "$@"; do
    [[ $node == c[123] ]] || lab_fail "hub_init: unknown client node $node (c1, c2 or c3)"
  done

  chmod 0755 "$LAB_TMP"
  lab_log "temp folder $LAB_TMP"
  hub_write_config chip comegato 172.16.1.64/27 172.16.1.96/27 172.16.1.192/28
  hub_write_config comegato chip 172.16.1.128/27 172.16.1.160/27 172.16.1.208/28
  for node in chip comegato; do
    mkdir -p "$LAB_TMP/$node/run"
    "$MESHBROKER" check -c "$LAB_TMP/$node.json" >/dev/null 2>"$LAB_TMP/check.err" ||
      {
        cat "$LAB_TMP/check.err" >&2
        lab_fail "check rejected $node.json"
      }
    "$MESHBROKER" client init -c "$LAB_TMP/$node.json" >/dev/null ||
      lab_fail "client init failed for $node"
    "$MESHBROKER" render -c "$LAB_TMP/$node.json" -o "$LAB_TMP/$node/rendered" >/dev/null 2>&1 ||
      lab_fail "render failed for $node"
    [[ -s $LAB_TMP/$node/rendered/openvpn/public.conf ]] || lab_fail "no openvpn/public.conf for $node"
  done

  lab_ns_add hub
  lab_bridge hub
  for node in chip comegato "$@"; do
    lab_ns_add "$node"
    lab_bridge_port hub "$node" eth0 "${HUB_ADDR[$node]}/24"
  done
}

hub_write_config() {
  local node=$1 peer=$2 public=$3 private=$4 ptcp=$5
  local mesh_self=100.64.12.11 mesh_peer=100.64.12.12
  if [[ $node != chip ]]; then
    mesh_self=100.64.12.12 mesh_peer=100.64.12.11
  fi
  cat >"$LAB_TMP/$node.json" <<EOF
{
  "name": "$node",
  "role": "server",
  "tinc": {"address": "$mesh_self", "prefix": "100.64.12.0/27",
           "public_address": "${HUB_ADDR[$node]}", "interface": "meshnet0"},
  "hosts": [
    {"name": "$peer", "role": "server", "mesh_address": "$mesh_peer",
     "public_address": "${HUB_ADDR[$peer]}",
     "openvpn": [{"name": "public", "port": 1194}, {"name": "private", "port": 1195},
                 {"name": "ptcp", "port": 443, "proto": "tcp"}]}
  ],
  "openvpn": [
    {"name": "public", "kind": "public", "port": 1194, "subnet": "$public",
     "max_clients": 2, "rate_limit": "2mbit"},
    {"name": "private", "kind": "private", "port": 1195, "subnet": "$private"},
    {"name": "ptcp", "kind": "private", "port": 443, "proto": "tcp", "subnet": "$ptcp"}
  ],
  "routes": [],
  "paths": {"state_dir": "$LAB_TMP/$node/state", "runtime_dir": "$LAB_TMP/$node/run",
            "pki_dir": "$LAB_TMP/pki"}
}
EOF
}

hub_log() { printf '%s/%s.log' "${LAB_LOGS:-$LAB_TMP}" "$1"; }

hub_server() {
  local node=$1 instance=$2
  rm -f -- "$LAB_TMP/$node/run/openvpn-$instance.sock"
  lab_spawn "$node" "$node-$instance" openvpn --config "$LAB_TMP/$node/rendered/openvpn/$instance.conf"
  HUB_PID[$node-$instance]=$LAB_PID
}

hub_client() {
  local node=$1 label=$2 profile=$3
  lab_spawn "$node" "$label" openvpn --config "$profile"
  HUB_PID[$label]=$LAB_PID
}

hub_stop() {
  # lab_stop logs nothing itself; 2>/dev/null only keeps out the "Killed" line bash prints
  # when it reaps an openvpn the test had SIGKILLed.
  lab_stop "${HUB_PID[$1]:-}" 2>/dev/null
  unset "HUB_PID[$1]"
}

hub_tun_address() {
  { ip -n "${LAB_NS[$1]}" -4 -o addr show dev tun0 2>/dev/null || true; } |
    awk '{ split($4, a, "/"); print a[1] }'
}
hub_has_tun_address() { [[ -n $(hub_tun_address "$1") ]]; }
hub_management_ready() { [[ -S $LAB_TMP/$1/run/openvpn-$2.sock ]]; }
