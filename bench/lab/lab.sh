# shellcheck shell=bash
# bench/lab/lab.sh — a gateway-failover lab in network namespaces with real tincd, configured
# only by `meshbroker keygen/render` from the seed configs (examples/seed/). Source it; do not
# run it. Used by bench/failover; meant for integration tests and scripts/demo as well.
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
# ID is $$ of the script that sourced this file (LAB_ID to override), so parallel runs do not
# collide, and leftovers show whose they were.
#
# Functions (all log to stderr; stdout stays free for a benchmark's JSON):
#   lab_init NAME       checks root and tools, makes $LAB_TMP. Call first.
#   lab_trap            EXIT/INT/TERM traps that call lab_down (or call lab_down from yours).
#   lab_up              namespaces, links, addresses, configs, keys, rendered tinc files; starts
#                       the gateways' tincd and (unless LAB_SERVER_TINC=none) the server's; waits
#                       for the mesh.
#   lab_down            stops every process started here, deletes the namespaces and $LAB_TMP
#                       (kept when LAB_KEEP is set). Idempotent.
#   lab_cut GW KIND     KIND: poweroff (uplink and mesh side down, the node's processes
#                       SIGSTOPped), uplink (underlay link down: tinc dies), meshside (link to
#                       meshhost down: tinc stays up), lossN (nftables drops N % of packets on
#                       the uplink, both ways; e.g. loss30).
#   lab_restore GW KIND undoes lab_cut and makes tincd redial at once.
#   lab_exec NODE CMD.. runs CMD in NODE's namespace (chip cometa illimani meshhost inet).
#   lab_spawn NODE NAME CMD..  starts CMD in the background in NODE's namespace, in its own
#                       session; output in $LAB_TMP/NAME.log; PID in $LAB_PID (stopped by
#                       lab_down; SIGSTOPped by a poweroff cut of NODE).
#   lab_stop PID        SIGTERM to PID's process group, SIGKILL after 5 s; reaps and forgets it
#                       (also fine for one that already exited).
#   lab_tinc_start NODE / lab_tinc_stop NODE   tincd by hand from $LAB_TMP/NODE/rendered/tinc.
#   lab_redial          SIGALRM to the gateways' tincd: retry the server now (tinc's back-off
#                       grows 5 s a try).
#   lab_mesh_up_redialing  waits (20 s at most) for the mesh under a server tincd started after
#                       the gateways', redialing every 0.5 s.
#   lab_config NODE FILE [JQ..]  the seed config of NODE localized to the lab (paths in $LAB_TMP,
#                       only chip/cometa/illimani, gateways dial chip only, no OpenVPN) with
#                       extra jq filters applied, written to FILE.
#   lab_wait SECONDS DESCRIPTION CMD..  polls CMD every 20 ms; returns 1 after SECONDS.
#   lab_route_via NODE PREFIX   prints the (first) gateway of NODE's route to PREFIX.
#   lab_now_ms          wall clock in ms (with µs decimals), comparable to udp_stream's times.
#
# Globals: LAB_TMP, LAB_NS[node], LAB_MESH[node], LAB_UNDERLAY[node], LAB_SIDE[gw] (gateway end
# of the mesh-side link), LAB_SIDE_PEER[gw] (meshhost end), LAB_TARGET (10.65.2.8),
# LAB_DEST (10.64.0.0/11, what sits behind the gateways), LAB_GATEWAYS, LAB_TINC_PID[node].
# Needs: root, ip, tincd, jq, ping, nft (for lossN), $MESHBROKER (default build/meshbroker).

if [[ -n ${LAB_SH_LOADED:-} ]]; then
  return 0
fi
LAB_SH_LOADED=1

LAB_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
: "${MESHBROKER:=$LAB_ROOT/build/meshbroker}"

declare -ga LAB_GATEWAYS=(cometa illimani)
declare -gA LAB_NS=()
declare -gA LAB_MESH=([chip]=100.64.12.11 [cometa]=100.64.12.9 [illimani]=100.64.12.10)
declare -gA LAB_UNDERLAY=([chip]=192.0.2.11 [cometa]=192.0.2.9 [illimani]=192.0.2.10)
declare -gA LAB_SIDE=([cometa]=10.65.9.1 [illimani]=10.65.10.1)
declare -gA LAB_SIDE_PEER=([cometa]=10.65.9.2 [illimani]=10.65.10.2)
declare -gA LAB_TINC_PID=()
declare -gA LAB_NODE_PIDS=()
declare -ga LAB_PIDS=()
LAB_TARGET=10.65.2.8
LAB_DEST=10.64.0.0/11
LAB_PREFIX_LEN=27
LAB_PID=
LAB_TMP=

lab_log() { printf 'lab: %s\n' "$*" >&2; }
lab_die() {
  lab_log "error: $*"
  exit 1
}
lab_now_ms() {  # e.g. 1795622149679.068
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s.%s\n' "${t::-3}" "${t: -3}"
}
lab_ms_int() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

lab_init() {
  local name=${1:-lab} tool
  [[ $(id -u) -eq 0 ]] || lab_die "needs root (network namespaces, tun devices)"
  for tool in ip tincd jq ping nft setsid; do
    command -v "$tool" >/dev/null 2>&1 || lab_die "$tool is not installed"
  done
  [[ -x $MESHBROKER ]] || lab_die "$MESHBROKER is not built"
  LAB_ID=${LAB_ID:-$$}
  LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshbroker-$name.XXXXXX")
  local node
  for node in inet chip cometa illimani meshhost; do LAB_NS[$node]="fo-$node-$LAB_ID"; done
}

lab_trap() {
  trap lab_down EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

lab_exec() {
  local node=$1
  shift
  ip netns exec "${LAB_NS[$node]}" "$@"
}

lab_spawn() {
  local node=$1 name=$2
  shift 2
  # setsid: its own process group, so a stop takes its children too, and Ctrl-C reaches only
  # the script (whose trap stops everything in order). Not a group leader here, so setsid
  # execs in place and $! is the command's own PID (ip netns exec execs too).
  setsid ip netns exec "${LAB_NS[$node]}" "$@" </dev/null >>"$LAB_TMP/$name.log" 2>&1 &
  LAB_PID=$!
  LAB_PIDS+=("$LAB_PID")
  LAB_NODE_PIDS[$node]+=" $LAB_PID"
}

lab_stop() {
  local pid=$1 i node
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -CONT -- "-$pid" 2>/dev/null || true
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 250; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  # Forgotten, so a later cleanup or poweroff never signals a reused PID.
  for i in "${!LAB_PIDS[@]}"; do [[ ${LAB_PIDS[$i]} == "$pid" ]] && unset 'LAB_PIDS[i]'; done
  local kept p
  for node in "${!LAB_NODE_PIDS[@]}"; do
    kept=
    for p in ${LAB_NODE_PIDS[$node]}; do [[ $p == "$pid" ]] || kept+=" $p"; done
    LAB_NODE_PIDS[$node]=$kept
  done
  return 0
}

lab_wait() {
  local limit=$1 what=$2
  shift 2
  local deadline=$(($(lab_ms_int) + limit * 1000))
  until "$@" >/dev/null 2>&1; do
    if (($(lab_ms_int) >= deadline)); then
      lab_log "timed out after ${limit}s waiting for: $what"
      return 1
    fi
    sleep 0.02
  done
}

lab_down() {
  local rc=$? pid ns i
  set +e
  trap - EXIT INT TERM
  for pid in "${LAB_PIDS[@]}"; do
    kill -CONT -- "-$pid" 2>/dev/null
    kill -TERM -- "-$pid" 2>/dev/null
  done
  for pid in "${LAB_PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  LAB_PIDS=()
  for ns in "${LAB_NS[@]}"; do
    ip netns list 2>/dev/null | grep -qw -- "$ns" || continue
    # Whatever still runs inside (a tincd whose parent died, a hook) goes with its namespace.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
  done
  if [[ -n $LAB_TMP && -d $LAB_TMP ]]; then
    if [[ -n ${LAB_KEEP:-} ]]; then lab_log "keeping $LAB_TMP"; else rm -rf -- "$LAB_TMP"; fi
  fi
  return "$rc"
}

# --- topology ------------------------------------------------------------------------------

lab_sysctl() {  # NODE KEY=VALUE...
  local node=$1
  shift
  lab_exec "$node" sysctl -qw "$@" >/dev/null
}

lab_veth() {  # NODE_A IF_A NODE_B IF_B
  ip link add "$2" netns "${LAB_NS[$1]}" type veth peer name "$4" netns "${LAB_NS[$3]}"
}

lab_topology() {
  local node gw
  for node in inet chip cometa illimani meshhost; do
    ip netns add "${LAB_NS[$node]}" || lab_die "cannot create network namespace ${LAB_NS[$node]}"
    ip -n "${LAB_NS[$node]}" link set lo up
    # Loose source checks: meshhost answers over whichever gateway its multipath route picks.
    lab_sysctl "$node" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
  done
  lab_sysctl meshhost net.ipv4.conf.all.ignore_routes_with_linkdown=1 \
    net.ipv4.conf.default.ignore_routes_with_linkdown=1

  # The Internet: one bridge, every node's uplink on it.
  ip -n "${LAB_NS[inet]}" link add br0 type bridge
  ip -n "${LAB_NS[inet]}" link set br0 up
  for node in chip "${LAB_GATEWAYS[@]}"; do
    lab_veth inet "p-$node" "$node" uplink
    ip -n "${LAB_NS[inet]}" link set "p-$node" master br0 up
    ip -n "${LAB_NS[$node]}" addr add "${LAB_UNDERLAY[$node]}/24" dev uplink
    ip -n "${LAB_NS[$node]}" link set uplink up
  done

  # Behind the gateways: meshhost, one link per gateway.
  ip -n "${LAB_NS[meshhost]}" addr add "$LAB_TARGET/32" dev lo
  local hops=()
  for gw in "${LAB_GATEWAYS[@]}"; do
    lab_sysctl "$gw" net.ipv4.ip_forward=1
    lab_veth "$gw" mesh0 meshhost "gw-$gw"
    ip -n "${LAB_NS[$gw]}" addr add "${LAB_SIDE[$gw]}/24" dev mesh0
    ip -n "${LAB_NS[meshhost]}" addr add "${LAB_SIDE_PEER[$gw]}/24" dev "gw-$gw"
    lab_sysctl meshhost "net.ipv4.conf.gw-$gw.ignore_routes_with_linkdown=1"
    ip -n "${LAB_NS[$gw]}" link set mesh0 up
    ip -n "${LAB_NS[meshhost]}" link set "gw-$gw" up
    lab_gateway_route "$gw"
    hops+=(nexthop via "${LAB_SIDE[$gw]}" dev "gw-$gw")
  done
  ip -n "${LAB_NS[meshhost]}" route add "100.64.12.0/$LAB_PREFIX_LEN" "${hops[@]}"
}

# The gateway's route to what lies behind it (the kernel drops it when mesh0 goes down).
lab_gateway_route() {
  ip -n "${LAB_NS[$1]}" route replace "$LAB_DEST" via "${LAB_SIDE_PEER[$1]}" dev mesh0
}

# --- configs, keys, tinc -------------------------------------------------------------------

lab_config() {
  local node=$1 out=$2
  shift 2
  local dir="$LAB_TMP/$node"
  local filter=".paths.state_dir = \"$dir/state\" | .paths.runtime_dir = \"$dir/run\""
  filter+=' | .hosts |= map(select(.name == "chip" or .name == "cometa" or .name == "illimani"))'
  filter+=' | .openvpn = []'
  filter+=' | .tinc.connect_to = (if .role == "gateway" then ["chip"] else [] end)'
  local f
  for f in "$@"; do filter+=" | $f"; done
  jq "$filter" "$LAB_ROOT/examples/seed/$node.json" >"$out" || lab_die "jq failed on $node's config"
}

lab_configs() {
  local node
  mkdir -p "$LAB_TMP/keys"
  local -A keygen=()
  for node in chip "${LAB_GATEWAYS[@]}"; do
    lab_config "$node" "$LAB_TMP/$node.json"
    # RSA 3072 takes a few seconds each: all three at once.
    "$MESHBROKER" keygen -c "$LAB_TMP/$node.json" >/dev/null 2>>"$LAB_TMP/$node.keygen.log" &
    keygen[$node]=$!
  done
  for node in chip "${LAB_GATEWAYS[@]}"; do
    wait "${keygen[$node]}" || lab_die "keygen failed for $node (see $LAB_TMP/$node.keygen.log)"
    cp -- "$LAB_TMP/$node/state/tinc/rsa_key.pub" "$LAB_TMP/keys/$node.pub"
  done
  for node in chip "${LAB_GATEWAYS[@]}"; do
    "$MESHBROKER" render -c "$LAB_TMP/$node.json" -o "$LAB_TMP/$node/rendered" \
      >>"$LAB_TMP/$node.render.log" 2>&1 || lab_die "render failed for $node"
  done
}

lab_tinc_start() {
  local node=$1
  lab_spawn "$node" "tincd-$node" tincd -c "$LAB_TMP/$node/rendered/tinc" -D -d1 \
    --pidfile="$LAB_TMP/$node/tincd.pid"
  LAB_TINC_PID[$node]=$LAB_PID
}

lab_tinc_stop() {
  local node=$1
  lab_stop "${LAB_TINC_PID[$node]:-}"
  LAB_TINC_PID[$node]=
}

lab_redial() {
  local gw
  for gw in "${LAB_GATEWAYS[@]}"; do
    # Only tincd itself: a signal to its group would also hit its running hook scripts.
    [[ -n ${LAB_TINC_PID[$gw]:-} ]] && kill -ALRM "${LAB_TINC_PID[$gw]}" 2>/dev/null
  done
  return 0
}

lab_ping() {  # NODE ADDRESS
  lab_exec "$1" ping -n -c1 -W1 "$2"
}

# True when the server reaches both gateways over the mesh.
lab_mesh_up() {
  local gw
  for gw in "${LAB_GATEWAYS[@]}"; do lab_ping chip "${LAB_MESH[$gw]}" >/dev/null || return 1; done
}

# True once the mesh is up under a tincd started after the gateways' (e.g. by meshbroker run):
# the gateways are told to redial it at once instead of waiting out tinc's back-off.
lab_mesh_up_redialing() {
  local i
  for ((i = 0; i < 40; i++)); do
    sleep 0.5
    lab_redial
    lab_wait 1 "mesh" lab_mesh_up 2>/dev/null && return 0
  done
  return 1
}

lab_up() {
  lab_log "namespaces fo-*-$LAB_ID, files in $LAB_TMP"
  lab_topology
  lab_configs
  local gw
  for gw in "${LAB_GATEWAYS[@]}"; do lab_tinc_start "$gw"; done
  if [[ ${LAB_SERVER_TINC:-manual} != none ]]; then
    lab_tinc_start chip
    lab_wait 30 "the mesh (chip pings both gateways)" lab_mesh_up || lab_die "the mesh did not come up"
  fi
  # The path through each gateway, without touching chip's routes: from the gateway itself.
  for gw in "${LAB_GATEWAYS[@]}"; do
    lab_ping "$gw" "$LAB_TARGET" >/dev/null || lab_die "$gw cannot reach $LAB_TARGET"
  done
}

lab_route_via() {  # NODE PREFIX
  ip -n "${LAB_NS[$1]}" -o route show exact "$2" 2>/dev/null |
    awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } }'
}

# --- cuts ----------------------------------------------------------------------------------

lab_signal_node() {  # SIGNAL NODE: to every process group started in NODE's namespace
  local pid
  for pid in ${LAB_NODE_PIDS[$2]:-}; do kill "-$1" -- "-$pid" 2>/dev/null || true; done
}

lab_loss_on() {  # GW PERCENT
  local gw=$1 pct=$2
  # netdev ingress/egress hooks: the loss is on the wire, the sender sees no error.
  if ! lab_exec "$gw" nft -f - 2>/dev/null <<EOF; then
table netdev lab_loss {
  chain in { type filter hook ingress device "uplink" priority 0; numgen random mod 100 < $pct drop; }
  chain out { type filter hook egress device "uplink" priority 0; numgen random mod 100 < $pct drop; }
}
EOF
    # Older kernels have no egress hook: input/output instead (local tincd traffic is all of it).
    lab_exec "$gw" nft -f - <<EOF || lab_die "nft loss rule failed in $gw"
table inet lab_loss {
  chain in { type filter hook input priority 0; iifname "uplink" numgen random mod 100 < $pct drop; }
  chain out { type filter hook output priority 0; oifname "uplink" numgen random mod 100 < $pct drop; }
}
EOF
  fi
}

lab_loss_off() {
  lab_exec "$1" nft delete table netdev lab_loss 2>/dev/null || true
  lab_exec "$1" nft delete table inet lab_loss 2>/dev/null || true
}

lab_cut() {
  local gw=$1 kind=$2 ns=${LAB_NS[$1]}
  case $kind in
    poweroff)
      ip -n "$ns" link set uplink down
      ip -n "$ns" link set mesh0 down
      lab_signal_node STOP "$gw"
      ;;
    uplink) ip -n "$ns" link set uplink down ;;
    meshside) ip -n "$ns" link set mesh0 down ;;
    loss[0-9]*) lab_loss_on "$gw" "${kind#loss}" ;;
    *) lab_die "unknown cut \"$kind\" (poweroff, uplink, meshside, lossN)" ;;
  esac
}

lab_restore() {
  local gw=$1 kind=$2 ns=${LAB_NS[$1]}
  case $kind in
    poweroff)
      ip -n "$ns" link set uplink up
      ip -n "$ns" link set mesh0 up
      lab_gateway_route "$gw"
      lab_signal_node CONT "$gw"
      ;;
    uplink) ip -n "$ns" link set uplink up ;;
    meshside)
      ip -n "$ns" link set mesh0 up
      lab_gateway_route "$gw"
      ;;
    loss[0-9]*) lab_loss_off "$gw" ;;
    *) lab_die "unknown cut \"$kind\"" ;;
  esac
  [[ -n ${LAB_TINC_PID[$gw]:-} ]] && kill -ALRM "${LAB_TINC_PID[$gw]}" 2>/dev/null
  return 0
}
