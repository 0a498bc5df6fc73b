#!/usr/bin/env bash
# Checks the OpenWrt files (openwrt/) without OpenWrt: the procd init script's logic under a
# POSIX sh with rc.common's and procd's functions stubbed (what it asks procd for when enabled,
# disabled, on a config change and on reload), the shipped UCI config through the real
# `meshbroker check`, and the package Makefile's install rules.
# Usage: openwrt_check.sh MESHBROKER_BINARY
set -euo pipefail
meshbroker=$1
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
openwrt=$here/../openwrt
# shellcheck source=../lab/core.sh
source "$here/../lab/core.sh"
# shellcheck disable=SC2034  # read by lab_fail
LAB_NAME=openwrt_check
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

# run_init ENABLED ACTION: sources the init script in sh with stubs and runs ACTION
# (start_service, service_triggers, reload_service); prints what procd was asked, one call a
# line. ENABLED: the meshbroker section's `enabled` ("" = not set).
run_init() {
  ENABLED_OPTION=$1 INIT=$openwrt/files/meshbroker.init sh -eu -c '
    calls() { echo "$*" >>"$CALLS"; }
    config_load() { calls "config_load $1"; }
    config_foreach() { "$1" node; }
    config_get_bool() {  # VAR SECTION OPTION DEFAULT
      if [ -n "$ENABLED_OPTION" ]; then eval "$1=\$ENABLED_OPTION"; else eval "$1=\$4"; fi
    }
    procd_open_instance() { calls "open_instance"; }
    procd_set_param() { calls "set $*"; }
    procd_close_instance() { calls "close_instance"; }
    procd_add_reload_trigger() { calls "reload_trigger $*"; }
    procd_send_signal() { calls "signal $*"; }
    start() { calls "start"; start_service; }
    . "$INIT"
    '"$2"'
  ' 2>&1
  cat "$CALLS"
}
export CALLS=$tmp/calls

sh -n "$openwrt/files/meshbroker.init" || lab_fail "the init script is not valid sh"
head -n1 "$openwrt/files/meshbroker.init" | grep -qx '#!/bin/sh /etc/rc.common' ||
  lab_fail "the init script does not start with rc.common's line"

: >"$CALLS"
out=$(run_init "" start_service)
grep -qx "set command /usr/sbin/meshbroker run -c /etc/config/meshbroker" <<<"$out" ||
  lab_fail "enabled by default: no meshbroker run instance: $out"
grep -qx "set respawn 3600 5 0" <<<"$out" || lab_fail "no respawn for ever: $out"
[[ $(grep -c open_instance <<<"$out") == 1 && $(grep -c close_instance <<<"$out") == 1 ]] ||
  lab_fail "one instance expected: $out"

: >"$CALLS"
out=$(run_init 0 start_service)
grep -q instance <<<"$out" && lab_fail "enabled 0 still started an instance: $out"
grep -qx "config_load meshbroker" <<<"$out" || lab_fail "enabled 0: the config was not read: $out"

: >"$CALLS"
out=$(run_init 1 service_triggers)
grep -qx "reload_trigger meshbroker" <<<"$out" || lab_fail "no reload on a config change: $out"

: >"$CALLS"
out=$(run_init 1 reload_service)
[[ $(grep -n "start\|signal" <<<"$out" | tr '\n' ' ') == "1:start "*"signal meshbroker * HUP "* ]] ||
  lab_fail "reload: start (instances as the config says), then SIGHUP to reload in place: $out"
lab_log "init script: one respawning instance when enabled, none when enabled 0, reload on config change by start + SIGHUP"

# The shipped UCI config is valid (warnings only: this router's keys are not there yet), and a
# mistake in it is named by its UCI option.
"$meshbroker" check -c "$openwrt/files/meshbroker.config" >"$tmp/check.out" 2>&1 ||
  lab_fail "meshbroker check refuses the shipped UCI config: $(cat "$tmp/check.out")"
sed 's/100.64.12.9/100.64.13.9/' "$openwrt/files/meshbroker.config" >"$tmp/meshbroker"
if "$meshbroker" check -c "$tmp/meshbroker" >"$tmp/bad.out" 2>&1; then
  lab_fail "meshbroker check took an address outside the prefix"
fi
grep -q 'meshbroker.tinc.address: "100.64.13.9" is outside the mesh prefix' "$tmp/bad.out" ||
  lab_fail "the UCI mistake was not named by its option: $(cat "$tmp/bad.out")"
lab_log "the shipped /etc/config/meshbroker passes meshbroker check; a wrong address is named meshbroker.tinc.address"

# The package installs the binary, the init script and the config (kept across upgrades).
mk=$openwrt/Makefile
for want in 'include $(INCLUDE_DIR)/package.mk' 'include $(INCLUDE_DIR)/cmake.mk' \
  '$(eval $(call BuildPackage,meshbroker))' './files/meshbroker.init $(1)/etc/init.d/meshbroker' \
  './files/meshbroker.config $(1)/etc/config/meshbroker' '-DMESHBROKER_TESTS=OFF'; do
  grep -qF -- "$want" "$mk" || lab_fail "openwrt/Makefile lacks: $want"
done
awk '/^define Package\/meshbroker\/conffiles/,/^endef/' "$mk" | grep -qx /etc/config/meshbroker ||
  lab_fail "/etc/config/meshbroker is not a conffile"
lab_log "PASS"
