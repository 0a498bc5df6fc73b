#!/usr/bin/env bash
# Unit test (issue 19): the libraries' dependencies point one way. `cmake --graphviz` draws the
# link graph of a fresh configure; every meshbroker_* library has a rank and a kind here, and
# an edge fails the check when it points from a pure library to an adapter, or not strictly
# down in rank (which also rules out cycles). A library this table does not know fails too:
# a new room says what it is before it lands. The HTTP handlers (what the HTTP fuzzer links)
# must not reach libnl or the supervisor.
#
#   usage: dependency_check.sh SOURCE_DIR [WORK_DIR]
set -uo pipefail
SRC=${1:?usage: dependency_check.sh SOURCE_DIR [WORK_DIR]}
WORK=${2:-$(mktemp -d)}
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK"

# rank kind: pure libraries compute (no sockets, processes, netlink, files); adapters do I/O.
declare -A RANK=(
  [model]=0 [config]=1 [io]=1 [io_netlink]=1
  [routing]=2 [health]=2 [web]=2 [network]=2
  [templates]=3 [routing_netlink]=3 [health_sockets]=3 [backends]=3 [backends_openvpn]=4
  [supervisor]=4 [web_server]=3 [supervisor_server]=5
  [cli]=6
)
declare -A KIND=(
  [model]=pure [config]=pure [network]=pure [routing]=pure [health]=pure [web]=pure [templates]=pure
  [io]=adapter [io_netlink]=adapter [routing_netlink]=adapter [health_sockets]=adapter
  [backends]=adapter [backends_openvpn]=adapter
  [supervisor]=adapter [supervisor_server]=adapter [web_server]=adapter [cli]=adapter
)

printf 'set(GRAPHVIZ_GENERATE_PER_TARGET FALSE)\nset(GRAPHVIZ_GENERATE_DEPENDERS FALSE)\n' \
  >"$WORK/CMakeGraphVizOptions.cmake"
if ! cmake -S "$SRC" -B "$WORK" -DMESHBROKER_TESTS=OFF --graphviz="$WORK/deps.dot" \
  >"$WORK/configure.log" 2>&1; then
  echo "dependency_check: cmake could not configure $SRC:"
  tail -20 "$WORK/configure.log"
  exit 1
fi
# Edge lines end in a comment naming both ends: `"node6" -> "node7"  // from -> to`.
edges=$(sed -n 's|.*-> "node[0-9]*".*// \(.*\) -> \(.*\)$|\1 \2|p' "$WORK/deps.dot")
if [[ -z $edges ]]; then
  echo "dependency_check: no edges in $WORK/deps.dot (has cmake's graphviz format changed?)"
  exit 1
fi

problems=0
seen=0
while read -r from to; do
  [[ $from == meshbroker_* ]] || continue
  a=${from#meshbroker_}
  [[ $a == options ]] && continue
  if [[ -z ${RANK[$a]:-} ]]; then
    echo "library $from: not in dependency_check.sh's table (give it a rank and a kind)"
    problems=$((problems + 1))
    continue
  fi
  [[ $to == meshbroker_* ]] || continue
  b=${to#meshbroker_}
  [[ $b == options ]] && continue
  seen=$((seen + 1))
  if [[ -z ${RANK[$b]:-} ]]; then
    echo "library $to: not in dependency_check.sh's table (give it a rank and a kind)"
    problems=$((problems + 1))
  elif ((RANK[$a] <= RANK[$b])); then
    echo "$from -> $to: points sideways or up (rank ${RANK[$a]} -> ${RANK[$b]})"
    problems=$((problems + 1))
  elif [[ ${KIND[$a]} == pure && ${KIND[$b]} == adapter ]]; then
    echo "$from -> $to: a pure library depends on an adapter"
    problems=$((problems + 1))
  fi
done <<<"$edges"

# Everything meshbroker_web reaches, the way a linker would.
declare -A reach=([meshbroker_web]=1)
changed=1
while ((changed)); do
  changed=0
  while read -r from to; do
    if [[ -n ${reach[$from]:-} && -z ${reach[$to]:-} ]]; then
      reach[$to]=1
      changed=1
    fi
  done <<<"$edges"
done
for lib in "${!reach[@]}"; do
  case $lib in
    *libnl* | *LIBNL* | meshbroker_supervisor* | meshbroker_backends* | meshbroker_routing_netlink | \
      meshbroker_io_netlink)
      echo "meshbroker_web (the HTTP handlers, the fuzzer's target) reaches $lib"
      problems=$((problems + 1))
      ;;
  esac
done

# Includes follow links: a file may include another room's header only when its library links
# that room's library (directly or through others) — an include without a link is a hidden
# cycle. Which library a file belongs to: its folder's, except the adapters named here.
libraryOf() { # path relative to SRC, e.g. routing/netlink_route_table.cpp
  case $1 in
    routing/netlink_route_table.* | routing/netlink_neighbours.*) echo meshbroker_routing_netlink ;;
    io/netlink.*) echo meshbroker_io_netlink ;;
    health/socket_prober.*) echo meshbroker_health_sockets ;;
    web/server.* | web/status_service.* | web/client.* | web/start_server.* | web/no_server.*)
      echo meshbroker_web_server ;;
    backends/pki.* | backends/openvpn_management.* | backends/openvpn_status.* | \
      backends/rate_limit.*) echo meshbroker_backends_openvpn ;;
    supervisor/server_parts.* | supervisor/openvpn_driver.* | supervisor/crl_watch.* | \
      supervisor/firewall.* | supervisor/usage_ledger.* | supervisor/usage_keeper.* | \
      supervisor/quota.* | supervisor/quota_keeper.*) echo meshbroker_supervisor_server ;;
    *) echo "meshbroker_${1%%/*}" ;;
  esac
}
reaches() { # from to: whether library `from` links `to`, directly or not
  local -A seen=([$1]=1)
  local frontier=("$1") next f a b
  while ((${#frontier[@]})); do
    next=()
    for f in "${frontier[@]}"; do
      while read -r a b; do
        [[ $a == "$f" && -z ${seen[$b]:-} ]] || continue
        [[ $b == "$2" ]] && return 0
        seen[$b]=1
        next+=("$b")
      done <<<"$edges"
    done
    frontier=("${next[@]}")
  done
  return 1
}
includes=0
declare -A checked=()
for folder in "${!RANK[@]}"; do
  [[ -d $SRC/$folder ]] || continue
  while IFS= read -r file; do
    rel=${file#"$SRC/"}
    lib=$(libraryOf "$rel")
    while IFS= read -r header; do
      [[ -f $SRC/$header ]] || continue
      target=$(libraryOf "$header")
      [[ $target == "$lib" ]] && continue
      includes=$((includes + 1))
      key="$lib $target"
      if [[ -z ${checked[$key]:-} ]]; then
        if reaches "$lib" "$target"; then checked[$key]=ok; else checked[$key]=missing; fi
      fi
      if [[ ${checked[$key]} == missing ]]; then
        echo "$rel includes $header, but $lib does not link $target"
        problems=$((problems + 1))
      fi
    done < <(sed -n 's|^#include "\([a-z_]*/[^"]*\)".*|\1|p' "$file")
  done < <(find "$SRC/$folder" -maxdepth 1 -type f \( -name '*.cpp' -o -name '*.hpp' \))
done

if ((seen < 10)); then
  echo "dependency_check: only $seen edges between our libraries; the graph looks wrong"
  exit 1
fi
if ((problems)); then
  echo "dependency_check: $problems problem(s)"
  exit 1
fi
echo "dependency_check: $seen edges between our libraries, all pointing down; $includes cross-room includes, each over a link; web reaches ${#reach[@]} targets, no libnl"
