# shellcheck shell=bash
# Shared helpers for scripts/test, scripts/demo and friends. Source it; do not run it.
#
#   source "$(dirname -- "${BASH_SOURCE[0]}")/lib/common.sh"
#   ensure_packages "${ALL_PACKAGES[@]}"
#   build_meshbroker
#
# Targets Debian 12 (bookworm); works from a bare minimal install as root.

if [[ -n ${MESHBROKER_COMMON_SH:-} ]]; then
  return 0
fi
MESHBROKER_COMMON_SH=1

# The repository root, wherever the script was started from.
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR="$ROOT/build"
MESHBROKER_BIN="$BUILD_DIR/meshbroker"

# Debian packages needed to build meshbroker and run its unit tests, sanitizers and fuzzers.
# file: cpack -G DEB's shlibdeps runs it (not in a minbase Debian; scripts/fresh-check).
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libcli11-dev libkainjow-mustache-dev libssl-dev libsodium-dev
  libgtest-dev libgmock-dev
  clang clang-format libclang-rt-14-dev
  libboost-dev libboost-filesystem-dev
  libnl-3-dev libnl-route-3-dev libcpp-httplib-dev
  dpkg-dev file ccache
)
# Debian packages the integration tests and the demo run.
# curl, promtool (Debian's prometheus), chromium and wrk check the status page, API and metrics.
# Not in a minbase Debian (scripts/fresh-check): kmod (ansible_deploy's modprobe overlay where
# the module is not loaded yet), zstd (lab/rootfs.sh's cached roots; gzip is slower and another
# cache entry). faketime: supervisor_openvpn makes a PKI ten days old to see the daemon refresh
# its CRLs.
RUNTIME_PACKAGES=(tinc iproute2 iputils-ping procps ca-certificates jq systemd openvpn iperf3
                  nftables util-linux curl prometheus chromium fonts-dejavu-core wrk
                  ansible ansible-lint openssh-server openssh-client debootstrap systemd-container
                  babeld traceroute socat kmod zstd faketime)
# shellcheck disable=SC2034  # used by the scripts that source this file
ALL_PACKAGES=("${BUILD_PACKAGES[@]}" "${RUNTIME_PACKAGES[@]}")

# Messages go to stderr so stdout stays clean for the scripts' own output.
say() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

is_root() { [[ $(id -u) -eq 0 ]]; }

# True when the Debian package $1 is fully installed.
package_installed() { # PACKAGE[:ARCH]: without an architecture, this machine's own (or all)
  local lines want
  lines=$(dpkg-query -W -f='${Architecture} ${Status}\n' "$1" 2>/dev/null) || return 1
  # With a foreign architecture enabled (scripts/cross), a name may match one line per arch.
  want="($(dpkg --print-architecture)|all)"
  [[ $1 == *:* ]] && want="[^ ]+"
  grep -Eqx "$want install ok installed" <<<"$lines"
}

# Runs apt-get update once per run (also across scripts started from this one).
apt_update_once() {
  if [[ -n ${MESHBROKER_APT_UPDATED:-} ]]; then
    return 0
  fi
  say "apt-get update"
  DEBIAN_FRONTEND=noninteractive apt-get update -q || die "apt-get update failed"
  export MESHBROKER_APT_UPDATED=1
}

# ensure_packages PKG...: installs the packages that are not installed yet. Needs root only
# when something is missing.
ensure_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1; then
    warn "dpkg-query not found (not Debian?); make sure these are installed: $*"
    return 0
  fi
  local missing=() pkg
  for pkg in "$@"; do
    package_installed "$pkg" || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  if ! is_root; then
    die "missing Debian packages: ${missing[*]}
       Installing them needs root. Run this script as root (e.g. sudo $0), or install them:
       sudo apt-get install --no-install-recommends ${missing[*]}"
  fi
  say "installing missing packages: ${missing[*]}"
  apt_update_once
  # Another apt (a fresh machine's unattended-upgrades, a chroot sharing the .deb cache) may
  # hold apt's locks for a while: wait for them (dpkg's lock by apt's own timeout, the
  # archives' lock by retrying) instead of failing the first command a newcomer runs.
  local try rc log
  log=$(mktemp) || die "cannot create a temp file"
  for ((try = 1; ; try++)); do
    rc=0
    # Shown as it goes and kept for the lock check; rc is apt-get's own, whatever pipefail says.
    rm -f -- "$log.rc"
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
      --no-install-recommends "${missing[@]}" 2>&1 || echo "$?" >"$log.rc"; } | tee "$log" >&2 || true
    [[ -s $log.rc ]] && rc=$(<"$log.rc")
    ((rc == 0)) && { rm -f -- "$log" "$log.rc"; return 0; }
    if ((try < 60)) && grep -q 'Could not get lock' "$log"; then
      say "apt is busy (another apt holds its lock); trying again in 10 s ($try/60)"
      sleep 10
      continue
    fi
    rm -f -- "$log" "$log.rc"
    die "apt-get install failed for: ${missing[*]}"
  done
}

# ctest_skipped LOG: the names of the tests a ctest run (its output in LOG) reports as skipped
# (its "The following tests did not run" list: exit 77 under SKIP_RETURN_CODE, GTEST_SKIP).
ctest_skipped() {
  sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (Skipped)$/\1/p' "$1"
}

# build_meshbroker: configures (Ninja, RelWithDebInfo unless MESHBROKER_BUILD_TYPE says
# otherwise) and builds into $ROOT/build; the binary is $ROOT/build/meshbroker.
# use_compiler_cache: sets COMPILER_CACHE_ARGS to the cmake arguments that put ccache in front
# of the compilers (and exports its settings), so that a build of files already built once
# (scripts/test builds three trees; CI a fresh clone each time) is a cache hit. Root keeps the
# cache next to lab/rootfs.sh's (/var/cache/meshbroker-test/ccache; scripts/fresh-check shares
# it with its root unless --cold), anyone else in ccache's default place. Paths are hashed
# relative to the checkout, so another clone of the same code hits too. A missing header is
# still an error: ccache runs the compiler when a file it recorded is gone.
# MESHBROKER_CCACHE=0 builds without it.
use_compiler_cache() {
  if [[ ${MESHBROKER_CCACHE:-1} == 0 ]] || ! command -v ccache >/dev/null; then
    COMPILER_CACHE_ARGS=(-DCMAKE_CXX_COMPILER_LAUNCHER= -DCMAKE_C_COMPILER_LAUNCHER=)
    return 0
  fi
  if [[ -z ${CCACHE_DIR:-} ]] && is_root; then
    export CCACHE_DIR=/var/cache/meshbroker-test/ccache
  fi
  export CCACHE_BASEDIR=$ROOT CCACHE_NOHASHDIR=true CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-4G}
  COMPILER_CACHE_ARGS=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
}

# configure_and_build DIR WHAT [CMAKE_OPTION...] [-- TARGET...]: configures DIR with Ninja (the
# build type MESHBROKER_BUILD_TYPE, RelWithDebInfo unless set) and builds TARGETs (all without).
# WHAT names the build in the progress line.
configure_and_build() {
  local dir=$1 what=$2 cache generator
  shift 2
  local options=() targets=()
  while (($#)) && [[ $1 != -- ]]; do
    options+=("$1")
    shift
  done
  (($#)) && shift
  targets=("$@")
  cache="$dir/CMakeCache.txt"
  if [[ -f $cache ]]; then
    generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")
    if [[ -n $generator && $generator != Ninja ]]; then
      die "$dir was configured with \"$generator\", not Ninja; remove it (rm -rf $dir) and rerun"
    fi
  fi
  say "configuring $dir${what:+ ($what)}"
  use_compiler_cache
  cmake -S "$ROOT" -B "$dir" -G Ninja "${COMPILER_CACHE_ARGS[@]}" \
    -DCMAKE_BUILD_TYPE="${MESHBROKER_BUILD_TYPE:-RelWithDebInfo}" "${options[@]}" >/dev/null ||
    die "cmake configure failed (rerun: cmake -S $ROOT -B $dir -G Ninja ${options[*]})"
  say "building${what:+ ($what)}"
  if ((${#targets[@]})); then
    cmake --build "$dir" --target "${targets[@]}" || die "build failed"
  else
    cmake --build "$dir" || die "build failed"
  fi
}

build_meshbroker() {
  configure_and_build "$BUILD_DIR" ""
  [[ -x $MESHBROKER_BIN ]] || die "the build did not produce $MESHBROKER_BIN"
}

# build_gateway_only: the gateway-role-only meshbroker (-DMESHBROKER_GATEWAY_ONLY=ON: no OpenVPN,
# PKI or OpenSSL; what a router runs) for this machine, in $GATEWAY_BUILD_DIR.
GATEWAY_BUILD_DIR="$ROOT/build-gw"
build_gateway_only() {
  configure_and_build "$GATEWAY_BUILD_DIR" "gateway role only" -DMESHBROKER_GATEWAY_ONLY=ON \
    -DMESHBROKER_TESTS=OFF -- meshbroker meshbroker-notify
}

# localize_config SRC DST STATE_DIR RUNTIME_DIR: copies a meshbroker config, moving its state
# and runtime folders (/var/lib/meshbroker, /run/meshbroker) to STATE_DIR and RUNTIME_DIR. A
# config without a "paths" object gets one, since the defaults are those system folders.
localize_config() {
  local src=$1 dst=$2 state=$3 run=$4
  local state_re run_re
  [[ -r $src ]] || die "cannot read $src"
  # Escape what sed's replacement text treats specially (# is the delimiter here).
  state_re=$(printf '%s' "$state" | sed -e 's/[#&\\]/\\&/g')
  run_re=$(printf '%s' "$run" | sed -e 's/[#&\\]/\\&/g')
  if grep -q '"paths"[[:space:]]*:' "$src"; then
    sed -e "s#/var/lib/meshbroker#$state_re#g" -e "s#/run/meshbroker#$run_re#g" "$src" >"$dst"
  else
    sed -e '$ s#^}[[:space:]]*$#  ,"paths": {"state_dir": "'"$state_re"'", "runtime_dir": "'"$run_re"'"}\n}#' \
      "$src" >"$dst"
  fi
  if grep -q -e '/var/lib/meshbroker' -e '/run/meshbroker' "$dst" ||
    ! grep -qF "\"state_dir\": \"$state\"" "$dst"; then
    die "could not move the state/runtime paths of $src (wrote $dst)"
  fi
}

# build_deb [OUT_DIR]: the Debian package of the build in $BUILD_DIR, made by CPack
# (cpack -G DEB, cmake/Packaging.cmake): meshbroker_<version>_<arch>.deb in OUT_DIR (default
# $BUILD_DIR/package/). Configures and builds first when $BUILD_DIR has no build yet, else
# brings the build up to date. Build and cpack run under flock $MESHBROKER_BUILD_LOCK
# (default /tmp/meshbroker-build.lock; set it empty when the caller already holds the lock).
#
# Interface: prints the .deb's absolute path as the only line on stdout (progress goes to
# stderr) and sets MESHBROKER_DEB to it; exits (die) on failure. Either of:
#   deb=$(build_deb)                            # in a subshell: use the printed path
#   build_deb >/dev/null; echo "$MESHBROKER_DEB" # in this shell: use the variable
build_deb() {
  local out=${1:-$BUILD_DIR/package} lock=${MESHBROKER_BUILD_LOCK-/tmp/meshbroker-build.lock}
  local -a locked=()
  if [[ -n $lock ]] && command -v flock >/dev/null 2>&1; then
    locked=(flock "$lock")
  fi
  command -v dpkg-shlibdeps >/dev/null 2>&1 || ensure_packages dpkg-dev
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    # build_meshbroker configures and builds; run it under the lock as a child bash.
    # shellcheck disable=SC2016  # $1 and $2 are expanded by the child bash
    "${locked[@]}" bash -c 'source "$1"; BUILD_DIR=$2 MESHBROKER_BIN=$2/meshbroker; build_meshbroker' \
      bash "${BASH_SOURCE[0]}" "$BUILD_DIR" >&2 || die "building $BUILD_DIR failed"
  else
    say "bringing $BUILD_DIR up to date"
    "${locked[@]}" cmake --build "$BUILD_DIR" >&2 || die "build failed (cmake --build $BUILD_DIR)"
  fi
  [[ -f $BUILD_DIR/CPackConfig.cmake ]] ||
    die "$BUILD_DIR has no CPackConfig.cmake (reconfigure: cmake -S $ROOT -B $BUILD_DIR -G Ninja)"
  local version arch
  version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt")
  arch=$(dpkg --print-architecture)
  [[ -n $version ]] || die "no CMAKE_PROJECT_VERSION in $BUILD_DIR/CMakeCache.txt"
  mkdir -p -- "$out" || die "cannot create $out"
  out=$(cd -- "$out" && pwd)
  local name="meshbroker_${version}_${arch}.deb" work
  local deb="$out/$name"
  # cpack works in a folder of its own and the .deb is renamed into place: a caller reading
  # the previous .deb (another test, at the same time) never sees a half-written one.
  work=$(mktemp -d "$out/.cpack.XXXXXX") || die "cannot create a folder in $out"
  say "cpack -G DEB -> $deb"
  "${locked[@]}" cpack --config "$BUILD_DIR/CPackConfig.cmake" -G DEB -B "$work" >&2 ||
    die "cpack -G DEB failed (see above; $work/_CPack_Packages has its work)"
  [[ -s $work/$name ]] || die "cpack did not produce $work/$name"
  mv -f -- "$work/$name" "$deb" || die "cannot move the package to $deb"
  rm -rf -- "$work"
  # shellcheck disable=SC2034  # read by the scripts that call build_deb
  MESHBROKER_DEB=$deb
  printf '%s\n' "$deb"
}
