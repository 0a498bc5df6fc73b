# shellcheck shell=bash
# Shared set-up for the namespace tests: temp folder, seed configs moved into it, keys, two
# namespaces joined by a veth pair, and a cleanup trap that removes all of it even on failure.
#
#   source "$(dirname "$0")/lib.sh"; mb_init NAME "$@"
#
# Globals after mb_init: MESHBROKER, ROOT, TMP, NS[node], UNDERLAY[node], MESH[node].

readonly MB_SKIP=77
mb_log() { printf "%s: %s\n" "$MB_NAME" "$*" >&2; }
mb_skip() { mb_log "SKIP: $*"; exit "$MB_SKIP"; }
mb_fail() { mb_log "FAIL: $*"; exit 1; }
mb_now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }

declare -A NS=() UNDERLAY=([chip]=192.0.2.11 [comegato]=192.0.2.12)
declare -A MESH=([chip]=100.64.12.11 [comegato]=100.64.12.12 [cometa]=100.64.12.9)
declare -a MB_PIDS=()
MB_OK=0

mb_init() {
  MB_NAME=$1
  shift
  [[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
  MESHBROKER=$(readlink -f -- "$1")
  [[ -x $MESHBROKER ]] || mb_fail "$1 is not an executable"
  ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
  [[ $(id -u) -eq 0 ]] || mb_skip "needs root (network namespaces, tun devices)"
  local tool
  for tool in tincd ip ping jq; do
    command -v "$tool" >/dev/null 2>&1 || mb_skip "$tool is not installed"
  done
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshbroker-$MB_NAME.XXXXXX")
  trap mb_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

mb_cleanup() {
  local rc=$? pid ns i
  set +e
  trap - EXIT INT TERM
  if [[ $MB_OK -ne 1 && $rc -ne $MB_SKIP ]]; then
    for f in "$TMP"/*.log; do
      [[ -s $f ]] && { echo "----- $f (last 60 lines) -----"; tail -n 60 -- "$f"; }
    done
  fi
  for pid in "${MB_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${MB_PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  for ns in "${NS[@]}"; do
    # Anything still running in the namespace (a tincd whose parent was killed) goes too.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
  done
  [[ -n ${MB_KEEP:-} ]] && mb_log "keeping $TMP" || rm -rf -- "$TMP"
  if [[ $MB_OK -eq 1 ]]; then
    mb_log "PASS"
  elif [[ $rc -eq 0 ]]; then
    rc=1
  fi
  exit "$rc"
}

# mb_config NODE: $TMP/NODE.json, the seed config with state/runtime paths inside $TMP/NODE/.
# Extra jq filters (e.g. '.supervisor.max_crashes = 3') may follow.
mb_config() {
  local node=$1
  shift
  local filter=".paths.state_dir = \"$TMP/$node/state\" | .paths.runtime_dir = \"$TMP/$node/run\""
  local f
  for f in "$@"; do filter+=" | $f"; done
  jq "$filter" "$ROOT/examples/seed/$node.json" >"$TMP/$node.json" || mb_fail "jq failed on $node"
}

# mb_keys NODE...: keygen for each node, public keys published as $TMP/keys/NODE.pub.
mb_keys() {
  local node
  mkdir -p "$TMP/keys"
  for node in "$@"; do
    "$MESHBROKER" keygen -c "$TMP/$node.json" >/dev/null 2>"$TMP/$node.keygen.err" ||
      { cat "$TMP/$node.keygen.err"; mb_fail "keygen failed for $node"; }
    cp -- "$TMP/$node/state/tinc/rsa_key.pub" "$TMP/keys/$node.pub"
  done
}

# mb_underlay A B: namespaces for nodes A and B joined by veth0 (192.0.2.0/24).
mb_underlay() {
  local node
  for node in "$@"; do
    NS[$node]="mb-$node-$$"
    ip netns add "${NS[$node]}" || mb_skip "cannot create network namespaces here"
    ip -n "${NS[$node]}" link set lo up
  done
  ip -n "${NS[$1]}" link add veth0 type veth peer name veth0 netns "${NS[$2]}" ||
    mb_fail "cannot create the veth pair"
  for node in "$@"; do
    ip -n "${NS[$node]}" addr add "${UNDERLAY[$node]}/24" dev veth0
    ip -n "${NS[$node]}" link set veth0 up
  done
}

# mb_run NODE: starts `meshbroker run` for NODE in its namespace; sets MBPID[NODE].
declare -A MBPID=()
mb_run() {
  local node=$1
  ip netns exec "${NS[$node]}" "$MESHBROKER" run -c "$TMP/$node.json" \
    </dev/null >>"$TMP/$node.log" 2>&1 &
  MBPID[$node]=$!
  MB_PIDS+=("$!")
}

# mb_status NODE JQ: evaluates JQ on NODE's status.json (empty output when it is missing).
mb_status() {
  jq -r "$2" "$TMP/$1/run/status.json" 2>/dev/null || true
}

# mb_wait SECONDS DESCRIPTION COMMAND...: polls COMMAND every 20 ms until it succeeds.
mb_wait() {
  local limit=$1 what=$2
  shift 2
  local deadline=$(($(mb_now_ms) + limit * 1000))
  until "$@" >/dev/null 2>&1; do
    (($(mb_now_ms) < deadline)) || mb_fail "timed out after ${limit}s waiting for: $what"
    sleep 0.02
  done
}

mb_backend_is() {  # NODE BACKEND STATE
  [[ $(mb_status "$1" ".backends[] | select(.id == \"$2\") | .state") == "$3" ]]
}
mb_backend_pid() {  # NODE BACKEND
  mb_status "$1" ".backends[] | select(.id == \"$2\") | .pid"
}
mb_ping() {  # NODE ADDRESS
  ip netns exec "${NS[$1]}" ping -c1 -W1 "$2"
}
