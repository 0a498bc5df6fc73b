#!/usr/bin/env bash
# Integration test: the status page, REST API and metrics of a real meshbroker on the seed
# server chip, with real tincd to two gateways and real OpenVPN with a connected laptop, read
# over HTTP, by `promtool check metrics`, by `meshbroker status`, and by headless Chromium.
#
#                         netns fo-inet-ID (bridge br0, 192.0.2.0/24)
#        +----------------+------------------+------------------+------------------+
#   fo-chip-ID        fo-cometa-ID       fo-illimani-ID     fo-laptop-ID
#   192.0.2.11        192.0.2.9          192.0.2.10         192.0.2.50
#   meshbroker run    tincd              tincd              openvpn client (alice's
#    tincd, openvpn    ConnectTo chip     ConnectTo chip     profile from `client add`)
#    users (udp 1194)  mesh0 -> meshhost  mesh0 -> meshhost
#    HTTP 127.0.0.1:8655 (token in a 0600 file)
#    chromium --headless, curl, promtool (all inside chip's namespace)
#
# 1. every /api/v1 document answers with the generation and times; the generation grows
# 2. `meshbroker status` prints the table from the API; --json is the status document
# 3. promtool check metrics passes on the live /metrics
# 4. actions: 401 without the token, 403 with a wrong one; drain cometa moves the kernel route
#    to illimani and back on undrain; disconnect of alice reaches OpenVPN; all are logged
# 5. headless Chromium: the DOM shows both gateways up (after the script refreshed it), then
#    illimani down after a power-off; a screenshot is saved (MESHBROKER_SCREENSHOT=FILE keeps it)
# 6. without JavaScript the page is plain tables; no secret is in any response
# 7. privacy (issue 18): without the token no response names alice, her real or virtual
#    address, a log line or a gateway's home address; with it they are there (API, page, and
#    the page's script with #token=); a foreign Host (rebinding) is 421; status.json is 0640
# 8. SIGHUP with a new port moves the listener; a token file others can read disables actions
#
# Usage: web_status.sh /path/to/meshbroker
# Exit codes: 0 pass, 1 fail, 77 skipped (not root, or a tool is missing).
set -euo pipefail

# shellcheck source=../../lab/failover.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/../../lab/failover.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 /path/to/meshbroker" >&2; exit 2; }
lab_binary MESHBROKER "$1"
fo_init --test web_status
lab_need curl openvpn promtool chromium

BASE=http://127.0.0.1:8655
TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
api() { lab_exec chip curl -sS --max-time 5 "$BASE$1"; }
# The full view: with the bearer token.
api_auth() { lab_exec chip curl -sS --max-time 5 -H "Authorization: Bearer $TOKEN" "$BASE$1"; }
# code METHOD PATH [curl args...]: prints the HTTP status; the body goes to $LAB_TMP/body.
code() {
  local method=$1 path=$2
  shift 2
  lab_exec chip curl -sS --max-time 10 -o "$LAB_TMP/body" -w '%{http_code}' -X "$method" "$@" \
    "$BASE$path"
}
verdict() { api /api/v1/gateways | jq -r ".gateways[] | select(.name == \"$1\") | .verdict"; }
both_up() { [[ $(verdict cometa) == up && $(verdict illimani) == up ]]; }
route_via() { lab_route_via chip "$FO_DEST"; }
# chromium_dom FILE [SCREENSHOT]: the page's DOM after its script ran (virtual time 6 s).
chromium_run() {
  local profile
  profile=$(mktemp -d "$LAB_TMP/chromium.XXXXXX")
  lab_exec chip timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking --disable-component-update --disable-sync \
    --disable-dev-shm-usage --user-data-dir="$profile" --virtual-time-budget=6000 "$@" \
    2>>"$LAB_TMP/chromium.log"
}

# --- the lab: chip under meshbroker, two gateways, a laptop on the Internet -----------------
FO_SERVER_TINC=none fo_up
lab_ns_add laptop
lab_bridge_port inet laptop uplink 192.0.2.50/24

printf '%s\n' "$TOKEN" >"$LAB_TMP/token"
chmod 600 "$LAB_TMP/token"
CFG=$LAB_TMP/server.json
fo_config chip "$CFG" \
  ".routes = [{\"name\": \"mesh\", \"to\": [\"$FO_DEST\"], \"policy\": \"failover\",
     \"via\": [{\"gateway\": \"cometa\", \"priority\": 0}, {\"gateway\": \"illimani\", \"priority\": 1}]}]" \
  ".health = {\"interval_ms\": 200, \"timeout_ms\": 150, \"up_after\": 5, \"through_target\": \"$FO_TARGET\"}" \
  '.openvpn = [{"name": "users", "kind": "private", "port": 1194, "proto": "udp", "subnet": "172.16.1.96/27"}]' \
  ".status = {\"listen\": \"127.0.0.1\", \"port\": 8655, \"token_file\": \"$LAB_TMP/token\"}"
"$MESHBROKER" check -c "$CFG" >"$LAB_TMP/check.log" 2>&1 ||
  { cat "$LAB_TMP/check.log" >&2; lab_fail "meshbroker check rejected the test config"; }
"$MESHBROKER" client init -c "$CFG" >"$LAB_TMP/pki.log" 2>&1 ||
  { cat "$LAB_TMP/pki.log" >&2; lab_fail "client init failed"; }
"$MESHBROKER" client add alice -c "$CFG" >"$LAB_TMP/alice.ovpn" 2>>"$LAB_TMP/pki.log" ||
  { cat "$LAB_TMP/pki.log" >&2; lab_fail "client add alice failed"; }
lab_spawn chip meshbroker "$MESHBROKER" run -c "$CFG"
MBPID=$LAB_PID
fo_mesh_up_redialing || lab_fail "the mesh did not come up under meshbroker run"
lab_wait 20 "both gateways up in the API" both_up ||
  lab_fail "gateways not both up: $(api /api/v1/gateways | jq -c '[.gateways[] | {name, verdict}]')"
lab_spawn laptop laptop openvpn --config "$LAB_TMP/alice.ovpn"
alice_seen() { [[ $(api_auth /api/v1/clients | jq -r '.clients[0].clients[0].common_name') == alice ]]; }
lab_wait 30 "alice in /api/v1/clients" alice_seen ||
  lab_fail "alice did not show up: $(api_auth /api/v1/clients | jq -c .)"
lab_log "lab up: both gateways up, alice connected to openvpn users"

# --- 1. every document ------------------------------------------------------------------------
for doc in status backends gateways routes mesh clients events; do
  [[ $(code GET "/api/v1/$doc") == 200 ]] || lab_fail "/api/v1/$doc: $(cat "$LAB_TMP/body")"
  jq -e ".generation > 0 and .updated_ms > 0 and .node == \"chip\"" "$LAB_TMP/body" >/dev/null ||
    lab_fail "/api/v1/$doc lacks generation/updated_ms/node: $(head -c 300 "$LAB_TMP/body")"
  [[ $doc == status ]] || jq -e "has(\"$doc\")" "$LAB_TMP/body" >/dev/null ||
    lab_fail "/api/v1/$doc has no \"$doc\" field"
done
api /api/v1/status >"$LAB_TMP/status.json"
jq -e '.backends | map(.id) | sort == ["openvpn-users", "tinc"]' "$LAB_TMP/status.json" >/dev/null ||
  lab_fail "backends: $(jq -c '.backends | map({id, state})' "$LAB_TMP/status.json")"
jq -e '[.mesh[] | select(.up) | .name] | sort == ["cometa", "illimani"]' "$LAB_TMP/status.json" \
  >/dev/null || lab_fail "mesh: $(jq -c .mesh "$LAB_TMP/status.json")"
jq -e '.routes[0].chosen == ["cometa"] and .routes[0].next_hops == 1' "$LAB_TMP/status.json" \
  >/dev/null || lab_fail "routes: $(jq -c .routes "$LAB_TMP/status.json")"
jq -e '.gateways[] | select(.name == "cometa") | .rtt_ms > 0' "$LAB_TMP/status.json" >/dev/null ||
  lab_fail "no RTT for cometa"
gen1=$(jq .generation "$LAB_TMP/status.json")
sleep 2.2
gen2=$(api /api/v1/status | jq .generation)
((gen2 > gen1)) || lab_fail "the generation did not grow while probes ran ($gen1 -> $gen2)"
[[ $(code GET /api/v1/nothing) == 404 ]] || lab_fail "a bad path is not 404"
[[ $(code DELETE /api/v1/status) == 405 ]] || lab_fail "a bad method is not 405"
lab_log "1. every document answers (generation $gen1 -> $gen2 in 2 s); 404 and 405 as documented"

# --- 2. meshbroker status -----------------------------------------------------------------------
table=$(lab_exec chip "$MESHBROKER" status -c "$CFG") || lab_fail "meshbroker status exited $?: $table"
grep -Eq '^cometa +up ' <<<"$table" && grep -Eq '^illimani +up ' <<<"$table" ||
  lab_fail "status table: $table"
grep -Eq '^openvpn users: 1 client' <<<"$table" || lab_fail "status table lacks alice: $table"
# Root reads the token file: the full view, alice by name and address.
grep -Eq '^  alice +172\.16\.1\.[0-9]+ +192\.0\.2\.50:' <<<"$table" ||
  lab_fail "status table (with the token) does not name alice: $table"
[[ $(lab_exec chip "$MESHBROKER" status -c "$CFG" --json | jq -r .daemon.pid) =~ ^[0-9]+$ ]] ||
  lab_fail "status --json is not the status document"
lab_log "2. meshbroker status reads the API"

# --- 3. promtool --------------------------------------------------------------------------------
api /metrics >"$LAB_TMP/metrics.txt"
if ! lint=$(promtool check metrics <"$LAB_TMP/metrics.txt" 2>&1); then
  lab_fail "promtool check metrics: $lint"
fi
[[ -z $lint ]] || lab_fail "promtool check metrics complains: $lint"
for line in 'meshbroker_gateway_up{gateway="cometa"} 1' 'meshbroker_backend_up{backend="tinc"} 1' \
  'meshbroker_openvpn_clients{instance="users"} 1' 'meshbroker_route_set_next_hops{route_set="mesh"} 1'; do
  grep -qxF "$line" "$LAB_TMP/metrics.txt" || lab_fail "/metrics lacks: $line"
done
lab_log "3. promtool check metrics: clean ($(grep -c '^# TYPE' "$LAB_TMP/metrics.txt") families)"

# --- 4. actions ---------------------------------------------------------------------------------
got=$(code POST /api/v1/gateways/cometa/drain) || true
[[ $got == 401 ]] || lab_fail "drain without a token is $got, not 401: $(cat "$LAB_TMP/body")"
[[ $(code POST /api/v1/gateways/cometa/drain -H "Authorization: Bearer not-the-token-at-all") == 403 ]] ||
  lab_fail "drain with a wrong token is not 403"
[[ $(route_via) == "${FO_MESH[cometa]}" ]] || lab_fail "a refused drain moved the route"
auth=(-H "Authorization: Bearer $TOKEN")
[[ $(code POST /api/v1/gateways/cometa/drain "${auth[@]}" -d '{"reason": "test"}') == 200 ]] ||
  lab_fail "drain: $(cat "$LAB_TMP/body")"
via_illimani() { [[ $(route_via) == "${FO_MESH[illimani]}" ]]; }
lab_wait 5 "the route to move to illimani" via_illimani || lab_fail "drain did not move the route: $(route_via)"
[[ $(verdict cometa) == up ]] || lab_fail "a drained gateway is not failed, but cometa is $(verdict cometa)"
[[ $(code POST /api/v1/gateways/cometa/undrain "${auth[@]}") == 200 ]] || lab_fail "undrain failed"
via_cometa() { [[ $(route_via) == "${FO_MESH[cometa]}" ]]; }
lab_wait 5 "the route back to cometa" via_cometa || lab_fail "undrain did not move it back: $(route_via)"
alice_since() { api_auth /api/v1/clients | jq -r '[.clients[0].clients[] | select(.common_name == "alice") | .connected_since] | first // "gone"'; }
since_before=$(alice_since)
[[ $since_before =~ ^[0-9]+$ ]] || lab_fail "alice has no session to disconnect: $since_before"
[[ $(code POST /api/v1/clients/users/alice/disconnect "${auth[@]}") == 200 ]] ||
  lab_fail "disconnect alice: $(cat "$LAB_TMP/body")"
[[ $(code POST /api/v1/clients/users/nobody/disconnect "${auth[@]}") == 404 ]] ||
  lab_fail "disconnecting an unknown client is not 404: $(cat "$LAB_TMP/body")"
# Dropped: gone from the client list, or back with a new session (her openvpn reconnects).
alice_dropped() {
  local now
  now=$(alice_since)
  [[ -n $now && $now != "$since_before" ]]
}
lab_wait 15 "OpenVPN to drop alice's session" alice_dropped ||
  lab_fail "alice's session survived the disconnect (connected since $since_before)"
grep -q 'http: POST /api/v1/gateways/cometa/drain from 127.0.0.1:[0-9]*: 200' "$LAB_TMP/meshbroker.log" ||
  lab_fail "the drain is not logged with the caller's address"
grep -q 'http: POST /api/v1/gateways/cometa/drain from 127.0.0.1:[0-9]*: 401' "$LAB_TMP/meshbroker.log" ||
  lab_fail "the refused drain is not logged"
api_auth /api/v1/events | jq -e '[.events[] | select(.source == "operator" and (.what | test("^drain cometa \\(http 127.0.0.1:[0-9]+, reason: test\\)$")))] | length == 1' >/dev/null ||
  lab_fail "no operator event for the drain: $(api_auth /api/v1/events | jq -c '.events[-5:]')"
# Without the token the event says what, not who asked from where.
api /api/v1/events | jq -e '[.events[] | select(.source == "operator" and .what == "drain cometa")] | length == 1' >/dev/null ||
  lab_fail "the public drain event: $(api /api/v1/events | jq -c '.events[-5:]')"
lab_log "4. actions: 401/403 refused; drain moved the route to illimani and back; alice disconnected"

# --- 5. headless Chromium -----------------------------------------------------------------------
chromium_run --dump-dom "$BASE/" >"$LAB_TMP/dom1.html" || lab_fail "chromium failed (see chromium.log)"
grep -q 'data-refreshed=' "$LAB_TMP/dom1.html" || lab_fail "the page's script did not refresh it"
grep -q 'data-gateway="cometa" data-state="up"' "$LAB_TMP/dom1.html" || lab_fail "DOM: cometa not up"
grep -q 'data-gateway="illimani" data-state="up"' "$LAB_TMP/dom1.html" || lab_fail "DOM: illimani not up"
grep -q 'data-instance="users" data-clients="[0-9]*"' "$LAB_TMP/dom1.html" || lab_fail "DOM: no OpenVPN box"
fo_cut illimani poweroff
lab_wait 10 "illimani down in the API" bash -c "[[ \$(ip netns exec ${LAB_NS[chip]} curl -s $BASE/api/v1/gateways | jq -r '.gateways[]|select(.name==\"illimani\")|.verdict') == down ]]" ||
  lab_fail "illimani did not go down"
lab_wait 40 "alice to reconnect after the disconnect" alice_seen ||
  lab_fail "alice did not reconnect: $(api_auth /api/v1/clients | jq -c '.clients[0].clients')"
# The page must agree with the API: dump until both show illimani down and cometa up (the
# first dump may catch cometa's through-check reacting to the power-off too).
dom_states() { grep -o 'data-gateway="[a-z]*" data-state="[a-z ]*"' "$LAB_TMP/dom2.html" | tr '\n' ' '; }
for ((try = 1; ; try++)); do
  chromium_run --dump-dom "$BASE/" >"$LAB_TMP/dom2.html" || lab_fail "chromium failed (see chromium.log)"
  grep -q 'data-gateway="illimani" data-state="down"' "$LAB_TMP/dom2.html" &&
    grep -q 'data-gateway="cometa" data-state="up"' "$LAB_TMP/dom2.html" && break
  ((try < 5)) || lab_fail "DOM after illimani's power-off: $(dom_states); API: $(api /api/v1/gateways | jq -c '[.gateways[] | {name, verdict, reason}]')"
  sleep 1
done
SHOT=$LAB_TMP/status-page.png
chromium_run --screenshot="$SHOT" --window-size=1000,1500 --hide-scrollbars "$BASE/" >/dev/null ||
  lab_fail "chromium screenshot failed"
[[ -s $SHOT ]] && (($(stat -c %s "$SHOT") > 20000)) || lab_fail "the screenshot is missing or empty"
[[ -n ${MESHBROKER_SCREENSHOT:-} ]] && cp -- "$SHOT" "$MESHBROKER_SCREENSHOT"
lab_log "5. Chromium: gateways up, then illimani down; screenshot $(stat -c %s "$SHOT") bytes"

# --- 6. no JavaScript, no secrets ---------------------------------------------------------------
api / >"$LAB_TMP/page.html"
grep -q '<table id="gateways">' "$LAB_TMP/page.html" || lab_fail "the page has no gateway table"
grep -q '<noscript><meta http-equiv="refresh"' "$LAB_TMP/page.html" || lab_fail "no refresh without JS"
all=$(for p in / /live /metrics /api/v1/ /api/v1/status /api/v1/backends /api/v1/gateways \
  /api/v1/routes /api/v1/mesh /api/v1/clients /api/v1/events; do api "$p"; done)
grep -q -- "$TOKEN" <<<"$all" && lab_fail "the token is in a response"
grep -q -- 'PRIVATE KEY' <<<"$all" && lab_fail "a private key is in a response"
grep -q -- 'OpenVPN Static key' <<<"$all" && lab_fail "the tls-crypt key is in a response"
lab_log "6. plain tables without JavaScript; no token or key in any response"

# --- 7. privacy by default and the Host header -------------------------------------------------
READS=(/ /live /metrics /api/v1/ /api/v1/status /api/v1/backends /api/v1/gateways /api/v1/routes
  /api/v1/mesh /api/v1/clients /api/v1/events)
api_auth /api/v1/status >"$LAB_TMP/full.json"
vaddr=$(jq -r '.clients[0].clients[] | select(.common_name == "alice") | .virtual_address' "$LAB_TMP/full.json")
raddr=$(jq -r '.clients[0].clients[] | select(.common_name == "alice") | .real_address' "$LAB_TMP/full.json")
[[ $vaddr =~ ^172\.16\.1\.[0-9]+$ && $raddr == 192.0.2.50:* ]] ||
  lab_fail "alice's addresses in the full view: virtual '$vaddr', real '$raddr'"
# A gateway's home address, as tinc saw it, and log lines that name alice or a peer.
jq -e '.mesh[] | select(.name == "cometa") | .remote_address | test("^192\\.0\\.2\\.9( |$)")' \
  "$LAB_TMP/full.json" >/dev/null || lab_fail "cometa's remote address: $(jq -c .mesh "$LAB_TMP/full.json")"
# (Only lines of plain characters: JSON and HTML escaping cannot hide one from grep.)
mapfile -t loglines < <(jq -r '.backends[] | .log_tail | map(select(length > 24 and
  test("^[A-Za-z0-9 .,:;/()_=+\\[\\]-]+$"))) | .[-10:][]' "$LAB_TMP/full.json")
((${#loglines[@]} >= 5)) || lab_fail "too few log lines in the full view: ${#loglines[@]}"
aliceline=$(jq -r '[.backends[].log_tail[] | select(test("alice") and
  test("^[A-Za-z0-9 .,:;/()_=+\\[\\]-]+$"))] | last // ""' "$LAB_TMP/full.json")
[[ -n $aliceline ]] || lab_fail "no log line names alice (openvpn verb 3 logs her session)"
public=$(for p in "${READS[@]}"; do api "$p"; echo; done)
for secret in alice "$vaddr" 192.0.2.50 192.0.2.9 192.0.2.10 192.0.2. log_tail \
  remote_address real_address "$aliceline" "${loglines[@]}"; do
  grep -qF -- "$secret" <<<"$public" && lab_fail "without the token a response holds \"$secret\""
done
full=$(for p in "${READS[@]}"; do api_auth "$p"; echo; done)
for secret in alice "$vaddr" "$raddr" 192.0.2.9 "$aliceline" "${loglines[-1]}"; do
  grep -qF -- "$secret" <<<"$full" || lab_fail "with the token no response holds \"$secret\""
done
[[ $(api /api/v1/clients | jq -r '.access + " " + (.clients[0].connected | tostring)') == "public 1" ]] ||
  lab_fail "the public clients document does not count alice: $(api /api/v1/clients)"
[[ $(code GET /api/v1/clients -H "Authorization: Bearer not-the-token-at-all") == 403 ]] ||
  lab_fail "a read with a wrong token is not refused: $(cat "$LAB_TMP/body")"
# The page: public without the token; its script shows the full view with #token=.
chromium_run --dump-dom "$BASE/" >"$LAB_TMP/dom-public.html" || lab_fail "chromium failed"
grep -q 'data-access="public"' "$LAB_TMP/dom-public.html" && ! grep -q alice "$LAB_TMP/dom-public.html" ||
  lab_fail "the page without a token is not the public view"
chromium_run --dump-dom "$BASE/#token=$TOKEN" >"$LAB_TMP/dom-full.html" || lab_fail "chromium failed"
grep -q 'data-access="full"' "$LAB_TMP/dom-full.html" && grep -q '>alice<' "$LAB_TMP/dom-full.html" ||
  lab_fail "the page's script with #token= does not show alice"
grep -qF -- "$TOKEN" "$LAB_TMP/dom-full.html" && lab_fail "the token is left in the page"
# DNS rebinding: a name that resolves to the listener, with the right port, and look-alikes.
for host in evil.example evil.example:8655 127.0.0.1.evil.example:8655 localhost.evil.example; do
  [[ $(code GET /api/v1/clients -H "Host: $host" -H "Authorization: Bearer $TOKEN") == 421 ]] ||
    lab_fail "Host $host is not refused: $(cat "$LAB_TMP/body")"
  jq -e '.error.code == "unknown_host"' "$LAB_TMP/body" >/dev/null || lab_fail "421 body: $(cat "$LAB_TMP/body")"
done
got=$(lab_exec chip curl -sS --max-time 5 -o "$LAB_TMP/body" -w '%{http_code}' \
  --resolve rebind.example:8655:127.0.0.1 http://rebind.example:8655/api/v1/status)
[[ $got == 421 ]] || lab_fail "a rebinding name resolving to the listener got $got"
# Refused: no drain recorded, cometa not drained. (Not the route: under ASan and load a probe
# can miss and move it on its own.)
drains() { api_auth /api/v1/events | jq '[.events[] | select(.source == "operator" and (.what | startswith("drain cometa")))] | length'; }
drains_before=$(drains)
[[ $(code POST /api/v1/gateways/cometa/drain -H "Host: evil.example:8655" "${auth[@]}") == 421 ]] ||
  lab_fail "an action through a foreign Host is not refused"
[[ $(drains) == "$drains_before" ]] || lab_fail "an action through a foreign Host was recorded"
[[ $(api /api/v1/gateways | jq -r '.gateways[] | select(.name == "cometa") | .drained') == false ]] ||
  lab_fail "an action through a foreign Host drained cometa"
for host in localhost:8655 127.0.0.1 localhost:9000; do
  [[ $(code GET /api/v1/status -H "Host: $host") == 200 ]] || lab_fail "Host $host is refused"
done
[[ $(stat -c %a "$LAB_TMP/chip/run/status.json") == 640 ]] ||
  lab_fail "status.json is $(stat -c %a "$LAB_TMP/chip/run/status.json"), not 640"
# 0710 with tincd's group: its hooks (run as meshbroker-tinc) may enter, not list (finding 5).
[[ $(stat -c %a:%G "$LAB_TMP/chip/run") == 710:meshbroker-tinc ]] ||
  lab_fail "the runtime folder the daemon made is $(stat -c %a:%G "$LAB_TMP/chip/run"), not 710:meshbroker-tinc"
lab_log "7. privacy: no name, address or log line without the token ($(wc -c <<<"$public") bytes" \
  "checked), all of it with; page via #token=; foreign Hosts 421; status.json 640"

# --- 8. reload: a new port and a token file others can read -----------------------------------
chmod 644 "$LAB_TMP/token"
jq '.status.port = 8656' "$CFG" >"$CFG.new" && mv -- "$CFG.new" "$CFG"
kill -HUP "$MBPID"
new_port() { lab_exec chip curl -sS --max-time 2 -o /dev/null http://127.0.0.1:8656/api/v1/status; }
lab_wait 10 "the API on the new port" new_port || lab_fail "after SIGHUP nothing answers on port 8656"
lab_exec chip curl -sS --max-time 2 -o /dev/null "$BASE/api/v1/status" 2>/dev/null &&
  lab_fail "the old port still answers after the reload"
BASE=http://127.0.0.1:8656
[[ $(code POST /api/v1/gateways/cometa/drain "${auth[@]}") == 403 ]] ||
  lab_fail "a token file with mode 0644 still allows actions: $(cat "$LAB_TMP/body")"
grep -q 'token_file .*mode 0644 lets others read it' "$LAB_TMP/meshbroker.log" ||
  lab_fail "the unsafe token file is not logged"
lab_log "8. reload moved the listener to 8656; a 0644 token file disables actions, with a log line"
lab_pass
