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
BUILD_PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  nlohmann-json3-dev libcli11-dev libkainjow-mustache-dev libssl-dev
  libgtest-dev libgmock-dev
  clang clang-format libclang-rt-14-dev
  libboost-dev libboost-filesystem-dev libsystemd-dev
  libnl-3-dev libnl-route-3-dev libcpp-httplib-dev
)
# Debian packages the integration tests and the demo run.
# curl, promtool (Debian's prometheus), chromium and wrk check the status page, API and metrics.
RUNTIME_PACKAGES=(tinc iproute2 iputils-ping procps ca-certificates jq systemd openvpn iperf3
                  nftables util-linux curl prometheus chromium fonts-dejavu-core wrk
                  ansible ansible-lint openssh-server openssh-client debootstrap systemd-container)
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
package_installed() {
  local status
  status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
  [[ $status == "install ok installed" ]]
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
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
}

# build_meshbroker: configures (Ninja, RelWithDebInfo unless MESHBROKER_BUILD_TYPE says
# otherwise) and builds into $ROOT/build; the binary is $ROOT/build/meshbroker.
build_meshbroker() {
  local cache="$BUILD_DIR/CMakeCache.txt" generator
  if [[ -f $cache ]]; then
    generator=$(sed -n 's/^CMAKE_GENERATOR:INTERNAL=//p' "$cache")
    if [[ -n $generator && $generator != Ninja ]]; then
      die "$BUILD_DIR was configured with \"$generator\", not Ninja; remove it (rm -rf $BUILD_DIR) and rerun"
    fi
  fi
  say "configuring $BUILD_DIR"
  cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE="${MESHBROKER_BUILD_TYPE:-RelWithDebInfo}" >/dev/null ||
    die "cmake configure failed (rerun: cmake -S $ROOT -B $BUILD_DIR -G Ninja)"
  say "building"
  cmake --build "$BUILD_DIR" || die "build failed"
  [[ -x $MESHBROKER_BIN ]] || die "the build did not produce $MESHBROKER_BIN"
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
