# shellcheck shell=bash
# lab/seed.sh — the seed network of examples/seed/, every node in its own network namespace,
# with real tincd, OpenVPN, babeld and a meshbroker on every server and gateway, a mesh behind
# the gateways and a user laptop on OpenVPN: what scripts/demo brings up. The network outlives
# the script that built it (LAB_ID is empty: namespaces PREFIX-NODE, e.g. mbdemo-chip; no
# lab_init, no cleanup trap): its daemons run in their own sessions, log to $SEED_OUT/logs, and
# seed_down finds them again through the namespaces.
#
#                       netns PREFIX-inet: bridge br0, "the Internet", 192.0.2.0/24
#   +--------------+--------------+--------------+--------------+------------------+
#   chip           comegato       cometa         home (NAT)     laptop
#   192.0.2.11     192.0.2.12     192.0.2.9      192.0.2.20     192.0.2.50
#   server         server         gateway        masquerades    openvpn client
#   tinc, openvpn  tinc, openvpn  tinc, babeld   | 192.168.10.1 (laptop's profile
#   public+private public         mesh0          |              from client add)
#   meshbroker     meshbroker     meshbroker     illimani 192.168.10.2: gateway behind NAT
#   route set mesh route set mesh    |           (dials out only), tinc, babeld, meshbroker
#   failover       balance 2:1       |                 | mesh0
#   cometa>illimani                  +---- meshhost ---+   babel on both links; 10.65.2.8
#
# tinc mesh 100.64.12.0/27 (chip .11, comegato .12, cometa .9, illimani .10) over the uplinks;
# OpenVPN clients 172.16.1.64/27 (chip public), .96/27 (chip private: the laptop), .128/27
# (comegato public); the mesh 10.64.0.0/11 is reached through the gateways, and babeld carries
# the way back (the client subnets, which each gateway's meshbroker keeps routed via the
# servers) into the mesh. IPv6 alongside (dual stack, no NAT either): tinc mesh fd00:64:12::/64
# (chip ::11, comegato ::12, cometa ::9, illimani ::a), pools fd00:172:16:3::/64 (chip public),
# fd00:172:16:1::/64 (chip private: the laptop), fd00:172:16:2::/64 (comegato public), the mesh
# host fd00:65:2::8 in fd00:65::/32; babeld carries both families (over link-local next hops). The status pages listen on each node's uplink address (illimani's on
# 127.0.0.1) port 8655 and can be forwarded to this machine's loopback by socat. Nothing is
# added to this machine's own network: 192.0.2.0/24 may be real here.
#
#   source "$ROOT/lab/seed.sh"
#   LAB_NAME=demo LAB_PREFIX=mbdemo SEED_OUT=$ROOT/demo-out SEED_FORWARD_PORT=18655
#   MESHBROKER=build/meshbroker
#   seed_init; seed_down; seed_prepare; seed_topology; seed_start_all; seed_forwards_start
#   seed_test
#
# Functions (the core's lab_exec, lab_route_via, lab_wait, ... work on the nodes inet chip
# comegato cometa home illimani meshhost laptop; every failure is lab_fail, never a skip):
#   seed_init           names the namespaces (LAB_NS) for this run, logs into $SEED_OUT/logs.
#   seed_running        true when the seed network's namespaces exist (chip's).
#   seed_prepare        $SEED_OUT/NODE.json (the seed config localized: state, PKI and token in
#                       $SEED_OUT, status page on the uplink), tinc keys (kept when present),
#                       `meshbroker check`, one OpenVPN PKI for both servers and laptop.ovpn.
#   seed_topology       namespaces, the Internet bridge, the home NAT router, the mesh links
#                       and the mesh host's source-address set (proof that nobody NATs).
#   seed_babel_conf NODE / seed_babel_start NODE   babeld for a gateway or the mesh host.
#   seed_spawn NODE NAME CMD..  a daemon in NODE's namespace (lab_spawn, then disowned: it
#                       lives until seed_down), log $SEED_OUT/logs/NAME.log.
#   seed_start_all      meshbroker on the servers, then the gateways and babeld; waits for the
#                       tinc mesh (seed_mesh_up_redialing), the gateways' verdicts
#                       (seed_gateways_up), babel's routes, chip's route on cometa with both
#                       gateways up (seed_chip_settled), then the laptop's OpenVPN tunnel.
#   seed_mesh_up / seed_mesh_report [--logs] / seed_mesh_up_redialing / seed_redial NODE..
#   seed_gateways_up / seed_babel_routes / seed_tinc_listening NODE
#   seed_api NODE PATH / seed_verdict SERVER GATEWAY / seed_status_listen NODE
#   seed_laptop_addr / seed_laptop_reaches   the laptop's tunnel address / a ping to the host.
#   seed_laptop_addr6 / seed_laptop_reaches6 the same for IPv6.
#   seed_gateway_of ADDR  the gateway whose mesh address is ADDR.
#   seed_chip_via / seed_chip_via_is ADDR   chip's next hop to the mesh / true when it is ADDR.
#   seed_chip_sees_up GATEWAY / seed_chip_settled   chip's verdict on GATEWAY is up / both are
#                       up and chip routes via cometa, the gateway it prefers.
#   seed_test           the seed's own test: traceroute and traceroute -6 laptop -> chip -> the
#                       active gateway -> the mesh host, which sees the laptop's own addresses
#                       (IPv4 and IPv6); no NAT rules.
#   seed_power_off NODE / seed_power_on NODE   uplink (and a gateway's mesh side) down, every
#                       process in the namespace SIGSTOPped / undone, and tincd told to redial.
#   seed_forward_port NODE / seed_forwards_start / seed_forwards_stop   the status pages on
#                       127.0.0.1:SEED_FORWARD_PORT.. (+3), one socat each (pid in $SEED_OUT/run).
#   seed_down           everything in the namespaces TERMed (meshbroker stops its tincd and
#                       openvpn), KILLed after 5 s, the namespaces and the forwarders gone.
#   seed_leftovers      prints what is left (namespaces, interfaces, processes); 1 if anything.
#
# Globals: SEED_OUT (configs, keys, PKI, token, logs), SEED_FORWARD_PORT (0: no forwarding),
# MESHBROKER (the binary, core), SEED_SERVERS, SEED_GATEWAYS, SEED_NODES (the four meshbroker
# nodes), SEED_NAMESPACES, SEED_UPLINK[node], SEED_MESH[node], SEED_SIDE[gw],
# SEED_SIDE_PEER[gw], SEED_MESHHOST (10.65.2.8), SEED_DEST (10.64.0.0/11),
# SEED_LAPTOP_TUN_GW (172.16.1.97), SEED_PORT (8655); IPv6: SEED_MESH6[node], SEED_MESHHOST6
# (fd00:65:2::8), SEED_DEST6 (fd00:65::/32), SEED_LAPTOP_TUN_GW6 (fd00:172:16:1::1).

if [[ -n ${LAB_SEED_LOADED:-} ]]; then
  return 0
fi
LAB_SEED_LOADED=1
# shellcheck source=SCRIPTDIR/core.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/core.sh"
LAB_PREFIX=mbdemo
LAB_ID= # the network outlives the script: PREFIX-NODE

SEED_OUT=${SEED_OUT:-$LAB_ROOT/demo-out}
SEED_FORWARD_PORT=${SEED_FORWARD_PORT:-0}
SEED_CONFIGS=$LAB_ROOT/examples/seed
declare -ga SEED_SERVERS=(chip comegato)
declare -ga SEED_GATEWAYS=(cometa illimani)
declare -ga SEED_NODES=("${SEED_SERVERS[@]}" "${SEED_GATEWAYS[@]}")
declare -ga SEED_NAMESPACES=(inet chip comegato cometa home illimani meshhost laptop)
declare -gA SEED_UPLINK=([chip]=192.0.2.11 [comegato]=192.0.2.12 [cometa]=192.0.2.9
  [home]=192.0.2.20 [laptop]=192.0.2.50 [illimani]=192.168.10.2)
declare -gA SEED_MESH=([chip]=100.64.12.11 [comegato]=100.64.12.12 [cometa]=100.64.12.9
  [illimani]=100.64.12.10)
declare -gA SEED_SIDE=([cometa]=10.65.9.1 [illimani]=10.65.10.1)      # gateway end, mesh side
declare -gA SEED_SIDE_PEER=([cometa]=10.65.9.2 [illimani]=10.65.10.2) # meshhost end
SEED_MESHHOST=10.65.2.8
SEED_DEST=10.64.0.0/11
SEED_LAPTOP_TUN_GW=172.16.1.97 # chip's end of its private instance (the laptop's first hop)
declare -gA SEED_MESH6=([chip]=fd00:64:12::11 [comegato]=fd00:64:12::12 [cometa]=fd00:64:12::9
  [illimani]=fd00:64:12::a)
SEED_MESHHOST6=fd00:65:2::8
SEED_DEST6=fd00:65::/32
SEED_LAPTOP_TUN_GW6=fd00:172:16:1::1 # OpenVPN's server-ipv6 takes ::1 of the pool
SEED_PORT=8655

seed_init() {
  local node
  LAB_LOGS=$SEED_OUT/logs
  for node in "${SEED_NAMESPACES[@]}"; do LAB_NS[$node]=$(lab_ns "$node"); done
}

seed_running() { [[ -e /run/netns/$(lab_ns chip) ]]; }

seed_spawn() {
  lab_spawn "$@"
  disown "$LAB_PID"
  lab_forget "$LAB_PID"
}

seed_gateway_of() {
  local gw
  for gw in "${SEED_GATEWAYS[@]}"; do
    if [[ ${SEED_MESH[$gw]} == "$1" ]]; then
      echo "$gw"
      return 0
    fi
  done
  echo "${1:-none}"
}

seed_chip_via() { lab_route_via chip "$SEED_DEST"; }
seed_chip_via6() { ip -n "${LAB_NS[chip]}" -6 route show "$SEED_DEST6" | awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } }'; }
seed_chip_via_is() { [[ $(seed_chip_via) == "$1" ]]; }
seed_chip_sees_up() { [[ $(seed_verdict chip "$1") == up ]]; }
# chip's steady state: both gateways up, its routes (both families: each has a through probe of
# its own) on the one it prefers (cometa).
seed_chip_settled() {
  seed_chip_sees_up cometa && seed_chip_sees_up illimani && seed_chip_via_is "${SEED_MESH[cometa]}" &&
    [[ $(seed_chip_via6) == "${SEED_MESH6[cometa]}" ]]
}

seed_status_listen() { if [[ $1 == illimani ]]; then echo 127.0.0.1; else echo "${SEED_UPLINK[$1]}"; fi; }
seed_api() { lab_exec "$1" curl -sS --max-time 3 "http://$(seed_status_listen "$1"):$SEED_PORT$2"; }
seed_verdict() {
  seed_api "$1" /api/v1/gateways 2>/dev/null | jq -r ".gateways[] | select(.name == \"$2\") | .verdict"
}

# --- down ----------------------------------------------------------------------------------

seed_pids() {
  local node
  for node in "${SEED_NAMESPACES[@]}"; do
    [[ -e /run/netns/${LAB_NS[$node]} ]] && ip netns pids "${LAB_NS[$node]}" 2>/dev/null
  done
  return 0
}
seed_no_pids() { [[ -z $(seed_pids) ]]; }

seed_down() {
  local node name pids
  pids=$(seed_pids)
  if [[ -n $pids ]]; then
    # meshbroker first, politely: it stops tincd and openvpn itself.
    # shellcheck disable=SC2086
    kill -CONT $pids 2>/dev/null || true
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    lab_wait 5 "the seed network's processes to stop (then SIGKILL)" seed_no_pids || true
  fi
  for node in "${SEED_NAMESPACES[@]}"; do
    name=${LAB_NS[$node]}
    [[ -e /run/netns/$name ]] || continue
    ip netns pids "$name" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns delete "$name" 2>/dev/null || lab_log "warning: could not delete namespace $name"
  done
  seed_forwards_stop
  return 0
}

# Nothing of the seed network left: namespaces, processes started in them, host interfaces.
seed_leftovers() {
  local node link left=()
  for node in "${SEED_NAMESPACES[@]}"; do
    [[ -e /run/netns/${LAB_NS[$node]} ]] && left+=("namespace ${LAB_NS[$node]}")
  done
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{ print $2 }' | cut -d@ -f1); do
    [[ $link == "$LAB_PREFIX"* ]] && left+=("interface $link")
  done
  pgrep -f -- "ip netns exec $LAB_PREFIX-" >/dev/null 2>&1 &&
    left+=("forwarders: $(pgrep -f -d, -- "ip netns exec $LAB_PREFIX-")")
  pgrep -f -- "$SEED_OUT/" >/dev/null 2>&1 && left+=("processes: $(pgrep -f -d, -- "$SEED_OUT/")")
  ((${#left[@]} == 0)) || {
    printf '%s\n' "${left[@]}"
    return 1
  }
}

# --- topology ------------------------------------------------------------------------------

seed_topology() {
  local node gw
  for node in "${SEED_NAMESPACES[@]}"; do
    [[ ! -e /run/netns/$(lab_ns "$node") ]] ||
      lab_fail "network namespace $(lab_ns "$node") exists already (seed_down first)"
  done
  # A namespace that cannot be created is an error here, never a skip.
  MESHBROKER_NO_SKIP=1 lab_ns_add "${SEED_NAMESPACES[@]}"
  for node in "${SEED_NAMESPACES[@]}"; do
    # Paths are asymmetric on purpose (comegato balances; the mesh picks its own way back).
    lab_sysctl "$node" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    # Links made from here on get their IPv6 link-local address at once (babeld needs one).
    lab_sysctl "$node" net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.accept_dad=0
  done
  for node in chip comegato cometa illimani home; do lab_sysctl "$node" net.ipv4.ip_forward=1; done
  for node in chip comegato cometa illimani; do lab_sysctl "$node" net.ipv6.conf.all.forwarding=1; done

  # The Internet.
  lab_bridge inet
  for node in chip comegato cometa home laptop; do
    lab_bridge_port inet "$node" uplink "${SEED_UPLINK[$node]}/24"
  done

  # illimani's home line: a router that masquerades everything it sends out (a CGNAT line:
  # nobody can dial illimani; it dials out). The only NAT in the network, on the underlay.
  lab_link home lan 192.168.10.1/24 illimani uplink "${SEED_UPLINK[illimani]}/24"
  ip -n "${LAB_NS[illimani]}" route add default via 192.168.10.1
  lab_exec home nft -f - <<'EOF' || lab_fail "nft masquerade rule failed in the home router"
table ip homenat {
  chain postrouting { type nat hook postrouting priority srcnat; oifname "uplink" masquerade; }
}
EOF

  # The mesh behind the gateways: one link each to the mesh host, babel on both.
  lab_sysctl meshhost net.ipv4.conf.all.ignore_routes_with_linkdown=1 \
    net.ipv6.conf.all.ignore_routes_with_linkdown=1
  ip -n "${LAB_NS[meshhost]}" addr add "$SEED_MESHHOST/32" dev lo
  ip -n "${LAB_NS[meshhost]}" -6 addr add "$SEED_MESHHOST6/128" dev lo
  for gw in "${SEED_GATEWAYS[@]}"; do
    lab_link "$gw" mesh0 "${SEED_SIDE[$gw]}/24" meshhost "gw-$gw" "${SEED_SIDE_PEER[$gw]}/24"
  done
  # Who reaches the mesh host, by source address: proof that nobody NATs the laptop.
  lab_exec meshhost nft -f - <<EOF || lab_fail "nft source-address set failed in the mesh host"
table inet demo {
  set sources { type ipv4_addr; flags dynamic, timeout; timeout 10m; }
  set sources6 { type ipv6_addr; flags dynamic, timeout; timeout 10m; }
  chain input {
    type filter hook input priority 0;
    ip daddr $SEED_MESHHOST update @sources { ip saddr }
    ip6 daddr $SEED_MESHHOST6 update @sources6 { ip6 saddr }
  }
}
EOF
}

seed_babel_conf() { # NODE -> babeld.conf
  local node=$1
  echo "# babeld for $node (lab/seed.sh); first matching redistribute rule wins"
  echo "link-detect true"
  if [[ $node == meshhost ]]; then
    local gw
    for gw in "${SEED_GATEWAYS[@]}"; do echo "interface gw-$gw type wired hello-interval 0.5"; done
    echo "redistribute local ip $SEED_MESHHOST/32 allow"
    echo "redistribute local ip $SEED_MESHHOST6/128 allow"
  else
    echo "interface mesh0 type wired hello-interval 0.5"
    echo "redistribute ip 100.64.12.0/27 eq 27 allow    # the tinc mesh (connected)"
    echo "redistribute ip 172.16.1.0/24 ge 25 proto 177 allow  # OpenVPN clients, via the servers"
    echo "redistribute ip fd00:64:12::/64 eq 64 allow   # the tinc mesh, IPv6"
    echo "redistribute ip fd00:172:16::/48 ge 64 proto 177 allow  # OpenVPN clients' IPv6 pools"
  fi
  echo "redistribute local deny"
  echo "redistribute deny"
}

seed_babel_start() {
  local node=$1 dir=$SEED_OUT/$1/babel
  mkdir -p "$dir"
  seed_babel_conf "$node" >"$dir/babeld.conf"
  rm -f -- "$dir/babeld.pid"
  seed_spawn "$node" "babeld-$node" babeld -c "$dir/babeld.conf" -S "$dir/babel-state" -I "$dir/babeld.pid"
}

# The status pages on this machine's loopback: socat listens on 127.0.0.1:PORT here and runs,
# per connection, a socat inside the node's namespace to its listener.
seed_forward_port() { # NODE -> this machine's port for its page
  local i
  for i in "${!SEED_NODES[@]}"; do
    [[ ${SEED_NODES[$i]} == "$1" ]] && echo $((SEED_FORWARD_PORT + i))
  done
  return 0
}

seed_forwards_start() {
  ((SEED_FORWARD_PORT > 0)) || return 0
  local node port
  mkdir -p "$SEED_OUT/run"
  for node in "${SEED_NODES[@]}"; do
    port=$(seed_forward_port "$node")
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      lab_log "warning: 127.0.0.1:$port is taken: $node's page is not forwarded (set DEMO_PORT)"
      continue
    fi
    seed_spawn - "forward-$node" socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" \
      "EXEC:ip netns exec ${LAB_NS[$node]} socat STDIO TCP\:$(seed_status_listen "$node")\:$SEED_PORT"
    echo "$LAB_PID" >"$SEED_OUT/run/forward-$node.pid"
  done
}

seed_forwards_stop() {
  local node pid
  for node in "${SEED_NODES[@]}"; do
    pid=$(cat "$SEED_OUT/run/forward-$node.pid" 2>/dev/null) || continue
    # Only if it still is our socat (the pid may have been reused since).
    if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == socat ]]; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f -- "$SEED_OUT/run/forward-$node.pid"
  done
}

# --- configs, keys, PKI --------------------------------------------------------------------

seed_node_config() { # NODE: the seed config, localized to $SEED_OUT
  local node=$1 dir=$SEED_OUT/$1 listen
  listen=$(seed_status_listen "$node")
  local filter=".paths = {\"state_dir\": \"$dir/state\", \"runtime_dir\": \"$dir/run\""
  [[ $node == chip || $node == comegato ]] && filter+=", \"pki_dir\": \"$SEED_OUT/pki\""
  filter+="} | .status = ((.status // {}) + {\"listen\": \"$listen\", \"port\": $SEED_PORT,"
  filter+=" \"token_file\": \"$SEED_OUT/token\"})"
  # tincd drops root to meshbroker-tinc and then reads its config under $dir: a folder that
  # user cannot enter (a clone under /root, mode 0700) keeps the demo's tincd root.
  if ! lab_user_reaches meshbroker-tinc "$dir"; then
    filter+=' | .supervisor = ((.supervisor // {}) + {"tinc_user": "root"})'
    SEED_TINC_ROOT=1
  fi
  jq "$filter" "$SEED_CONFIGS/$node.json" >"$SEED_OUT/$node.json.new" ||
    lab_fail "jq failed on $SEED_CONFIGS/$node.json"
  mv -f -- "$SEED_OUT/$node.json.new" "$SEED_OUT/$node.json"
}

seed_prepare() {
  local out=$SEED_OUT node
  mkdir -p "$out/keys" "$out/logs"
  lab_service_users
  SEED_TINC_ROOT=0
  if [[ ! -s $out/token ]]; then
    (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$out/token" && echo >>"$out/token")
  fi
  chmod 600 "$out/token"
  local -A job=()
  for node in "${SEED_NODES[@]}"; do
    mkdir -p "$out/$node"
    seed_node_config "$node"
    if [[ -e $out/$node/state/tinc/rsa_key.priv ]]; then continue; fi
    # RSA 3072 takes seconds: all at once.
    "$MESHBROKER" keygen -c "$out/$node.json" >/dev/null 2>"$out/logs/keygen-$node.log" &
    job[$node]=$!
  done
  for node in "${!job[@]}"; do
    wait "${job[$node]}" || {
      cat -- "$out/logs/keygen-$node.log" >&2
      lab_fail "keygen failed for $node"
    }
  done
  for node in "${SEED_NODES[@]}"; do
    cp -- "$out/$node/state/tinc/rsa_key.pub" "$out/keys/$node.pub"
  done
  for node in "${SEED_NODES[@]}"; do
    "$MESHBROKER" check -c "$out/$node.json" >"$out/logs/check-$node.log" 2>&1 || {
      cat -- "$out/logs/check-$node.log" >&2
      lab_fail "meshbroker check rejected $out/$node.json"
    }
  done
  # One PKI for both servers, so the laptop's profile works on either.
  for node in "${SEED_SERVERS[@]}"; do
    "$MESHBROKER" client init -c "$out/$node.json" >>"$out/logs/pki.log" 2>&1 || {
      tail -n 20 -- "$out/logs/pki.log" >&2
      lab_fail "client init failed for $node"
    }
  done
  if [[ ! -s $out/laptop.ovpn ]]; then
    "$MESHBROKER" client add laptop -c "$out/chip.json" -o "$out/laptop.ovpn" >>"$out/logs/pki.log" 2>&1 || {
      tail -n 20 -- "$out/logs/pki.log" >&2
      lab_fail "client add laptop failed"
    }
  fi
  if ((SEED_TINC_ROOT)); then
    lab_log "note: meshbroker-tinc cannot enter $out (clone outside /root to see tincd drop root): the demo's tincd keeps root"
  fi
}

# --- bringing it up ------------------------------------------------------------------------

seed_tinc_listening() { lab_exec "$1" ss -Hltn "sport = :655" | grep -q .; }

# Every server reaches every other node over tinc, both ways (a pair can be one-sided).
seed_mesh_up() {
  local server node
  for server in "${SEED_SERVERS[@]}"; do
    for node in "${SEED_NODES[@]}"; do
      [[ $node == "$server" ]] && continue
      lab_ping "$server" "${SEED_MESH[$node]}" >/dev/null 2>&1 || return 1
      lab_ping "$node" "${SEED_MESH[$server]}" >/dev/null 2>&1 || return 1
    done
  done
}

seed_gateways_up() {
  local server gw
  for server in "${SEED_SERVERS[@]}"; do
    for gw in "${SEED_GATEWAYS[@]}"; do [[ $(seed_verdict "$server" "$gw") == up ]] || return 1; done
  done
}

# The mesh host knows the way back to the laptop; the gateways know the way to the host.
seed_babel_routes() {
  ip -n "${LAB_NS[meshhost]}" route show 172.16.1.96/27 proto babel | grep -q via &&
    ip -n "${LAB_NS[cometa]}" route show "$SEED_MESHHOST" proto babel | grep -q via &&
    ip -n "${LAB_NS[illimani]}" route show "$SEED_MESHHOST" proto babel | grep -q via &&
    ip -n "${LAB_NS[meshhost]}" -6 route show fd00:172:16:1::/64 proto babel | grep -q via &&
    ip -n "${LAB_NS[cometa]}" -6 route show "$SEED_MESHHOST6" proto babel | grep -q via &&
    ip -n "${LAB_NS[illimani]}" -6 route show "$SEED_MESHHOST6" proto babel | grep -q via
}

seed_laptop_addr() {
  ip -n "${LAB_NS[laptop]}" -4 -o addr show dev tun0 2>/dev/null | awk '{ split($4, a, "/"); print a[1]; exit }'
}
seed_laptop_reaches() { lab_ping laptop "$SEED_MESHHOST"; }
seed_laptop_addr6() {
  ip -n "${LAB_NS[laptop]}" -6 -o addr show dev tun0 scope global 2>/dev/null |
    awk '{ split($4, a, "/"); print a[1]; exit }'
}
seed_laptop_reaches6() { lab_exec laptop ping -6 -n -c 1 -W 1 "$SEED_MESHHOST6" >/dev/null 2>&1; }

# SIGALRM: tincd retries its ConnectTo peers now instead of after its back-off.
seed_redial() {
  local node pid
  for node in "$@"; do
    for pid in $(ip netns pids "${LAB_NS[$node]}" 2>/dev/null); do
      [[ $(cat "/proc/$pid/comm" 2>/dev/null) == tincd ]] && kill -ALRM "$pid" 2>/dev/null
    done
  done
  return 0
}

seed_mesh_report() {
  local server node
  for server in "${SEED_SERVERS[@]}"; do
    for node in "${SEED_NODES[@]}"; do
      [[ $node == "$server" ]] && continue
      lab_ping "$server" "${SEED_MESH[$node]}" >/dev/null 2>&1 || lab_log "$server cannot reach $node over tinc"
      lab_ping "$node" "${SEED_MESH[$server]}" >/dev/null 2>&1 || lab_log "$node cannot reach $server over tinc"
    done
  done
  [[ ${1:-} == --logs ]] || return 0
  for node in "${SEED_NODES[@]}"; do
    echo "--- $node: tinc's last words ---" >&2
    grep ' tinc: ' "$SEED_OUT/logs/meshbroker-$node.log" 2>/dev/null |
      grep -v -e 'Got ALRM' -e 'Flushing event' | tail -n 8 >&2
  done
}

# The gateways start after the servers listen, so they connect at once. Under load tinc 1.0
# can need a minute or more before the last pair passes packets (seen: a pair with a dead UDP
# direction until its MTU probing gave up and fell back to TCP), so this waits up to two
# minutes, saying which pairs it waits for, and sends a gateway's tincd SIGALRM (retry now)
# only every 20 s: a redial in the middle of a key exchange makes things slower, not faster.
seed_mesh_up_redialing() {
  local i
  for ((i = 1; i <= 6; i++)); do
    lab_wait 20 "the tinc mesh" seed_mesh_up 2>/dev/null && return 0
    ((i < 6)) || break
    lab_log "still waiting for the tinc mesh ($((i * 20)) s):" \
      "$(seed_mesh_report 2>&1 | grep -c 'cannot reach') pair directions down"
    seed_redial "${SEED_GATEWAYS[@]}"
  done
  return 1
}

seed_start_all() {
  local node logs=${SEED_OUT#"$LAB_ROOT"/}/logs
  for node in "${SEED_SERVERS[@]}"; do
    seed_spawn "$node" "meshbroker-$node" "$MESHBROKER" run -c "$SEED_OUT/$node.json"
  done
  for node in "${SEED_SERVERS[@]}"; do
    lab_wait 20 "tincd on $node" seed_tinc_listening "$node" || {
      tail -n 30 -- "$SEED_OUT/logs/meshbroker-$node.log" >&2
      lab_fail "tincd did not start on $node"
    }
  done
  for node in "${SEED_GATEWAYS[@]}"; do
    seed_spawn "$node" "meshbroker-$node" "$MESHBROKER" run -c "$SEED_OUT/$node.json"
  done
  for node in "${SEED_GATEWAYS[@]}" meshhost; do seed_babel_start "$node"; done
  seed_mesh_up_redialing || {
    seed_mesh_report --logs
    lab_fail "the tinc mesh did not come up (logs in $logs/)"
  }
  lab_log "tinc mesh up: chip, comegato, cometa, illimani (illimani dialed out through its NAT)"
  lab_wait 30 "both gateways up on both servers" seed_gateways_up ||
    lab_fail "gateways not up: chip sees $(seed_api chip /api/v1/gateways | jq -c '[.gateways[] | {name, verdict}]')"
  lab_wait 30 "babel routes in the mesh" seed_babel_routes ||
    lab_fail "babel did not spread the routes (see $logs/babeld-*.log)"
  lab_log "gateways up on both servers; babel carries the client subnets into the mesh"
  # A gateway's through check may still be in its warm-up when its ICMP check is up, and fail
  # it if babel was not yet carrying the way through that gateway (seen in CI: cometa
  # "degraded" for 2 s after start, chip's route on illimani meanwhile): the seed is ready when
  # chip routes through the gateway it prefers with both gateways fully up.
  lab_wait 30 "chip's route on cometa with both gateways up" seed_chip_settled ||
    lab_fail "chip did not settle on cometa: via $(seed_chip_via), chip sees $(seed_api chip /api/v1/gateways | jq -c '[.gateways[] | {name, verdict}]')"
  seed_spawn laptop openvpn-laptop openvpn --config "$SEED_OUT/laptop.ovpn" --dev tun0
  lab_wait 40 "the laptop's OpenVPN tunnel" seed_laptop_reaches ||
    lab_fail "the laptop cannot reach the mesh host (see $logs/openvpn-laptop.log)"
  lab_wait 10 "the laptop's IPv6 over the tunnel" seed_laptop_reaches6 ||
    lab_fail "the laptop ($(seed_laptop_addr6)) cannot reach the mesh host's $SEED_MESHHOST6 (see $logs/openvpn-laptop.log)"
  lab_log "laptop connected over OpenVPN as $(seed_laptop_addr) and $(seed_laptop_addr6)"
}

# One family's traceroute from the laptop to the mesh host: hop 1 is chip's end of the tunnel,
# hop 2 the gateway chip routes through (over tinc), the last hop the mesh host. Then the mesh
# host must have seen the laptop's own address (SET: the nft set of sources for the family).
seed_trace() { # -4|-6 DEST FIRST_HOP GATEWAY_NAME GATEWAY_ADDR LAPTOP_ADDR SET
  local flag=$1 dest=$2 first=$3 gw=$4 via=$5 addr=$6 set=$7 trace hops seen
  echo
  echo "Seed test: traceroute $flag from the laptop ($addr) to the mesh host $dest"
  trace=$(lab_exec laptop traceroute "$flag" -n -q 1 -w 2 -m 8 "$dest" 2>&1) ||
    lab_fail "traceroute $flag failed: $trace"
  printf '%s\n' "$trace" | sed 's/^/  /'
  mapfile -t hops < <(awk 'NR > 1 { print $2 }' <<<"$trace")
  [[ ${hops[0]:-} == "$first" ]] || lab_fail "hop 1 is ${hops[0]:-none}, not chip ($first)"
  [[ ${hops[1]:-} == "$via" ]] || lab_fail "hop 2 is ${hops[1]:-none}, not $gw ($via)"
  [[ ${hops[-1]:-} == "$dest" ]] || lab_fail "the trace did not reach $dest"
  echo "  hop 1 = chip ($first, its OpenVPN end), hop 2 = $gw ($via, over tinc), hop ${#hops[@]} = the mesh host"
  lab_exec laptop ping "$flag" -n -c 3 -i 0.2 -W 1 "$dest" >/dev/null ||
    lab_fail "the laptop's ping $flag to the mesh host failed"
  seen=$(lab_exec meshhost nft -j list set inet demo "$set" |
    jq -r '[.nftables[].set.elem? // empty | .[] | (.elem.val? // .)] | map(tostring) | join(" ")')
  grep -qw -- "$addr" <<<"$seen" ||
    lab_fail "the mesh host did not see the laptop's address $addr (saw: $seen)"
  echo "  the mesh host saw these source addresses: $seen  <- the laptop's own $addr: routed, not NATed"
}

# The seed's test, both families: laptop -> chip -> the active gateway -> mesh host, and the mesh
# host sees the laptop's own addresses. Its report goes to stdout.
seed_test() {
  local addr addr6 nat node rules active via6
  addr=$(seed_laptop_addr)
  [[ -n $addr ]] || lab_fail "the laptop has no tunnel address"
  addr6=$(seed_laptop_addr6)
  [[ -n $addr6 ]] || lab_fail "the laptop has no IPv6 tunnel address"
  lab_exec meshhost nft flush set inet demo sources
  lab_exec meshhost nft flush set inet demo sources6
  active=$(seed_gateway_of "$(seed_chip_via)")
  seed_trace -4 "$SEED_MESHHOST" "$SEED_LAPTOP_TUN_GW" "$active" "${SEED_MESH[$active]:-}" "$addr" sources
  # Both families follow the same verdicts: the IPv6 route uses the same gateway.
  via6=$(seed_chip_via6)
  [[ $via6 == "${SEED_MESH6[$active]:-}" ]] ||
    lab_fail "chip routes $SEED_DEST6 via ${via6:-nothing}, not $active (${SEED_MESH6[$active]:-})"
  seed_trace -6 "$SEED_MESHHOST6" "$SEED_LAPTOP_TUN_GW6" "$active" "$via6" "$addr6" sources6
  nat=()
  for node in chip comegato cometa illimani meshhost; do
    rules=$(lab_exec "$node" nft list ruleset 2>/dev/null)
    grep -Eq 'masquerade|snat|dnat' <<<"$rules" && nat+=("$node")
  done
  ((${#nat[@]} == 0)) || lab_fail "NAT rules found on: ${nat[*]}"
  echo
  echo "  NAT rules on chip, comegato, cometa, illimani, meshhost: none (only illimani's home router masquerades its uplink)"
  echo "Seed test: PASS"
}

# --- power ---------------------------------------------------------------------------------

# A link set down takes the routes through it (illimani's default route to its home router):
# power-off keeps the node's own routes (proto boot, the ones seed_topology added) and power-on
# puts them back, as a router's boot config would. Without this a gateway powered off once had
# no way out afterwards, dropped off the mesh, and babel still announced the tinc subnet
# through it (scripts/demo failover failed from its second run on).
seed_has_mesh_side() { [[ -n ${SEED_SIDE[$1]:-} ]]; }  # gateways: a link to the mesh host

seed_power_off() {
  ip -n "${LAB_NS[$1]}" -4 route show table main proto boot >"$SEED_OUT/$1.boot-routes"
  ip -n "${LAB_NS[$1]}" link set uplink down
  seed_has_mesh_side "$1" && ip -n "${LAB_NS[$1]}" link set mesh0 down
  ip netns pids "${LAB_NS[$1]}" 2>/dev/null | xargs -r kill -STOP
}

seed_power_on() {
  local route
  ip -n "${LAB_NS[$1]}" link set uplink up
  seed_has_mesh_side "$1" && ip -n "${LAB_NS[$1]}" link set mesh0 up
  if [[ -f $SEED_OUT/$1.boot-routes ]]; then
    while read -r route; do
      # shellcheck disable=SC2086  # a route is words
      ip -n "${LAB_NS[$1]}" route replace $route || lab_fail "$1: cannot restore route: $route"
    done <"$SEED_OUT/$1.boot-routes"
  fi
  ip netns pids "${LAB_NS[$1]}" 2>/dev/null | xargs -r kill -CONT
  seed_redial "$1"
}
