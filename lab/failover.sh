# shellcheck shell=bash
# shellcheck disable=SC2034  # globals read by the scripts that source this file
# lab/failover.sh — the gateway-failover lab: a server, two gateways and a host behind them in
# network namespaces with real tincd, configured only by `meshbroker keygen/render` from the
# seed configs (examples/seed/). Used by bench/failover, bench/chaos, bench/leak, bench/http,
# bench/memory and the tests route_failover, stale_path, gateway_role and web_status.
#
#                          netns fo-inet-ID ("the Internet", no forwarding)
#          +--------------------------------------------------------------------+
#          |   br0:   p-chip            p-cometa            p-illimani           |
#          +------------|-------------------|---------------------|-------------+
#                 uplink 192.0.2.11   uplink 192.0.2.9      uplink 192.0.2.10
#          +------------|------+ +----------|---------+ +---------|----------+
#          | fo-chip-ID        | | fo-cometa-ID       | | fo-illimani-ID     |
#          |  tincd (server)   | |  tincd ConnectTo   | |  tincd ConnectTo   |
#          |  meshnet0         | |   chip; forwarding | |   chip; forwarding |
#          |  100.64.12.11/27  | |  meshnet0 .9/27    | |  meshnet0 .10/27   |
#          |  10.64.0.0/11 via | |  mesh0 10.65.9.1   | |  mesh0 10.65.10.1  |
#          |  .9 or .10 (the   | +----------|---------+ +---------|----------+
#          |  thing measured)  |            | gw-cometa           | gw-illimani
#          +-------------------+            | 10.65.9.2           | 10.65.10.2
#             tinc mesh (switch mode)  +----|---------------------|-----+
#             over the uplinks:        | fo-meshhost-ID  10.65.2.8 (lo) |
#             chip, cometa, illimani   | 100.64.12.0/27 multipath via   |
#             on one L2, 100.64.12.0/27| both, ignore_routes_with_      |
#                                      | linkdown=1 (dead hop skipped)  |
#                                      +--------------------------------+
#
# IPv6 alongside (the seed configs are dual stack): tinc mesh fd00:64:12::/64 (chip ::11, cometa
# ::9, illimani ::a, from tinc-up), meshhost fd00:65:2::8 (lo) in fd00:65::/32 (FO_DEST6), the
# mesh-side links fd00:65:9::/64 and fd00:65:10::/64 (gateway ::1, meshhost ::2), meshhost's
# route back to fd00:64:12::/64 multipath via both gateways. Addresses survive a link going
# down (keep_addr_on_down), as IPv4 ones do.
#
# ID is the sourcing script's $$ (LAB_ID, lab/core.sh), so parallel runs do not collide.
#
# Functions (the core's lab_exec, lab_spawn, lab_stop, lab_wait, ... work on these nodes:
# chip cometa illimani meshhost inet):
#   fo_init [--test] NAME  lab_init, then skips (CI: fails) without tincd, jq, ping, nft, tun.
#   fo_up               namespaces, links, addresses, configs, keys, rendered tinc files (by
#                       $FO_SETUP_MESHBROKER's keygen and render, default $MESHBROKER; a gateway-
#                       only build cannot render chip's server config); starts
#                       the gateways' tincd and (unless FO_SERVER_TINC=none) the server's; waits
#                       for the mesh.
#   fo_cut GW KIND      KIND: poweroff (uplink and mesh side down, the node's processes
#                       SIGSTOPped), uplink (underlay link down: tinc dies), meshside (link to
#                       meshhost down: tinc stays up), lossN (nftables drops N % of packets on
#                       the uplink, both ways; e.g. loss30).
#   fo_restore GW KIND  undoes fo_cut and makes tincd redial at once.
#   fo_tinc_start NODE / fo_tinc_stop NODE   tincd by hand from $LAB_TMP/NODE/rendered/tinc
#                       (debug level FO_TINC_DEBUG, default 1).
#   fo_redial           SIGALRM to the gateways' tincd: retry the server now (tinc's back-off
#                       grows 5 s a try).
#   fo_mesh_up          true when chip pings both gateways over tinc.
#   fo_show_health [JQ] after a failure: chip's gateways and routes (| JQ) from status.json, on stderr.
#   fo_mesh_up_redialing  waits (20 s at most) for the mesh under a server tincd started after
#                       the gateways', redialing every 0.5 s.
#   fo_config NODE FILE [JQ..]  the seed config of NODE localized to the lab (paths in $LAB_TMP,
#                       only chip/cometa/illimani, gateways dial chip only, no OpenVPN) with
#                       extra jq filters applied, written to FILE.
#
# Globals: FO_MESH[node], FO_UNDERLAY[node], FO_SIDE[gw] (gateway end of the mesh-side link),
# FO_SIDE_PEER[gw] (meshhost end), FO_TARGET (10.65.2.8), FO_DEST (10.64.0.0/11, what sits
# behind the gateways), FO_GATEWAYS, FO_TINC_PID[node]; IPv6: FO_MESH6[node], FO_SIDE6[gw],
# FO_SIDE_PEER6[gw], FO_TARGET6 (fd00:65:2::8), FO_DEST6 (fd00:65::/32).

if [[ -n ${LAB_FAILOVER_LOADED:-} ]]; then
  return 0
fi
LAB_FAILOVER_LOADED=1
# shellcheck source=core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/core.sh"
LAB_PREFIX=fo

declare -ga FO_GATEWAYS=(cometa illimani)
declare -gA FO_MESH=([chip]=100.64.12.11 [cometa]=100.64.12.9 [illimani]=100.64.12.10)
declare -gA FO_UNDERLAY=([chip]=192.0.2.11 [cometa]=192.0.2.9 [illimani]=192.0.2.10)
declare -gA FO_SIDE=([cometa]=10.65.9.1 [illimani]=10.65.10.1)
declare -gA FO_SIDE_PEER=([cometa]=10.65.9.2 [illimani]=10.65.10.2)
declare -gA FO_TINC_PID=()
FO_TARGET=10.65.2.8
FO_DEST=10.64.0.0/11
FO_PREFIX_LEN=27
declare -gA FO_MESH6=([chip]=fd00:64:12::11 [cometa]=fd00:64:12::9 [illimani]=fd00:64:12::a)
declare -gA FO_SIDE6=([cometa]=fd00:65:9::1 [illimani]=fd00:65:10::1)
declare -gA FO_SIDE_PEER6=([cometa]=fd00:65:9::2 [illimani]=fd00:65:10::2)
FO_TARGET6=fd00:65:2::8
FO_DEST6=fd00:65::/32
FO_PREFIX6=fd00:64:12::/64

# fo_init [--test] NAME: lab_init, then the tools this lab needs.
fo_init() {
  lab_init "$@"
  lab_need tincd jq ping nft
  lab_need_tun
}

# --- topology ------------------------------------------------------------------------------

fo_topology() {
  local node gw
  for node in inet chip cometa illimani meshhost; do
    lab_ns_add "$node"
    # Loose source checks: meshhost answers over whichever gateway its multipath route picks.
    lab_sysctl "$node" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    # IPv6 addresses usable at once and kept while a link is down (a cut, then a restore).
    lab_sysctl "$node" net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
      net.ipv6.conf.all.keep_addr_on_down=1
  done
  lab_sysctl meshhost net.ipv4.conf.all.ignore_routes_with_linkdown=1 \
    net.ipv4.conf.default.ignore_routes_with_linkdown=1 \
    net.ipv6.conf.all.ignore_routes_with_linkdown=1 net.ipv6.conf.default.ignore_routes_with_linkdown=1

  # The Internet: one bridge, every node's uplink on it.
  lab_bridge inet
  for node in chip "${FO_GATEWAYS[@]}"; do
    lab_bridge_port inet "$node" uplink "${FO_UNDERLAY[$node]}/24"
  done

  # Behind the gateways: meshhost, one link per gateway.
  ip -n "${LAB_NS[meshhost]}" addr add "$FO_TARGET/32" dev lo
  ip -n "${LAB_NS[meshhost]}" -6 addr add "$FO_TARGET6/128" dev lo
  local hops=() hops6=()
  for gw in "${FO_GATEWAYS[@]}"; do
    lab_sysctl "$gw" net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    lab_link "$gw" mesh0 "${FO_SIDE[$gw]}/24" meshhost "gw-$gw" "${FO_SIDE_PEER[$gw]}/24"
    ip -n "${LAB_NS[$gw]}" -6 addr add "${FO_SIDE6[$gw]}/64" dev mesh0
    ip -n "${LAB_NS[meshhost]}" -6 addr add "${FO_SIDE_PEER6[$gw]}/64" dev "gw-$gw"
    lab_sysctl meshhost "net.ipv4.conf.gw-$gw.ignore_routes_with_linkdown=1" \
      "net.ipv6.conf.gw-$gw.ignore_routes_with_linkdown=1"
    fo_gateway_route "$gw"
    hops+=(nexthop via "${FO_SIDE[$gw]}" dev "gw-$gw")
    hops6+=(nexthop via "${FO_SIDE6[$gw]}" dev "gw-$gw")
  done
  ip -n "${LAB_NS[meshhost]}" route add "100.64.12.0/$FO_PREFIX_LEN" "${hops[@]}"
  ip -n "${LAB_NS[meshhost]}" -6 route add "$FO_PREFIX6" "${hops6[@]}"
}

# The gateway's routes to what lies behind it (the kernel drops them when mesh0 goes down).
fo_gateway_route() {
  ip -n "${LAB_NS[$1]}" route replace "$FO_DEST" via "${FO_SIDE_PEER[$1]}" dev mesh0
  ip -n "${LAB_NS[$1]}" -6 route replace "$FO_DEST6" via "${FO_SIDE_PEER6[$1]}" dev mesh0
}

# fo_show_health [JQ]: after a failed test, chip's gateways, routes and health events from its
# status.json (JQ on that object, default all of it) on stderr. For a lab_on_cleanup hook.
fo_show_health() {
  ((LAB_OK)) && return 0
  local status=$LAB_TMP/chip/run/status.json
  [[ -s $status ]] || return 0
  echo "----- health in $status -----" >&2
  jq "{gateways, routes, route_errors: .daemon.route_errors, events: [.events[] | select(.source == \"health\")]}${1:+ | $1}" "$status" >&2
}

# --- configs, keys, tinc -------------------------------------------------------------------

fo_config() {
  local node=$1 out=$2
  shift 2
  local dir="$LAB_TMP/$node"
  local filter=".paths.state_dir = \"$dir/state\" | .paths.runtime_dir = \"$dir/run\""
  filter+=' | .hosts |= map(select(.name == "chip" or .name == "cometa" or .name == "illimani"))'
  filter+=' | .openvpn = []'
  filter+=' | .tinc.connect_to = (if .role == "gateway" then ["chip"] else [] end)'
  local f
  for f in "$@"; do filter+=" | $f"; done
  jq "$filter" "$LAB_ROOT/examples/seed/$node.json" >"$out" || lab_fail "jq failed on $node's config"
}

fo_configs() {
  local node
  mkdir -p "$LAB_TMP/keys"
  local -A keygen=()
  for node in chip "${FO_GATEWAYS[@]}"; do
    fo_config "$node" "$LAB_TMP/$node.json"
    # RSA 3072 takes a few seconds each: all three at once.
    "${FO_SETUP_MESHBROKER:-$MESHBROKER}" keygen -c "$LAB_TMP/$node.json" >/dev/null 2>>"$LAB_TMP/$node.keygen.log" &
    keygen[$node]=$!
  done
  for node in chip "${FO_GATEWAYS[@]}"; do
    wait "${keygen[$node]}" || lab_fail "keygen failed for $node (see $LAB_TMP/$node.keygen.log)"
    cp -- "$LAB_TMP/$node/state/tinc/rsa_key.pub" "$LAB_TMP/keys/$node.pub"
  done
  for node in chip "${FO_GATEWAYS[@]}"; do
    "${FO_SETUP_MESHBROKER:-$MESHBROKER}" render -c "$LAB_TMP/$node.json" -o "$LAB_TMP/$node/rendered" \
      >>"$LAB_TMP/$node.render.log" 2>&1 || lab_fail "render failed for $node"
  done
}

fo_tinc_start() {
  local node=$1
  lab_spawn "$node" "tincd-$node" tincd -c "$LAB_TMP/$node/rendered/tinc" -D -d"${FO_TINC_DEBUG:-1}" \
    --pidfile="$LAB_TMP/$node/tincd.pid"
  FO_TINC_PID[$node]=$LAB_PID
}

fo_tinc_stop() {
  local node=$1
  lab_stop "${FO_TINC_PID[$node]:-}"
  FO_TINC_PID[$node]=
}

fo_redial() {
  local gw
  for gw in "${FO_GATEWAYS[@]}"; do
    # Only tincd itself: a signal to its group would also hit its running hook scripts.
    [[ -n ${FO_TINC_PID[$gw]:-} ]] && kill -ALRM "${FO_TINC_PID[$gw]}" 2>/dev/null
  done
  return 0
}

# True when the server reaches both gateways over the mesh.
fo_mesh_up() {
  local gw
  for gw in "${FO_GATEWAYS[@]}"; do lab_ping chip "${FO_MESH[$gw]}" >/dev/null || return 1; done
}

# True once the mesh is up under a tincd started after the gateways' (e.g. by meshbroker run):
# the gateways are told to redial it at once instead of waiting out tinc's back-off.
fo_mesh_up_redialing() {
  local i
  for ((i = 0; i < 40; i++)); do
    sleep 0.5
    fo_redial
    lab_wait 1 "mesh" fo_mesh_up 2>/dev/null && return 0
  done
  return 1
}

fo_up() {
  lab_log "namespaces fo-*-$LAB_ID, files in $LAB_TMP"
  fo_topology
  fo_configs
  local gw
  for gw in "${FO_GATEWAYS[@]}"; do fo_tinc_start "$gw"; done
  if [[ ${FO_SERVER_TINC:-manual} != none ]]; then
    fo_tinc_start chip
    lab_wait 30 "the mesh (chip pings both gateways)" fo_mesh_up || lab_fail "the mesh did not come up"
  fi
  # The path through each gateway, without touching chip's routes: from the gateway itself.
  for gw in "${FO_GATEWAYS[@]}"; do
    lab_ping "$gw" "$FO_TARGET" >/dev/null || lab_fail "$gw cannot reach $FO_TARGET"
  done
}

# --- cuts ----------------------------------------------------------------------------------

fo_cut() {
  local gw=$1 kind=$2 ns=${LAB_NS[$1]}
  case $kind in
    poweroff)
      ip -n "$ns" link set uplink down
      ip -n "$ns" link set mesh0 down
      lab_signal_node STOP "$gw"
      ;;
    uplink) ip -n "$ns" link set uplink down ;;
    meshside) ip -n "$ns" link set mesh0 down ;;
    loss[0-9]*) lab_loss_on "$gw" uplink "${kind#loss}" ;;
    *) lab_fail "unknown cut \"$kind\" (poweroff, uplink, meshside, lossN)" ;;
  esac
}

fo_restore() {
  local gw=$1 kind=$2 ns=${LAB_NS[$1]}
  case $kind in
    poweroff)
      ip -n "$ns" link set uplink up
      ip -n "$ns" link set mesh0 up
      fo_gateway_route "$gw"
      lab_signal_node CONT "$gw"
      ;;
    uplink) ip -n "$ns" link set uplink up ;;
    meshside)
      ip -n "$ns" link set mesh0 up
      fo_gateway_route "$gw"
      ;;
    loss[0-9]*) lab_loss_off "$gw" ;;
    *) lab_fail "unknown cut \"$kind\"" ;;
  esac
  [[ -n ${FO_TINC_PID[$gw]:-} ]] && kill -ALRM "${FO_TINC_PID[$gw]}" 2>/dev/null
  return 0
}
