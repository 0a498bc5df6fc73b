#!/usr/bin/env bash
# Integration test: the Debian package, installed with apt on a clean Debian 12.
#
#   this host                                   chroot $LAB_TMP/root (debootstrap minbase
#  +---------------------------------+          bookworm + systemd, lab/rootfs.sh, cached)
#  | build/ --cpack -G DEB-->  .deb -+--copy--> +--------------------------------------------+
#  | dpkg-deb -f / -c: fields, files |          | apt-get install /tmp/meshbroker_*.deb      |
#  +---------------------------------+          |   (tinc, openvpn, iproute2 from the mirror)|
#                                               | meshbroker --help / --version              |
#                                               | example -> /etc/meshbroker/meshbroker.json |
#                                               |   keygen (node and peers), check           |
#                                               | systemd-analyze verify meshbroker.service  |
#                                               | systemctl enable; dpkg -r; dpkg --purge    |
#                                               +--------------------------------------------+
#
# Usage: package_install.sh MESHBROKER_BINARY
#   The .deb is built from the binary's build folder (build_deb, scripts/lib/common.sh) unless
#   MESHBROKER_DEB names one. Needs root and debootstrap (else exit 77, skip). The base rootfs
#   is cached in /var/cache/meshbroker-test/ (see lab/rootfs.sh); LAB_KEEP=1 keeps the temp folder.
set -euo pipefail
# dpkg-query's formats (their ${...} are dpkg's, not the shell's).
# shellcheck disable=SC2016
STATUS_FMT='${Status}' CONFFILES_FMT='${Conffiles}'

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../lab/core.sh
source "$HERE/../../lab/core.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
lab_binary MESHBROKER "$1"
lab_init --test package_install
lab_need debootstrap dpkg-deb chroot mount jq

# shellcheck source=SCRIPTDIR/../../scripts/lib/common.sh
source "$HERE/../../scripts/lib/common.sh"
# shellcheck source=SCRIPTDIR/../../lab/rootfs.sh
source "$HERE/../../lab/rootfs.sh"
# shellcheck disable=SC2034  # build_deb packages $BUILD_DIR: the build this binary is from
BUILD_DIR=$(dirname -- "$MESHBROKER")

started=$SECONDS
ROOTFS=$LAB_TMP/root
# Before lab_cleanup removes $LAB_TMP: nothing may stay mounted inside it, and the root's
# removal must never cross a mount.
# shellcheck disable=SC2317  # called by lab_cleanup
remove_root() {
  rootfs_umount "$ROOTFS"
  [[ -n ${LAB_KEEP:-} ]] || rootfs_remove "$ROOTFS"
  ((LAB_OK)) && lab_log "took $((SECONDS - started)) s"
  return 0
}
lab_on_cleanup remove_root

# in_root CMD...: CMD inside the chroot, with a clean environment.
in_root() {
  chroot "$ROOTFS" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"
}

# --- the package ------------------------------------------------------------------------
if [[ -n ${MESHBROKER_DEB:-} ]]; then
  [[ -s $MESHBROKER_DEB ]] || lab_fail "MESHBROKER_DEB=$MESHBROKER_DEB does not exist"
  DEB=$(readlink -f -- "$MESHBROKER_DEB")
else
  t=$SECONDS
  DEB=$(build_deb "$BUILD_DIR/package" 2>"$LAB_TMP/build_deb.log") || { cat -- "$LAB_TMP/build_deb.log" >&2; lab_fail "build_deb failed"; }
  lab_log "built $DEB in $((SECONDS - t)) s"
fi
lab_log "package: $(basename -- "$DEB"), $(du -k -- "$DEB" | cut -f1) KiB"

version=$("$MESHBROKER" --version | awk '{print $NF}')
field() { dpkg-deb -f "$DEB" "$1"; }
[[ $(field Package) == meshbroker ]] || lab_fail "Package: is '$(field Package)'"
[[ $(field Version) == "$version" ]] || lab_fail "Version: '$(field Version)', the binary says $version"
[[ $(field Architecture) == "$(dpkg --print-architecture)" ]] || lab_fail "Architecture: $(field Architecture)"
[[ $(field Section) == net ]] || lab_fail "Section: '$(field Section)', not net"
[[ -n $(field Maintainer) && -n $(field Description) ]] || lab_fail "no Maintainer: or Description:"
[[ $(basename -- "$DEB") == "meshbroker_${version}_$(field Architecture).deb" ]] ||
  lab_fail "file name $(basename -- "$DEB") is not meshbroker_<version>_<arch>.deb"
depends=$(field Depends)
lab_log "Depends: $depends"
for dep in tinc openvpn iproute2 procps libc6 libssl3 libsodium23 libnl-3-200 libnl-route-3-200; do
  grep -Eq "(^|, )$dep( |,|$)" <<<"$depends" || lab_fail "Depends: lacks $dep: $depends"
done
# What the daemon must not load (bench/memory): libsystemd (six libraries for one sendto),
# cpp-httplib (OpenSSL initialised from a static constructor), a shared libstdc++.
forbidden=(libsystemd0 libcpp-httplib0.11)
cache=$BUILD_DIR/CMakeCache.txt
if grep -qx 'MESHBROKER_STATIC_LIBSTDCXX:BOOL=ON' "$cache" &&
  ! grep -Eqx 'MESHBROKER_(SANITIZE|TSAN|FUZZ):BOOL=ON' "$cache"; then
  forbidden+=(libstdc++6)  # sanitizer builds link it shared on purpose (cmake/Options.cmake)
fi
for dep in "${forbidden[@]}"; do
  if grep -Eq "(^|, )$dep( |,|$)" <<<"$depends"; then lab_fail "Depends: has $dep: $depends"; fi
done

dpkg-deb -c "$DEB" | awk '{print $1, $NF}' >"$LAB_TMP/contents"
has() { grep -qxF -- "$1" <(awk '{print $2}' "$LAB_TMP/contents") || lab_fail "the package lacks $1"; }
has ./usr/bin/meshbroker
has ./usr/bin/meshbroker-notify
has ./lib/systemd/system/meshbroker.service
has ./etc/meshbroker/
has ./usr/share/doc/meshbroker/README.md
has ./usr/share/doc/meshbroker/docs/config.md
for example in "$ROOT"/examples/seed/*.json; do
  has "./usr/share/doc/meshbroker/examples/$(basename -- "$example")"
done
has ./usr/share/meshbroker/templates/README
has ./usr/share/meshbroker/templates/tinc/tinc.conf.mustache
has ./usr/share/meshbroker/templates/openvpn/server.conf.mustache
# Under /etc only the empty folder: no meshbroker.json that would start the service bogusly.
etc_files=$(awk '$2 ~ /^\.\/etc\// && $1 !~ /^d/ {print $2}' "$LAB_TMP/contents")
[[ -z $etc_files ]] || lab_fail "the package ships files under /etc: $etc_files"
for binary in meshbroker meshbroker-notify; do
  grep -q "^-rwxr-xr-x ./usr/bin/$binary\$" "$LAB_TMP/contents" || lab_fail "/usr/bin/$binary is not 0755"
done
dpkg-deb -e "$DEB" "$LAB_TMP/control"
[[ ! -e $LAB_TMP/control/conffiles ]] || lab_fail "unexpected conffiles: $(cat "$LAB_TMP/control/conffiles")"
for script in postinst prerm postrm; do
  [[ -x $LAB_TMP/control/$script ]] || lab_fail "no executable $script maintainer script"
  sh -n "$LAB_TMP/control/$script" || lab_fail "$script: syntax error"
done
if grep -Eq '(systemctl|deb-systemd-invoke) (enable|start|restart)|deb-systemd-helper enable|--now' \
  "$LAB_TMP/control/postinst"; then
  lab_fail "postinst enables or starts the service (it must not, without a config)"
fi
dpkg-deb -x "$DEB" "$LAB_TMP/unpacked"
grep -qx 'ExecStart=/usr/bin/meshbroker run -c /etc/meshbroker/meshbroker.json' \
  "$LAB_TMP/unpacked/lib/systemd/system/meshbroker.service" || lab_fail "the packaged unit's ExecStart= is wrong"
for binary in meshbroker meshbroker-notify; do
  if file_out=$(command -v file >/dev/null && file -b "$LAB_TMP/unpacked/usr/bin/$binary"); then
    [[ $file_out != *"not stripped"* ]] || lab_fail "/usr/bin/$binary is not stripped"
  fi
done
lab_log "package fields and contents ok"

# --- a clean Debian 12 --------------------------------------------------------------------
t=$SECONDS
rootfs_make "$ROOTFS" systemd || lab_fail "could not make the Debian 12 rootfs"
lab_log "rootfs ready in $((SECONDS - t)) s"
[[ ! -e $ROOTFS/usr/bin/tincd && ! -e $ROOTFS/usr/sbin/tincd && ! -e $ROOTFS/usr/sbin/openvpn ]] ||
  lab_fail "the base rootfs already has tinc or openvpn: the install would not show apt resolving them"
rootfs_mount "$ROOTFS" || lab_fail "could not mount /proc, /sys, /dev in the rootfs"
rootfs_services "$ROOTFS" off || lab_fail "could not write policy-rc.d"
cp -- "$DEB" "$ROOTFS/tmp/"
deb_in_root=/tmp/$(basename -- "$DEB")

t=$SECONDS
if ! in_root apt-get install -y -q "$deb_in_root" >"$LAB_TMP/apt.log" 2>&1; then
  # The cached package lists may be older than the mirror: refresh once and retry.
  lab_log "apt-get install failed; apt-get update and again"
  in_root apt-get update -q >>"$LAB_TMP/apt.log" 2>&1 || { tail -n 30 "$LAB_TMP/apt.log" >&2; lab_fail "apt-get update failed"; }
  in_root apt-get install -y -q "$deb_in_root" >>"$LAB_TMP/apt.log" 2>&1 ||
    { tail -n 40 "$LAB_TMP/apt.log" >&2; lab_fail "apt-get install $deb_in_root failed"; }
fi
lab_log "apt-get install (with dependencies from the mirror) took $((SECONDS - t)) s"
for pkg in meshbroker tinc openvpn iproute2 procps; do
  [[ $(in_root dpkg-query -W -f="$STATUS_FMT" "$pkg" 2>/dev/null) == "install ok installed" ]] ||
    lab_fail "$pkg is not installed after apt-get install"
done
[[ -z $(in_root dpkg-query -W -f="$CONFFILES_FMT" meshbroker) ]] || lab_fail "meshbroker has conffiles"
# The users tincd and openvpn drop root to: system users without a home or a login shell.
for user in meshbroker-tinc meshbroker-openvpn; do
  entry=$(in_root getent passwd "$user") || lab_fail "the package made no user $user"
  IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
  ((uid < 1000)) && [[ $home == /nonexistent && $shell == /usr/sbin/nologin ]] ||
    lab_fail "$user is not a system user without a home and a shell: $entry"
  in_root getent group "$user" >/dev/null || lab_fail "the package made no group $user"
done
[[ -d $ROOTFS/etc/meshbroker && -z $(ls -A "$ROOTFS/etc/meshbroker") ]] ||
  lab_fail "/etc/meshbroker is missing or not empty after the install"

in_root meshbroker --help >"$LAB_TMP/help.txt" 2>&1 || { cat "$LAB_TMP/help.txt" >&2; lab_fail "meshbroker --help failed"; }
grep -q 'check' "$LAB_TMP/help.txt" || lab_fail "meshbroker --help does not list the commands"
[[ $(in_root meshbroker --version) == "meshbroker $version" ]] || lab_fail "meshbroker --version: $(in_root meshbroker --version)"

# The example set-up examples/README describes: chip's config in /etc/meshbroker, its keys
# in /var/lib/meshbroker, the peers' public keys in /etc/meshbroker/keys/.
cp -- "$ROOTFS/usr/share/doc/meshbroker/examples/chip.json" "$ROOTFS/etc/meshbroker/meshbroker.json"
in_root meshbroker keygen -c /etc/meshbroker/meshbroker.json >"$LAB_TMP/keygen.log" 2>&1 ||
  { cat "$LAB_TMP/keygen.log" >&2; lab_fail "keygen failed in the chroot"; }
[[ -s $ROOTFS/var/lib/meshbroker/tinc/rsa_key.priv ]] || lab_fail "keygen made no /var/lib/meshbroker/tinc/rsa_key.priv"
mkdir -p "$ROOTFS/etc/meshbroker/keys" "$ROOTFS/tmp/peers"
for peer in comegato cometa illimani; do
  jq ".paths.state_dir = \"/tmp/peers/$peer/state\" | .paths.runtime_dir = \"/tmp/peers/$peer/run\"" \
    "$ROOTFS/usr/share/doc/meshbroker/examples/$peer.json" >"$ROOTFS/tmp/peers/$peer.json" ||
    lab_fail "jq failed on the installed $peer.json"
  in_root meshbroker keygen -c "/tmp/peers/$peer.json" >"$LAB_TMP/keygen-$peer.log" 2>&1 ||
    { cat "$LAB_TMP/keygen-$peer.log" >&2; lab_fail "keygen failed for $peer"; }
  cp -- "$ROOTFS/tmp/peers/$peer/state/tinc/rsa_key.pub" "$ROOTFS/etc/meshbroker/keys/$peer.pub" ||
    lab_fail "keygen for $peer made no public key"
done
in_root meshbroker check -c /etc/meshbroker/meshbroker.json >"$LAB_TMP/check.log" 2>&1 ||
  { cat "$LAB_TMP/check.log" >&2; lab_fail "meshbroker check rejected the installed example"; }
in_root meshbroker render -c /etc/meshbroker/meshbroker.json -o /tmp/rendered >"$LAB_TMP/render.log" 2>&1 ||
  { cat "$LAB_TMP/render.log" >&2; lab_fail "meshbroker render failed on the installed example"; }
[[ -s $ROOTFS/tmp/rendered/tinc/tinc.conf ]] || lab_fail "render wrote no tinc/tinc.conf"
lab_log "installed binary: --help, --version, keygen, check, render ok"

# The unit, as systemd on this system reads it (ExecStart= exists now).
out=$(in_root systemd-analyze verify /lib/systemd/system/meshbroker.service 2>&1) || true
if grep -q 'meshbroker' <<<"$out"; then
  printf '%s\n' "$out" >&2
  lab_fail "systemd-analyze verify complains about meshbroker.service"
fi
[[ -z $out ]] || lab_log "systemd-analyze verify said (not about meshbroker): $out"
lab_log "systemd-analyze verify /lib/systemd/system/meshbroker.service: clean"

# Enable it as the admin would (offline: symlinks only), then remove and purge.
in_root systemctl enable meshbroker.service >"$LAB_TMP/enable.log" 2>&1 ||
  { cat "$LAB_TMP/enable.log" >&2; lab_fail "systemctl enable failed in the chroot"; }
wants=$ROOTFS/etc/systemd/system/multi-user.target.wants/meshbroker.service
[[ -L $wants ]] || lab_fail "systemctl enable made no $wants"

in_root dpkg -r meshbroker >"$LAB_TMP/remove.log" 2>&1 || { cat "$LAB_TMP/remove.log" >&2; lab_fail "dpkg -r meshbroker failed"; }
[[ ! -e $ROOTFS/usr/bin/meshbroker ]] || lab_fail "dpkg -r left /usr/bin/meshbroker"
[[ ! -e $ROOTFS/lib/systemd/system/meshbroker.service ]] || lab_fail "dpkg -r left the unit"
[[ -f $ROOTFS/etc/meshbroker/meshbroker.json ]] || lab_fail "dpkg -r deleted the admin's meshbroker.json"
[[ -f $ROOTFS/var/lib/meshbroker/tinc/rsa_key.priv ]] || lab_fail "dpkg -r deleted the node's private key"
in_root dpkg --purge meshbroker >"$LAB_TMP/purge.log" 2>&1 || { cat "$LAB_TMP/purge.log" >&2; lab_fail "dpkg --purge meshbroker failed"; }
status=$(in_root dpkg-query -W -f="$STATUS_FMT" meshbroker 2>/dev/null || true)
[[ -z $status || $status == "unknown ok not-installed" ]] || lab_fail "after purge, meshbroker is '$status'"
[[ ! -L $wants ]] || lab_fail "purge left the dangling $wants"
[[ -f $ROOTFS/etc/meshbroker/meshbroker.json ]] || lab_fail "purge deleted the admin's meshbroker.json"
lab_log "dpkg -r and dpkg --purge ok"

lab_pass
