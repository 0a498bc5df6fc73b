# shellcheck shell=bash
# shellcheck disable=SC2034  # globals read by the scripts that source this file
# lab/core.sh — the core of the one namespace lab that tests, benchmarks and the demo share:
# logging, honest skips, one wait-until, traps and cleanup, process-group spawn and stop,
# namespaces named with a prefix and the run's ID. Source it (a topology file sources it for
# you); do not run it. Topologies: lab/two_nodes.sh, lab/failover.sh, lab/openvpn_hub.sh,
# lab/seed.sh (each opens with its diagram).
#
#   source "$ROOT/lab/failover.sh"      # or another topology, or lab/core.sh alone
#   lab_init --test route_failover      # root, temp folder, traps; --test: must lab_pass
#   lab_need ip tincd jq                # skip (or, in CI, fail) naming a missing tool
#   ...
#   lab_pass                            # the last line of a test: PASS, exit 0
#
# Functions (all log to stderr; stdout stays free for a benchmark's JSON):
#   lab_init [--test] NAME  checks root, makes the service users (lab_service_users), makes
#                       $LAB_TMP (0711: tincd reads its config there after dropping root),
#                       sets EXIT/INT/TERM traps that call lab_cleanup. With --test, an exit 0 that did not go through lab_pass
#                       is a failure (a test that returned early did not pass). Removes what
#                       killed labs of the same prefix left (lab_sweep_orphans); with
#                       LAB_DEADLINE_S (tests/CMakeLists.txt: TIMEOUT - 15) the test fails
#                       after that many seconds, cleaning up, before ctest's SIGKILL.
#   lab_service_users   the users meshbroker-tinc and meshbroker-openvpn, made as the package
#                       does, unless they exist. lab_user_reaches USER DIR: USER may enter DIR.
#   lab_log MSG / lab_fail MSG (exit 1) / lab_skip REASON (exit 77; see "Skips" below)
#   lab_need TOOL...    lab_skip unless every TOOL is on PATH (names the Debian package).
#   lab_need_root / lab_need_tun   lab_skip unless root / unless /dev/net/tun exists.
#   lab_wait SECONDS WHAT CMD..  polls CMD every 20 ms until it succeeds; after SECONDS logs
#                       "timed out after Ns waiting for: WHAT" and returns 1 (callers decide:
#                       `lab_wait ... || lab_fail ...`). The one wait-until of the lab.
#   lab_expect SECONDS WHAT CMD..  lab_wait, and a failure of the test when it times out.
#   lab_ms / lab_now_ms wall clock in whole ms / in ms with µs decimals (udp_stream's clock).
#   lab_ns NODE         the namespace name of NODE: LAB_PREFIX-NODE-LAB_ID (LAB_ID empty:
#                       LAB_PREFIX-NODE, for the demo, whose network outlives the script).
#   lab_ns_add NODE..   creates the namespaces (lo up), remembered in LAB_NS for cleanup.
#   lab_exec NODE CMD.. runs CMD in NODE's namespace.
#   lab_sysctl NODE KEY=VALUE..  /  lab_veth NODE_A IF_A NODE_B IF_B  /  lab_ping NODE ADDR
#   lab_link NODE_A IF_A ADDR_A NODE_B IF_B ADDR_B  a veth pair, each end addressed (CIDR) and up.
#   lab_bridge NODE [ADDR]  bridge br0 in NODE, up (with ADDR, a CIDR, when given).
#   lab_bridge_port BRIDGE_NODE NODE IF ADDR  NODE's IF (addressed, up) on BRIDGE_NODE's br0,
#                       through a veth whose bridge end is p-NODE.
#   lab_binary VAR PATH  VAR := PATH resolved; the test fails unless it is an executable.
#   lab_binfmt PATH     PATH is another architecture's program (scripts/cross): the kernel
#                       runs it with qemu-user-static (its binfmt_misc entry, registered when
#                       missing; it stays, as a Debian boot would leave it). LAB_EMULATED :=
#                       the architecture; the test fails when it cannot run.
#   lab_route_via NODE PREFIX    the (first) gateway of NODE's route to PREFIX.
#   lab_spawn NODE NAME CMD..  CMD in NODE's namespace (NODE "-": this one) in the background,
#                       in its own session and process group, output appended to
#                       $LAB_LOGS/NAME.log; its PID in $LAB_PID, stopped by lab_cleanup.
#   lab_stop PID        SIGCONT+SIGTERM to PID's process group, SIGKILL after 5 s; reaps it and
#                       forgets it (fine for one that already exited).
#   lab_signal_node SIG NODE  SIG to every process group lab_spawn started in NODE.
#   lab_loss_on NODE DEV PCT / lab_loss_off NODE   nftables drops PCT % on DEV both ways.
#   lab_on_cleanup FUNC  FUNC runs first in lab_cleanup (after a failure too), with the exit
#                       code in $LAB_EXIT_CODE.
#   lab_cleanup         stops what lab_spawn started, deletes LAB_NS's namespaces (and kills
#                       whatever still runs in them), shows the last lines of $LAB_TMP/*.log
#                       after a failure, removes $LAB_TMP unless LAB_KEEP is set. Idempotent.
#
# Skips: a skip means a tool or a kernel feature is missing. Outside CI it stays a skip (exit
# 77, ctest's SKIP_RETURN_CODE), its reason appended to $MESHBROKER_SKIP_LOG when set
# (scripts/test lists them in its summary). With CI=true or MESHBROKER_NO_SKIP=1 it is a
# failure naming what was missing: where scripts/test installed everything, a skip can only
# be a missing install step.
#
# Globals: LAB_ROOT (the repository), MESHBROKER (default build/meshbroker), LAB_NAME, LAB_TMP,
# LAB_LOGS (default $LAB_TMP), LAB_PREFIX (default mb), LAB_ID (default $$), LAB_NS[node],
# LAB_PID, LAB_PIDS, LAB_KEEP.

if [[ -n ${LAB_CORE_LOADED:-} ]]; then
  return 0
fi
LAB_CORE_LOADED=1

LAB_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
: "${MESHBROKER:=$LAB_ROOT/build/meshbroker}"
readonly LAB_SKIP=77

declare -gA LAB_NS=()
declare -gA LAB_NODE_PIDS=()
declare -ga LAB_PIDS=()
declare -ga LAB_CLEANUP_HOOKS=()
LAB_NAME=${LAB_NAME:-lab}
LAB_PREFIX=${LAB_PREFIX:-mb}
LAB_ID=${LAB_ID-$$}
LAB_PID=
LAB_WATCHDOG=
LAB_TMP=${LAB_TMP:-}
LAB_LOGS=${LAB_LOGS:-}
LAB_OK=0
LAB_TEST=0
LAB_EXIT_CODE=0

lab_log() { printf '%s: %s\n' "$LAB_NAME" "$*" >&2; }
lab_fail() {
  lab_log "FAIL: $*"
  exit 1
}

lab_skips_fail() { [[ ${CI:-} == true || ${MESHBROKER_NO_SKIP:-} == 1 ]]; }

lab_skip() {
  if lab_skips_fail; then
    lab_log "FAIL: would skip, but a skip is a failure here (CI=${CI:-} MESHBROKER_NO_SKIP=${MESHBROKER_NO_SKIP:-}): $*"
    exit 1
  fi
  lab_log "SKIP: $*"
  if [[ -n ${MESHBROKER_SKIP_LOG:-} ]]; then
    printf '%s: %s\n' "$LAB_NAME" "$*" >>"$MESHBROKER_SKIP_LOG" 2>/dev/null || true
  fi
  exit "$LAB_SKIP"
}

# The Debian package that has TOOL, for the skip message (dpkg knows only installed ones).
lab_package_of() {
  case $1 in
    ip | tc | ss | bridge) echo iproute2 ;;
    ping) echo iputils-ping ;;
    nft) echo nftables ;;
    tincd) echo tinc ;;
    setsid | flock | nsenter | unshare) echo util-linux ;;
    pgrep | pkill | ps | sysctl) echo procps ;;
    promtool) echo prometheus ;;
    ssh | ssh-keygen) echo openssh-client ;;
    sshd) echo openssh-server ;;
    systemd-nspawn) echo systemd-container ;;
    ansible-playbook) echo ansible ;;
    bird) echo bird2 ;;
    *) echo "$1" ;;
  esac
}

lab_need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 ||
      lab_skip "$tool is not installed (Debian package $(lab_package_of "$tool"); scripts/test installs it)"
  done
}
lab_need_root() { [[ $(id -u) -eq 0 ]] || lab_skip "needs root (network namespaces, tun devices)"; }
lab_need_tun() { [[ -c /dev/net/tun ]] || lab_skip "no /dev/net/tun (modprobe tun)"; }

lab_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  echo $((t / 1000))
}
lab_now_ms() {  # e.g. 1795622149679.068
  local t=${EPOCHREALTIME/[.,]/}
  printf '%s.%s\n' "${t::-3}" "${t: -3}"
}

lab_wait() {
  local limit=$1 what=$2
  shift 2
  local deadline=$(($(lab_ms) + limit * 1000))
  until "$@" >/dev/null 2>&1; do
    if (($(lab_ms) >= deadline)); then
      lab_log "timed out after ${limit}s waiting for: $what"
      return 1
    fi
    sleep 0.02
  done
}

lab_expect() {
  lab_wait "$@" || lab_fail "$2: not within $1 s"
}

# The system users meshbroker's tincd and openvpn drop root to by default (supervisor.tinc_user,
# supervisor.openvpn_user), made as the Debian package's postinst makes them. Idempotent.
lab_service_users() {
  local user
  for user in meshbroker-tinc meshbroker-openvpn; do
    getent passwd "$user" >/dev/null && continue
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin "$user" || lab_fail "cannot create the system user $user"
  done
}

# Whether USER may enter every folder down to DIR (tincd reads its config there after it
# drops root).
lab_user_reaches() { # USER DIR
  setpriv --reuid="$1" --regid="$1" --init-groups -- test -x "$2" 2>/dev/null
}

lab_init() {
  if [[ ${1:-} == --test ]]; then
    LAB_TEST=1
    shift
  fi
  LAB_NAME=${1:-lab}
  lab_need_root
  lab_need ip setsid
  lab_service_users
  LAB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/meshbroker-$LAB_NAME.XXXXXX") ||
    lab_fail "cannot create a temp folder"
  # Searchable (not listable) by others: tincd reads its rendered config after it drops root.
  chmod 0711 "$LAB_TMP"
  : "${LAB_LOGS:=$LAB_TMP}"
  trap lab_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  lab_sweep_orphans
  lab_deadline
  # Under set -e a failing command ends the script: say which one.
  if [[ $- == *e* ]]; then
    trap 'lab_log "line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR
  fi
}

# ctest ends a test past its TIMEOUT with SIGKILL, which no trap sees: tests/CMakeLists.txt
# sets LAB_DEADLINE_S a little shorter, and the test fails then (exit 124) with its cleanup.
lab_deadline() {
  [[ ${LAB_DEADLINE_S:-} =~ ^[1-9][0-9]*$ ]] || return 0
  trap 'lab_log "deadline: ${LAB_DEADLINE_S} s passed (the ctest TIMEOUT is near)"; exit 124' USR1
  local main=$$
  (
    exec </dev/null >/dev/null 2>&1 # ctest waits for the test's pipes: hold none
    sleep "$LAB_DEADLINE_S" && kill -USR1 "$main"
  ) &
  LAB_WATCHDOG=$!
}

# Namespaces of this prefix that a lab killed outright (SIGKILL: a ctest timeout, a session cut
# off) left behind: named PREFIX-NODE-ID where no process ID runs any more. What still runs in
# them goes too. A namespace whose ID is alive belongs to a lab running beside this one.
lab_sweep_orphans() {
  local ns id
  while read -r ns _; do
    [[ $ns =~ ^${LAB_PREFIX}-.+-([0-9]+)$ ]] || continue
    id=${BASH_REMATCH[1]}
    [[ $id == "${LAB_ID:-}" ]] && continue
    kill -0 "$id" 2>/dev/null && continue
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns delete "$ns" 2>/dev/null && lab_log "removed namespace $ns, left by a lab that was killed (pid $id is gone)"
  done < <(ip netns list 2>/dev/null)
  return 0
}

lab_pass() {
  LAB_OK=1
  exit 0
}

lab_on_cleanup() { LAB_CLEANUP_HOOKS+=("$1"); }

lab_ns() { printf '%s-%s%s' "$LAB_PREFIX" "$1" "${LAB_ID:+-$LAB_ID}"; }

lab_ns_add() {
  local node name
  for node in "$@"; do
    name=$(lab_ns "$node")
    ip netns add "$name" 2>/dev/null || lab_skip "cannot create network namespace $name here"
    LAB_NS[$node]=$name
    ip -n "$name" link set lo up
  done
}

lab_exec() {
  local node=$1
  shift
  ip netns exec "${LAB_NS[$node]:-$(lab_ns "$node")}" "$@"
}

lab_sysctl() {  # NODE KEY=VALUE...
  local node=$1
  shift
  lab_exec "$node" sysctl -qw "$@" >/dev/null
}

lab_veth() {  # NODE_A IF_A NODE_B IF_B
  ip link add "$2" netns "${LAB_NS[$1]}" type veth peer name "$4" netns "${LAB_NS[$3]}"
}

lab_link() {  # NODE_A IF_A ADDR_A NODE_B IF_B ADDR_B
  lab_veth "$1" "$2" "$4" "$5" || lab_fail "cannot create the veth pair $1:$2 - $4:$5"
  ip -n "${LAB_NS[$1]}" addr add "$3" dev "$2"
  ip -n "${LAB_NS[$4]}" addr add "$6" dev "$5"
  ip -n "${LAB_NS[$1]}" link set "$2" up
  ip -n "${LAB_NS[$4]}" link set "$5" up
}

lab_bridge() {  # NODE [ADDR]
  ip -n "${LAB_NS[$1]}" link add br0 type bridge || lab_skip "no bridge devices"
  [[ -z ${2:-} ]] || ip -n "${LAB_NS[$1]}" addr add "$2" dev br0
  ip -n "${LAB_NS[$1]}" link set br0 up
}

lab_bridge_port() {  # BRIDGE_NODE NODE IF ADDR
  lab_veth "$1" "p-$2" "$2" "$3" || lab_fail "cannot create the veth pair p-$2 - $2:$3"
  ip -n "${LAB_NS[$1]}" link set "p-$2" master br0 up
  ip -n "${LAB_NS[$2]}" addr add "$4" dev "$3"
  ip -n "${LAB_NS[$2]}" link set "$3" up
}

lab_binary() {  # VAR PATH
  local resolved
  resolved=$(readlink -f -- "$2") && [[ -x $resolved && -f $resolved ]] ||
    lab_fail "${2:-(no path)} is not an executable"
  printf -v "$1" '%s' "$resolved"
}

lab_binfmt() {  # PATH
  local machine name misc=/proc/sys/fs/binfmt_misc conf
  machine=$(od -An -tx1 -j18 -N1 -- "$1" | tr -d ' ')
  case $machine in
    3e) LAB_EMULATED=; return 0 ;;  # x86-64: this machine's own
    b7) name=aarch64 ;;
    08) [[ $(od -An -tx1 -j5 -N1 -- "$1" | tr -d ' ') == 01 ]] && name=mipsel || name=mips ;;
    28) name=arm ;;
    *) lab_fail "$1: not an ELF program of a known architecture (machine 0x$machine)" ;;
  esac
  [[ -e $misc/register ]] || mount -t binfmt_misc binfmt_misc "$misc" ||
    lab_fail "cannot mount binfmt_misc (needed to run $name programs)"
  if [[ ! -e $misc/qemu-$name ]]; then
    conf=/usr/lib/binfmt.d/qemu-$name.conf
    [[ -f $conf ]] || lab_fail "$conf is missing (Debian package qemu-user-static)"
    grep -v '^#' "$conf" >"$misc/register" || lab_fail "cannot register $conf with binfmt_misc"
  fi
  "$1" --version >/dev/null || lab_fail "$1 does not run under qemu-$name"
  LAB_EMULATED=$name
}

lab_ping() { lab_exec "$1" ping -n -c1 -W1 "$2"; }

lab_route_via() {  # NODE PREFIX
  ip -n "${LAB_NS[$1]}" -o route show exact "$2" 2>/dev/null |
    awk '{ for (i = 1; i < NF; i++) if ($i == "via") { print $(i + 1); exit } }'
}

lab_spawn() {
  local node=$1 name=$2
  shift 2
  mkdir -p -- "${LAB_LOGS:-$LAB_TMP}"
  # setsid: its own process group, so a stop takes its children too, and Ctrl-C reaches only
  # the script (whose trap stops everything in order). Not a group leader here, so setsid
  # execs in place and $! is the command's own PID (ip netns exec execs too).
  if [[ $node == - ]]; then
    setsid "$@" </dev/null >>"${LAB_LOGS:-$LAB_TMP}/$name.log" 2>&1 &
  else
    setsid ip netns exec "${LAB_NS[$node]}" "$@" </dev/null >>"${LAB_LOGS:-$LAB_TMP}/$name.log" 2>&1 &
  fi
  LAB_PID=$!
  LAB_PIDS+=("$LAB_PID")
  LAB_NODE_PIDS[$node]+=" $LAB_PID"
}

lab_forget() {
  local pid=$1 i node kept p
  for i in "${!LAB_PIDS[@]}"; do [[ ${LAB_PIDS[$i]} == "$pid" ]] && unset 'LAB_PIDS[i]'; done
  for node in "${!LAB_NODE_PIDS[@]}"; do
    kept=
    for p in ${LAB_NODE_PIDS[$node]}; do [[ $p == "$pid" ]] || kept+=" $p"; done
    LAB_NODE_PIDS[$node]=$kept
  done
}

lab_stop() {
  local pid=$1 i
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -CONT -- "-$pid" 2>/dev/null || kill -CONT "$pid" 2>/dev/null || true
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 250; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.02
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  # Forgotten, so a later cleanup or poweroff never signals a reused PID.
  lab_forget "$pid"
  return 0
}

lab_signal_node() {  # SIGNAL NODE
  local pid
  for pid in ${LAB_NODE_PIDS[$2]:-}; do kill "-$1" -- "-$pid" 2>/dev/null || true; done
}

lab_loss_on() {  # NODE DEV PERCENT
  local node=$1 dev=$2 pct=$3
  # netdev ingress/egress hooks: the loss is on the wire, the sender sees no error.
  if ! lab_exec "$node" nft -f - 2>/dev/null <<EOF; then
table netdev lab_loss {
  chain in { type filter hook ingress device "$dev" priority 0; numgen random mod 100 < $pct drop; }
  chain out { type filter hook egress device "$dev" priority 0; numgen random mod 100 < $pct drop; }
}
EOF
    # Older kernels have no egress hook: input/output instead (local traffic is all of it).
    lab_exec "$node" nft -f - <<EOF || lab_fail "nft loss rule failed in $node"
table inet lab_loss {
  chain in { type filter hook input priority 0; iifname "$dev" numgen random mod 100 < $pct drop; }
  chain out { type filter hook output priority 0; oifname "$dev" numgen random mod 100 < $pct drop; }
}
EOF
  fi
}

lab_loss_off() {
  lab_exec "$1" nft delete table netdev lab_loss 2>/dev/null || true
  lab_exec "$1" nft delete table inet lab_loss 2>/dev/null || true
}

lab_show_logs() {
  local f
  [[ -n $LAB_TMP && -d $LAB_TMP ]] || return 0
  for f in "$LAB_TMP"/*.log; do
    [[ -s $f ]] || continue
    echo "----- $f (last ${LAB_LOG_LINES:-60} lines) -----" >&2
    tail -n "${LAB_LOG_LINES:-60}" -- "$f" >&2
  done
}

lab_cleanup() {
  local rc=$? pid ns i hook
  set +e
  trap - EXIT INT TERM ERR USR1
  [[ -n ${LAB_WATCHDOG:-} ]] && kill "$LAB_WATCHDOG" 2>/dev/null
  LAB_WATCHDOG=
  LAB_EXIT_CODE=$rc
  for hook in "${LAB_CLEANUP_HOOKS[@]}"; do "$hook"; done
  LAB_CLEANUP_HOOKS=()
  if ((LAB_TEST && !LAB_OK && rc != LAB_SKIP)); then
    lab_show_logs
  fi
  for pid in "${LAB_PIDS[@]}"; do
    kill -CONT -- "-$pid" 2>/dev/null
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  done
  for pid in "${LAB_PIDS[@]}"; do
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  LAB_PIDS=()
  LAB_NODE_PIDS=()
  for ns in "${LAB_NS[@]}"; do
    [[ -e /run/netns/$ns ]] || continue
    # Whatever still runs inside (a tincd whose parent died, a hook) goes with its namespace.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
    ip netns delete "$ns" 2>/dev/null
  done
  LAB_NS=()
  if [[ -n $LAB_TMP && -d $LAB_TMP ]]; then
    # --one-file-system: a mount left inside (a chroot's /dev) is never emptied.
    if [[ -n ${LAB_KEEP:-} ]]; then lab_log "keeping $LAB_TMP"; else rm -rf --one-file-system -- "$LAB_TMP"; fi
  fi
  if ((LAB_TEST)); then
    if ((LAB_OK)); then
      lab_log "PASS"
    elif ((rc == 0)); then
      lab_log "FAIL: the test ended without lab_pass"
      rc=1
    elif ((rc != LAB_SKIP)); then
      lab_log "FAIL (exit $rc)"
    fi
    exit "$rc"
  fi
  return "$rc"
}
