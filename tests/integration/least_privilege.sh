#!/usr/bin/env bash
# Integration test (issue 18, finding 5): tincd and openvpn run as their own system users,
# meshbroker does its job with only the capabilities its systemd unit leaves it, and what a
# compromised tincd or openvpn could then reach is tried and refused.
#
#   netns mb-chip-ID                                    netns mb-comegato-ID
#  +-------------------------------------------+       +-------------------------------------+
#  | setpriv --bounding-set=<the unit's set>   |       | setpriv --bounding-set=<unit's set> |
#  |   meshbroker run (chip.json), root        |       |   meshbroker run (comegato.json)    |
#  |   |- tincd --user=meshbroker-tinc         |= tinc=|   '- tincd --user=meshbroker-tinc   |
#  |   |- openvpn public  (meshbroker-openvpn) |       |                                     |
#  |   '- openvpn private (meshbroker-openvpn) |       |                                     |
#  +-------------------------------------------+       +-------------------------------------+
#
# Checks: the processes' uids (ps); meshbroker's own capabilities are exactly the unit's
# CapabilityBoundingSet; the mesh comes up and tinc's host-up reaches meshbroker from the
# dropped tincd (its hooks run as meshbroker-tinc); a SIGHUP to the dropped tincd (it re-reads
# its config as meshbroker-tinc) and a kill -9 (restarted by meshbroker, drops again) keep the
# mesh. Attacks, as meshbroker-tinc and meshbroker-openvpn: read the tinc private key, the
# OpenVPN CA and server keys, status.json, the backends' logs; list the runtime folder; rewrite
# tinc-up (run as root at the next start); and, as those users and as nobody, send meshbroker a
# forged "host-down" event. Each must fail, and meshbroker must still see comegato up.
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test least_privilege "$@"
lab_need openvpn setpriv ps

unit=$LAB_ROOT/supervisor/meshbroker.service
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$unit")
[[ -n $caps ]] || lab_fail "no CapabilityBoundingSet= in $unit"
bounding=-all
for cap in $caps; do
  cap=${cap#CAP_}
  bounding+=",+${cap,,}"
done

pair_openvpn_server
for node in chip comegato; do
  lab_spawn "$node" "$node" setpriv --bounding-set="$bounding" -- \
    "$MESHBROKER" run -c "$LAB_TMP/$node.json"
  PAIR_PID[$node]=$LAB_PID
done
for backend in tinc openvpn-public openvpn-private; do
  lab_expect 30 "chip's $backend running" pair_backend_is chip "$backend" running
done
lab_expect 30 "comegato's tinc running" pair_backend_is comegato tinc running

# --- who runs as whom ------------------------------------------------------------------------
uid_of() { ps -o uid= -p "$1" | tr -d ' '; }
runs_as() { [[ $(uid_of "$1") == "$2" ]]; } # PID UID
tinc_uid=$(id -u meshbroker-tinc) openvpn_uid=$(id -u meshbroker-openvpn)
# "running" comes with tinc-up (and openvpn's management socket), which run before the drop:
# the drop follows within moments (the ASan build takes over a second).
for node in chip comegato; do
  [[ $(uid_of "${PAIR_PID[$node]}") == 0 ]] || lab_fail "$node's meshbroker is not root"
  pid=$(pair_backend_pid "$node" tinc)
  lab_wait 10 "$node's tincd to drop root" runs_as "$pid" "$tinc_uid" ||
    lab_fail "$node's tincd runs as uid $(uid_of "$pid"), not meshbroker-tinc ($tinc_uid)"
  # Its own capabilities: exactly the unit's set (the bounding set limits what root keeps).
  want=$(grep '^CapBnd:' "/proc/${PAIR_PID[$node]}/status" | awk '{print $2}')
  eff=$(grep '^CapEff:' "/proc/${PAIR_PID[$node]}/status" | awk '{print $2}')
  [[ $eff == "$want" ]] || lab_fail "$node's meshbroker has CapEff $eff, bounding $want"
done
for instance in public private; do
  pid=$(pair_backend_pid chip "openvpn-$instance")
  lab_wait 10 "openvpn-$instance to drop root" runs_as "$pid" "$openvpn_uid" ||
    lab_fail "openvpn-$instance runs as uid $(uid_of "$pid"), not meshbroker-openvpn ($openvpn_uid)"
done
tinc_caps=$(grep '^CapEff:' "/proc/$(pair_backend_pid chip tinc)/status" | awk '{print $2}')
[[ $tinc_caps == 0000000000000000 ]] || lab_fail "the dropped tincd kept capabilities $tinc_caps"
lab_log "ps: meshbroker root with CapEff $eff (the unit's $caps); tincd uid $tinc_uid, openvpn uid $openvpn_uid"
ps -o user:20,uid,pid,args -p "${PAIR_PID[chip]},$(pair_backend_pid chip tinc),$(pair_backend_pid chip openvpn-public),$(pair_backend_pid chip openvpn-private)" |
  sed 's/^/    /'

# --- the dropped tincd still does its job -------------------------------------------------
mesh_up() { [[ $(pair_status chip '.mesh[] | select(.name == "comegato") | .up') == true ]]; }
lab_expect 30 "chip to reach comegato over the mesh" lab_ping chip "${PAIR_MESH[comegato]}"
lab_expect 10 "comegato's host-up (from a hook run as meshbroker-tinc) in chip's status" mesh_up
lab_log "mesh up; host-up events reach meshbroker from the dropped tincd's hooks"
# ... and they ran meshbroker-notify, the small program beside meshbroker (tincd waits for its
# hooks): the binary itself, or its copy in the runtime folder where meshbroker-tinc cannot
# reach the build.
hook=$(sed -n "s/^'\\([^']*\\)' notify .*/\\1/p" "$LAB_TMP/chip/state/rendered/tinc/host-up")
[[ $(basename -- "$hook") == meshbroker-notify ]] ||
  lab_fail "chip's host-up runs \"$hook\", not meshbroker-notify: $(cat "$LAB_TMP/chip/state/rendered/tinc/host-up")"

tinc_pid=$(pair_backend_pid chip tinc)
kill -HUP "$tinc_pid"
lab_expect 10 "tincd's 'Got HUP signal'" grep -q 'Got HUP signal' "$LAB_TMP/chip.log"
sleep 1
! grep -Eiq 'permission denied|cannot (open|read)' "$LAB_TMP/chip.log" ||
  lab_fail "tincd could not re-read its config as meshbroker-tinc: $(grep -Ei 'permission denied|cannot (open|read)' "$LAB_TMP/chip.log" | head -3)"
lab_expect 10 "the mesh after tincd's SIGHUP" lab_ping chip "${PAIR_MESH[comegato]}"
[[ $(pair_backend_pid chip tinc) == "$tinc_pid" ]] || lab_fail "SIGHUP restarted tincd"
kill -KILL "$tinc_pid"
lab_expect 20 "tincd restarted" bash -c "p=\$(jq -r '.backends[]|select(.id==\"tinc\")|.pid' '$LAB_TMP/chip/run/status.json'); [[ \$p != $tinc_pid && \$p != 0 ]]"
lab_expect 30 "tinc running again" pair_backend_is chip tinc running
pid=$(pair_backend_pid chip tinc)
lab_wait 10 "the restarted tincd to drop root" runs_as "$pid" "$tinc_uid" ||
  lab_fail "the restarted tincd runs as uid $(uid_of "$pid")"
lab_expect 30 "the mesh after tincd's restart" lab_ping chip "${PAIR_MESH[comegato]}"
lab_expect 20 "comegato up again in chip's status" mesh_up
lab_log "SIGHUP (config re-read as meshbroker-tinc) and kill -9 (restarted, dropped again): mesh kept"

# --- attacks: what a compromised tincd or openvpn tries -----------------------------------
as() { # USER COMMAND...: run as USER with its own groups, no capabilities
  local user=$1
  shift
  setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all --bounding-set=-all -- "$@"
}
run=$LAB_TMP/chip/run state=$LAB_TMP/chip/state pki=$LAB_TMP/pki
secrets=("$state/tinc/rsa_key.priv" "$run/status.json" "$run/backends/openvpn-public.log"
  "$run/backends/tinc.log")
while IFS= read -r -d '' key; do secrets+=("$key"); done < <(find "$pki/private" -type f -print0)
((${#secrets[@]} > 5)) || lab_fail "found no PKI keys under $pki/private"
for user in meshbroker-tinc meshbroker-openvpn; do
  for secret in "${secrets[@]}"; do
    [[ -e $secret ]] || lab_fail "$secret does not exist (the attack would prove nothing)"
    if as "$user" cat -- "$secret" >/dev/null 2>&1; then
      lab_fail "$user can read $secret"
    fi
  done
  if as "$user" ls -- "$run" >/dev/null 2>&1; then lab_fail "$user can list $run"; fi
  if as "$user" sh -c 'echo "id > /tmp/owned" >> "$1"' _ "$state/rendered/tinc/tinc-up" 2>/dev/null; then
    lab_fail "$user can rewrite tinc-up, which runs as root"
  fi
  if as "$user" sh -c ': > "$1/x"' _ "$state/rendered/tinc/hosts" 2>/dev/null; then
    lab_fail "$user can add a host file"
  fi
done
lab_log "as meshbroker-tinc and meshbroker-openvpn: ${#secrets[@]} secrets unreadable, runtime folder unlistable, tinc-up and hosts/ unwritable"

# A forged host-down, sent the way tinc's hooks send events, by users other than tincd's.
attacker=$LAB_TMP/attacker
mkdir -p "$attacker" && cp -- "$MESHBROKER" "$attacker/meshbroker" && chmod 0755 "$attacker" "$attacker/meshbroker"
for user in meshbroker-openvpn nobody; do
  if as "$user" env NODE=comegato REMOTEADDRESS=192.0.2.12 \
    "$attacker/meshbroker" notify --runtime-dir "$run" host-down >"$LAB_TMP/forge-$user.log" 2>&1; then
    lab_fail "$user could send meshbroker an event: $(cat "$LAB_TMP/forge-$user.log")"
  fi
done
sleep 1
mesh_up || lab_fail "a forged host-down reached meshbroker: comegato is down in chip's status"
lab_log "forged host-down as meshbroker-openvpn and nobody: refused (the socket is not theirs); comegato still up"

for node in chip comegato; do
  kill -TERM "${PAIR_PID[$node]}"
  wait "${PAIR_PID[$node]}" || lab_fail "$node's meshbroker did not exit cleanly"
  lab_forget "${PAIR_PID[$node]}"
done
lab_pass
