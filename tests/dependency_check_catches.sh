#!/usr/bin/env bash
# Unit test (issue 19): dependency_check.sh catches what it is for. A copy of the source tree
# gets two planted violations — web (pure) linking the supervisor (an adapter, and upwards),
# and routing/policy.cpp including a backends header without a link — and the check must fail
# naming both; the untouched copy must pass.
#
#   usage: dependency_check_catches.sh SOURCE_DIR
set -uo pipefail
SRC=${1:?usage: dependency_check_catches.sh SOURCE_DIR}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/src"
tar -C "$SRC" --exclude='./build*' --exclude='./.git' -cf - . | tar -C "$WORK/src" -xf -

if ! "$HERE/dependency_check.sh" "$WORK/src" "$WORK/clean" >"$WORK/clean.out" 2>&1; then
  echo "the untouched copy fails the check:"
  cat "$WORK/clean.out"
  exit 1
fi

sed -i 's/meshbroker::model nlohmann_json::nlohmann_json/meshbroker::model meshbroker::supervisor nlohmann_json::nlohmann_json/' \
  "$WORK/src/web/CMakeLists.txt"
sed -i '0,/#include "routing\/policy.hpp"/s//&\n#include "backends\/process.hpp"/' "$WORK/src/routing/policy.cpp"
grep -q 'meshbroker::supervisor' "$WORK/src/web/CMakeLists.txt" &&
  grep -q 'backends/process.hpp' "$WORK/src/routing/policy.cpp" ||
  { echo "could not plant the violations (web/CMakeLists.txt or routing/policy.cpp changed shape)"; exit 1; }

if "$HERE/dependency_check.sh" "$WORK/src" "$WORK/planted" >"$WORK/planted.out" 2>&1; then
  echo "the check passed a tree where web links the supervisor:"
  cat "$WORK/planted.out"
  exit 1
fi
failed=0
for expected in 'meshbroker_web -> meshbroker_supervisor: points sideways or up' \
  'reaches meshbroker_supervisor' \
  'routing/policy.cpp includes backends/process.hpp, but meshbroker_routing does not link meshbroker_backends'; do
  if ! grep -qF "$expected" "$WORK/planted.out"; then
    echo "missing from the check's output: $expected"
    failed=1
  fi
done
if ((failed)); then
  cat "$WORK/planted.out"
  exit 1
fi
echo "dependency_check_catches: both planted violations reported, the clean copy passes"
