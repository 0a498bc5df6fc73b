#!/usr/bin/env bash
# Integration test (issue 18, finding 3): a revocation reaches sessions that are already up, on
# a server that only gets a copy of the new CRL file, within 5 s and without restarting openvpn.
#
#   netns mb-chip-ID                                 netns mb-comegato-ID (here: two laptops)
#  +--------------------------------------+         +------------------------------------+
#  | meshbroker run (chip.json)           |         | openvpn client alice (alice.ovpn)  |
#  |   |- tincd (its peer is not running) |         | openvpn client bob   (bob.ovpn)    |
#  |   '- openvpn private  tcp 443  <-----+- veth --+  --route-noexec: two tunnels, one  |
#  |   veth0 192.0.2.11/24                |         |  namespace       192.0.2.12/24     |
#  +--------------------------------------+         +------------------------------------+
#
# The CA holder is a copy of chip's PKI folder with its own config and runtime folder: a revoke
# there reaches chip only as a file, copied into chip's PKI folder the way Ansible does (a new
# file renamed over the old one), with no control socket or management command involved.
#
# Checks: alice and bob connect; `client revoke alice` on the holder writes alice's name in the
# CRL file's header; once the copy lands, chip's daemon ends alice's session within 5 s (its log,
# and alice's client sees the session end), openvpn keeps its PID, bob's session stays up
# (only the revoked are ended), and alice's reconnect is refused (certificate revoked).
set -euo pipefail
# shellcheck source=../../lab/two_nodes.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/two_nodes.sh"
pair_init --test openvpn_revoke_live "$@"
lab_need openvpn

pair_config chip '.paths.pki_dir = "'"$LAB_TMP"'/pki"' '.supervisor.restart_base_ms = 100'
pair_keys chip
pair_underlay chip comegato
# openvpn drops to meshbroker-openvpn and re-reads the CRL when it changes: the folders must let it through.
chmod 755 "$LAB_TMP"
"$MESHBROKER" client init -c "$LAB_TMP/chip.json" >"$LAB_TMP/init.log" 2>&1 ||
  { cat "$LAB_TMP/init.log"; lab_fail "client init failed"; }
for who in alice bob; do
  "$MESHBROKER" client add "$who" -i private -c "$LAB_TMP/chip.json" -o "$LAB_TMP/$who.ovpn" \
    >"$LAB_TMP/add-$who.log" 2>&1 || { cat "$LAB_TMP/add-$who.log"; lab_fail "client add $who failed"; }
done
cp -a -- "$LAB_TMP/pki" "$LAB_TMP/holder-pki"
jq --arg pki "$LAB_TMP/holder-pki" --arg run "$LAB_TMP/holder/run" --arg state "$LAB_TMP/holder/state" \
  '.paths.pki_dir = $pki | .paths.runtime_dir = $run | .paths.state_dir = $state' \
  "$LAB_TMP/chip.json" >"$LAB_TMP/holder.json"

pair_run chip
lab_expect 30 "openvpn-private running" pair_backend_is chip openvpn-private running
for who in alice bob; do
  lab_spawn comegato "$who" openvpn --config "$LAB_TMP/$who.ovpn" --route-noexec --verb 3
done
connected() {  # NAME..: every NAME in chip's client list of the private instance
  local list who
  list=$(pair_status chip '[.clients[] | select(.instance == "private") | .clients[].common_name] | join(" ")')
  for who in "$@"; do [[ " $list " == *" $who "* ]] || return 1; done
}
lab_expect 30 "alice and bob connected to chip" connected alice bob
lab_expect 10 "alice's tunnel up" grep -q 'Initialization Sequence Completed' "$LAB_TMP/alice.log"
ovpn_pid=$(pair_backend_pid chip openvpn-private)
lab_log "alice and bob connected to chip's private instance (openvpn pid $ovpn_pid)"

# The holder revokes alice; its CRL file names her in its header, which OpenVPN skips.
"$MESHBROKER" client revoke alice -c "$LAB_TMP/holder.json" >"$LAB_TMP/revoke.log" 2>&1 ||
  { cat "$LAB_TMP/revoke.log"; lab_fail "client revoke failed on the holder"; }
grep -Eq '^# revoked [0-9A-F]+ alice$' "$LAB_TMP/holder-pki/crl/private.pem" ||
  lab_fail "the holder's crl/private.pem does not name alice: $(head -5 "$LAB_TMP/holder-pki/crl/private.pem")"
grep -q 'revoked [0-9A-F]* bob$' "$LAB_TMP/holder-pki/crl/private.pem" && lab_fail "bob is named revoked"
openssl crl -in "$LAB_TMP/holder-pki/crl/private.pem" -noout 2>/dev/null ||
  lab_fail "openssl cannot read the CRL file with its header"
sleep 2  # nothing happens on chip before the copy: the revoke did not reach it another way
connected alice || lab_fail "alice's session ended before the CRL was copied to chip"
grep -q 'ended the session of alice' "$LAB_TMP/chip.log" && lab_fail "chip acted before the copy"

# The copy, as Ansible makes it: a new file renamed over the old one.
alice_lines=$(wc -l <"$LAB_TMP/alice.log")
bob_lines=$(wc -l <"$LAB_TMP/bob.log")
t0=$(lab_ms)
cp -- "$LAB_TMP/holder-pki/crl/private.pem" "$LAB_TMP/pki/crl/.private.pem.new"
mv -f -- "$LAB_TMP/pki/crl/.private.pem.new" "$LAB_TMP/pki/crl/private.pem"
lab_expect 10 "chip to end alice's session" grep -q 'openvpn-private: ended the session of alice' "$LAB_TMP/chip.log"
ended_ms=$(($(lab_ms) - t0))
client_saw() { tail -n +"$((alice_lines + 1))" "$LAB_TMP/alice.log" | grep -Eq 'SIGUSR1|SIGTERM|Connection reset|restart'; }
lab_expect 10 "alice's client to see its session end" client_saw
client_ms=$(($(lab_ms) - t0))
((ended_ms <= 5000)) || lab_fail "chip ended alice's session $ended_ms ms after the copy (limit 5000)"
lab_log "CRL copied to chip: alice's session ended after $ended_ms ms (her client saw it after $client_ms ms)"

[[ $(pair_backend_pid chip openvpn-private) == "$ovpn_pid" ]] || lab_fail "openvpn-private was restarted"
# alice's client retries with the same profile: the handshake checks the new CRL and refuses.
lab_expect 30 "chip to refuse alice's reconnect" grep -Eq 'VERIFY ERROR.*(certificate revoked|CRL)|CRL.*revoked' "$LAB_TMP/chip.log"
sleep 6  # a status poll or more later
connected bob || lab_fail "bob's session is gone: only the revoked may be ended"
connected alice && lab_fail "alice is connected again"
tail -n +"$((bob_lines + 1))" "$LAB_TMP/bob.log" | grep -Eq 'SIGUSR1|SIGTERM|restart' &&
  lab_fail "bob's client restarted: $(tail -n +"$((bob_lines + 1))" "$LAB_TMP/bob.log" | head -5)"
lab_log "openvpn kept its pid; bob stayed connected; alice's reconnect was refused (certificate revoked)"
lab_pass
