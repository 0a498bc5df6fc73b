# shellcheck shell=bash
# bench/client_lab.sh — the lab bench/client-failover and bench/client-latency share: the seed
# network (lab/seed.sh) with comegato offering the tcp instance "private" too (172.16.1.160/27
# and fd00:172:16:4::/64),
# so the laptop's profiles list both servers for both protocols (udp: "public", the shared
# profile; tcp: "private", a profile of its own), and the laptop's openvpn client.
#
#   BENCH_NAME=client-latency BENCH_PREFIX_DEFAULT=mbcl BUILD=1
#   source "$here/client_lab.sh"   # builds, installs, brings the lab up; cleanup on EXIT
#
# Gives: UDP (the udp_stream binary), MESHBROKER, LAB_TMP, SEED_OUT, kill_in NODE COMM, emit
# (jq -cn), profile_timers / use_server_keepalive / profile_file PROFILE PROTO (ours, peer or
# NAME:PING:RESTART:POLL:RETRY), client_start FILE LABEL / client_stop / sessions (the client's
# "Initialization Sequence Completed" count), laptop_server (chip, comegato or none),
# server_listening NODE. BENCH_NO_RATE_LIMIT=1 lifts the public instances' per-client rate
# limit. LAB_KEEP=1 keeps the temp folder; ${BENCH_PREFIX_VAR} (e.g.
# CLIENT_FAILOVER_PREFIX) names the namespaces PREFIX-NODE.
# shellcheck disable=SC2016  # the single-quoted jq programs use jq variables

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib/common.sh
source "$here/../scripts/lib/common.sh"
is_root || die "bench/$BENCH_NAME needs root (network namespaces, tun devices, nftables)"
ensure_packages tinc openvpn babeld nftables iproute2 iputils-ping jq procps traceroute socat curl >&2
if ((BUILD)) || [[ ! -x $MESHBROKER_BIN ]]; then
  [[ -f $BUILD_DIR/CMakeCache.txt ]] || build_meshbroker
  say "building meshbroker and udp_stream"
  cmake --build "$BUILD_DIR" --target meshbroker udp_stream >&2 || die "build failed"
fi
UDP=$BUILD_DIR/bench/udp_stream
[[ -x $UDP ]] || cmake --build "$BUILD_DIR" --target udp_stream >&2 || die "cannot build udp_stream"
MESHBROKER=$MESHBROKER_BIN

# shellcheck source=../lab/seed.sh
source "$here/../lab/seed.sh"
# shellcheck disable=SC2034  # lab/core.sh reads these
{
  LAB_NAME=$BENCH_NAME
  LAB_PREFIX=${!BENCH_PREFIX_VAR:-$BENCH_PREFIX_DEFAULT}  # namespaces PREFIX-NODE; another prefix runs a second lab beside
  LAB_ID=
}
LAB_TMP=$(mktemp -d "/tmp/meshbroker-$BENCH_NAME.XXXXXX")
chmod 0711 "$LAB_TMP"
SEED_OUT=$LAB_TMP/out
SEED_FORWARD_PORT=0
SEED_CONFIGS=$LAB_TMP/configs
mkdir -p "$SEED_OUT" "$SEED_CONFIGS"
seed_init
# SIGTERM to the processes named COMM in NODE's namespace only: pkill would reach every
# namespace of the machine (they share one PID namespace), other labs' openvpn included.
kill_in() { # NODE COMM
  local pid
  for pid in $(ip netns pids "${LAB_NS[$1]}" 2>/dev/null); do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$2" ]] && kill -TERM "$pid" 2>/dev/null
  done
  return 0
}
# shellcheck disable=SC2317  # the EXIT trap
bench_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  kill_in laptop openvpn
  kill_in laptop udp_stream
  seed_down >/dev/null 2>&1
  if [[ -n ${LAB_KEEP:-} ]]; then say "keeping $LAB_TMP"; else rm -rf --one-file-system -- "$LAB_TMP"; fi
  exit "$rc"
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

emit() { jq -cn "$@"; }

# --- the lab: the seed with a tcp instance on comegato too ---------------------------------
# Dual stack like the seed's other instances: the laptop gets IPv6 on whichever server it dials.
readonly COMEGATO_TCP=172.16.1.160/27 COMEGATO_TCP6=fd00:172:16:4::/64
for node in chip comegato cometa illimani; do
  filter='(.hosts[]? | select(.name == "comegato")) |= (.client_subnets = ((.client_subnets // []) + [$subnet]) | .client_subnets6 = ((.client_subnets6 // []) + [$subnet6]) | .openvpn = ((.openvpn // []) + [{"name": "private", "port": 443, "proto": "tcp"}]))'
  [[ $node == comegato ]] &&
    filter='.openvpn += [{"name": "private", "kind": "private", "port": 443, "proto": "tcp", "subnet": $subnet, "subnet6": $subnet6}]'
  # BENCH_NO_RATE_LIMIT=1: the public instances' per-client shaper (2mbit in the seed) lifted.
  [[ -n ${BENCH_NO_RATE_LIMIT:-} ]] && filter="$filter | if .openvpn then .openvpn |= map(del(.rate_limit)) else . end"
  jq --arg subnet "$COMEGATO_TCP" --arg subnet6 "$COMEGATO_TCP6" "$filter" "$ROOT/examples/seed/$node.json" >"$SEED_CONFIGS/$node.json"
done
say "bringing the seed network up (comegato offers the tcp instance too)"
seed_prepare
seed_topology
seed_start_all
kill_in laptop openvpn
"$MESHBROKER" client shared -c "$SEED_OUT/chip.json" -o "$SEED_OUT/udp.ovpn" >>"$SEED_OUT/logs/pki.log" 2>&1 ||
  die "client shared failed (see $SEED_OUT/logs/pki.log)"
cp -- "$SEED_OUT/laptop.ovpn" "$SEED_OUT/tcp.ovpn"
grep -c '^remote ' "$SEED_OUT/udp.ovpn" | grep -qx 2 || die "the udp profile does not list both servers"
grep -c '^remote ' "$SEED_OUT/tcp.ovpn" | grep -qx 2 || die "the tcp profile does not list both servers"

# --- profiles -------------------------------------------------------------------------------
# PROFILE -> "PING RESTART POLL RETRY" ("-" = the line left out: OpenVPN's default).
profile_timers() {
  case $1 in
    ours) echo "1 4 2 0" ;;
    peer) echo "10 120 - -" ;;
    *) IFS=: read -r _ a b c d <<<"$1"; echo "$a $b $c $d" ;;
  esac
}
CURRENT_KEEPALIVE=
# The servers' instances get PING RESTART (meshbroker reloads and restarts openvpn).
use_server_keepalive() { # PING RESTART
  local node pid
  [[ $CURRENT_KEEPALIVE == "$1 $2" ]] && return 0
  for node in chip comegato; do
    jq --argjson p "$1" --argjson r "$2" '.openvpn |= map(.ping_s = $p | .ping_restart_s = $r)' \
      "$SEED_OUT/$node.json" >"$SEED_OUT/$node.json.new" && mv -f "$SEED_OUT/$node.json.new" "$SEED_OUT/$node.json"
    pid=$(pgrep -f -x "$MESHBROKER run -c $SEED_OUT/$node.json") || die "no meshbroker on $node"
    kill -HUP "$pid"
  done
  for node in chip comegato; do
    lab_wait 30 "$node's openvpn with keepalive $1 $2" server_keepalive_is "$node" "$1 $2" ||
      die "$node's openvpn did not come back with keepalive $1 $2"
  done
  CURRENT_KEEPALIVE="$1 $2"
}
server_keepalive_is() { # NODE "PING RESTART": rendered and every instance listening again
  local f n=0
  while IFS= read -r f; do
    grep -qx "keepalive $2" "$f" || return 1
    n=$((n + 1))
  done < <(find "$SEED_OUT/$1" -path '*/openvpn/*.conf')
  ((n > 0)) && server_listening "$1"
}
server_listening() { # NODE: its udp 1194 (both) and tcp 443 (both) listening
  lab_exec "$1" ss -Hlun 'sport = :1194' | grep -q . && lab_exec "$1" ss -Hltn 'sport = :443' | grep -q .
}
profile_file() { # PROFILE PROTO -> a client profile with the profile's timers
  local out=$SEED_OUT/$2-$1.ovpn poll retry
  read -r _ _ poll retry <<<"$(profile_timers "$1")"
  sed -e '/^server-poll-timeout /d' -e '/^connect-retry /d' "$SEED_OUT/$2.ovpn" >"$out.body"
  {
    sed -n '1,/^remote-random$/p' "$out.body"
    [[ $poll == - ]] || echo "server-poll-timeout $poll"
    [[ $retry == - ]] || echo "connect-retry $retry 5"
    sed '1,/^remote-random$/d' "$out.body"
  } >"$out"
  rm -f -- "$out.body"
  echo "$out"
}

# --- the laptop's client --------------------------------------------------------------------
CLIENT_PID=
CLIENT_LOG=
client_start() { # PROFILE_FILE LABEL
  client_stop
  CLIENT_LOG=$SEED_OUT/logs/openvpn-$2.log
  : >"$CLIENT_LOG"
  lab_spawn laptop "openvpn-$2" openvpn --config "$1" --dev tun0
  CLIENT_PID=$LAB_PID
  lab_wait 60 "the laptop's tunnel ($2)" seed_laptop_reaches || die "the laptop did not connect with $1 (log: $CLIENT_LOG)"
}
client_stop() {
  [[ -n $CLIENT_PID ]] || return 0
  lab_stop "$CLIENT_PID"
  CLIENT_PID=
}
# The server the laptop is on: the one whose client subnet holds its tunnel address.
declare -A CLIENT_SUBNET=([172.16.1.64/27]=chip [172.16.1.96/27]=chip [172.16.1.128/27]=comegato
  ["$COMEGATO_TCP"]=comegato)
ip4_int() { local IFS=.; read -r a b c d <<<"$1"; echo $(((a << 24) | (b << 16) | (c << 8) | d)); }
laptop_server() {
  local addr subnet net len
  addr=$(seed_laptop_addr)
  [[ -n $addr ]] || { echo none; return; }
  for subnet in "${!CLIENT_SUBNET[@]}"; do
    net=${subnet%/*} len=${subnet#*/}
    if (((($(ip4_int "$addr") ^ $(ip4_int "$net")) >> (32 - len)) == 0)); then
      echo "${CLIENT_SUBNET[$subnet]}"
      return
    fi
  done
  echo none
}
new_session_since() { (($(sessions) > $1)); }
# The laptop's udp_stream ends the stream with its END datagrams.
stop_sender() { kill_in laptop udp_stream; }
sessions() { grep -c 'Initialization Sequence Completed' "$CLIENT_LOG" 2>/dev/null || true; }
