# shellcheck shell=bash
# Shared set-up of the OpenVPN integration tests: two servers and up to three clients in
# network namespaces on one bridge, configs and PKI in a temp folder, cleanup in a trap.
# Source it after setting TEST_NAME; then call ovpn_setup "$MESHBROKER" CLIENT_NS....
#
#                       netns mb-hub-PID (bridge br0, 192.0.2.0/24)
#          +--------------+--------------+--------------+--------------+
#          |              |              |              |              |
#   mb-chip-PID   mb-comegato-PID   mb-c1-PID       mb-c2-PID      mb-c3-PID
#   192.0.2.11     192.0.2.12       192.0.2.101     192.0.2.102    192.0.2.103
#   openvpn public  (udp 1194, 172.16.1.64/27, max 2, 2mbit)       openvpn clients
#   openvpn private (udp 1195, 172.16.1.96/27 on chip, .160/27 on comegato)
#   openvpn ptcp    (tcp 443, private, 172.16.1.192/28 on chip, .208/28 on comegato)
#   comegato: public 172.16.1.128/27
#
# Both servers read one PKI folder (on real networks Ansible copies CA, CRL and tls-crypt keys
# to every server). Exit 77 when not root or a tool is missing.

readonly SKIP=77
log() { printf '%s: %s\n' "$TEST_NAME" "$*"; }
skip() {
  log "SKIP: $*"
  exit "$SKIP"
}
fail() {
  log "FAIL: $*"
  exit 1
}
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}

declare -A NS=()
declare -A ADDR=([chip]=192.0.2.11 [comegato]=192.0.2.12 [c1]=192.0.2.101 [c2]=192.0.2.102
  [c3]=192.0.2.103)
declare -A PIDS=()  # label -> pid of an openvpn/iperf3 we started
OK=0
TMP=""

ovpn_show_logs() {
  local f
  for f in "$TMP"/*.log; do
    [[ -s $f ]] || continue
    echo "----- $f (last 25 lines) -----"
    tail -n 25 -- "$f"
  done
}

ovpn_stop() {
  local label=$1 pid=${PIDS[$1]:-} i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PIDS[$label]"
  return 0
}

ovpn_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if [[ $OK -ne 1 && $rc -ne $SKIP && -n $TMP ]]; then
    ovpn_show_logs
  fi
  local label
  for label in "${!PIDS[@]}"; do ovpn_stop "$label"; done
  local ns
  for ns in "${NS[@]}"; do ip netns delete "$ns" 2>/dev/null; done
  if [[ -n $TMP ]]; then
    if [[ -n ${OPENVPN_TEST_KEEP:-} ]]; then
      log "keeping $TMP (OPENVPN_TEST_KEEP is set)"
    else
      rm -rf -- "$TMP"
    fi
  fi
  if [[ $OK -eq 1 ]]; then
    log "PASS"
  elif [[ $rc -eq 0 ]]; then
    rc=1
  fi
  exit "$rc"
}

# Writes a server config. $1 node, $2 peer, $3 public subnet, $4 private subnet, $5 the
# subnet of "ptcp", a private instance on tcp 443 (the way through filtered networks).
ovpn_write_config() {
  local node=$1 peer=$2 public=$3 private=$4 ptcp=$5
  local mesh_self mesh_peer
  if [[ $node == chip ]]; then mesh_self=100.64.12.11 mesh_peer=100.64.12.12; else
    mesh_self=100.64.12.12 mesh_peer=100.64.12.11
  fi
  cat >"$TMP/$node.json" <<EOF
{
  "name": "$node",
  "role": "server",
  "tinc": {"address": "$mesh_self", "prefix": "100.64.12.0/27",
           "public_address": "${ADDR[$node]}", "interface": "meshnet0"},
  "hosts": [
    {"name": "$peer", "role": "server", "mesh_address": "$mesh_peer",
     "public_address": "${ADDR[$peer]}",
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
  "paths": {"state_dir": "$TMP/$node/state", "runtime_dir": "$TMP/$node/run",
            "pki_dir": "$TMP/pki"}
}
EOF
}

# ovpn_setup MESHBROKER CLIENT...: namespaces, configs, PKI, rendered files.
ovpn_setup() {
  MESHBROKER=$(readlink -f -- "$1") || fail "cannot resolve $1"
  shift
  [[ -x $MESHBROKER ]] || fail "$MESHBROKER is not executable"
  [[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces, tun devices)"
  local tool
  for tool in openvpn ip ping "$@"; do
    [[ $tool == c? ]] && continue
    command -v "$tool" >/dev/null 2>&1 || skip "$tool is not installed"
  done
  [[ -c /dev/net/tun ]] || skip "/dev/net/tun is missing"
  trap ovpn_cleanup EXIT
  # set -e stops on an unchecked failure: say which one.
  trap 'log "FAIL: line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM

  TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshbroker-$TEST_NAME.XXXXXX")
  # openvpn drops to nobody and reads the CRL on every handshake: the path must be traversable.
  chmod 0755 "$TMP"
  log "temp folder $TMP"
  ovpn_write_config chip comegato 172.16.1.64/27 172.16.1.96/27 172.16.1.192/28
  ovpn_write_config comegato chip 172.16.1.128/27 172.16.1.160/27 172.16.1.208/28
  local node
  for node in chip comegato; do
    mkdir -p "$TMP/$node/run"
    "$MESHBROKER" check -c "$TMP/$node.json" >/dev/null 2>"$TMP/check.err" ||
      {
        cat "$TMP/check.err"
        fail "check rejected $node.json"
      }
    "$MESHBROKER" client init -c "$TMP/$node.json" >/dev/null || fail "client init failed for $node"
    "$MESHBROKER" render -c "$TMP/$node.json" -o "$TMP/$node/rendered" >/dev/null 2>&1 ||
      fail "render failed for $node"
    [[ -s $TMP/$node/rendered/openvpn/public.conf ]] || fail "no openvpn/public.conf for $node"
  done

  NS[hub]="mb-hub-$$"
  ip netns add "${NS[hub]}" 2>/dev/null || skip "cannot create network namespaces here"
  ip -n "${NS[hub]}" link add br0 type bridge || skip "no bridge devices"
  ip -n "${NS[hub]}" link set br0 up
  for node in chip comegato "$@"; do
    [[ -n ${ADDR[$node]:-} ]] || continue
    NS[$node]="mb-$node-$$"
    ip netns add "${NS[$node]}"
    ip -n "${NS[$node]}" link set lo up
    ip -n "${NS[hub]}" link add "p-$node" type veth peer name eth0 netns "${NS[$node]}"
    ip -n "${NS[hub]}" link set "p-$node" master br0 up
    ip -n "${NS[$node]}" addr add "${ADDR[$node]}/24" dev eth0
    ip -n "${NS[$node]}" link set eth0 up
  done
}

# ovpn_server NODE INSTANCE: starts openvpn from the rendered config in NODE's namespace.
ovpn_server() {
  local node=$1 instance=$2 label="$1-$2"
  ip netns exec "${NS[$node]}" openvpn --config "$TMP/$node/rendered/openvpn/$instance.conf" \
    --log "$TMP/$label.log" </dev/null >/dev/null 2>&1 &
  PIDS[$label]=$!
}

# ovpn_client NS LABEL PROFILE: starts an openvpn client in a client namespace.
ovpn_client() {
  local node=$1 label=$2 profile=$3
  ip netns exec "${NS[$node]}" openvpn --config "$profile" --log "$TMP/$label.log" \
    </dev/null >/dev/null 2>&1 &
  PIDS[$label]=$!
}

# wait_until SECONDS CMD...: polls CMD every 0.2 s; fails (returns 1) after SECONDS.
wait_until() {
  local limit=$1 start
  shift
  start=$(now_ms)
  until "$@" >/dev/null 2>&1; do
    (($(now_ms) - start < limit * 1000)) || return 1
    sleep 0.2
  done
}

# The tunnel address openvpn gave a client namespace's tun device ("" while there is none).
tun_address() {
  ip -n "${NS[$1]}" -4 -o addr show dev tun0 2>/dev/null | awk '{print $4}' | cut -d/ -f1
}
has_tun_address() { [[ -n $(tun_address "$1") ]]; }
pings() { ip netns exec "${NS[$1]}" ping -c1 -W1 "$2"; }
server_alive() { kill -0 "${PIDS[$1]}" 2>/dev/null; }
management_ready() { [[ -S $TMP/$1/run/openvpn-$2.sock ]]; }
