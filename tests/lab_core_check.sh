#!/usr/bin/env bash
# Checks lab/core.sh itself (no root needed, but for the namespace sweep): a skip is exit 77 with its reason in
# $MESHBROKER_SKIP_LOG, and a failure naming what was missing under CI=true or
# MESHBROKER_NO_SKIP=1; lab_wait gives up after its timeout with one message; a --test script
# that exits 0 without lab_pass fails; lab_stop takes the whole process group; a real ctest run
# reports a lab skip that scripts/test counts (a failure under CI=true); LAB_DEADLINE_S fails
# a test (124) with its cleanup; the sweep removes namespaces of killed labs only (root);
# lab/README.md
# lists every file of lab/.
# Usage: lab_core_check.sh
# shellcheck disable=SC2016,SC2015  # bodies run in the child bash; A && B || fail reads well here
set -euo pipefail
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
core=$here/../lab/core.sh
tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
fail() {
  echo "lab_core: FAIL: $*" >&2
  exit 1
}
# run ENV... -- BODY: BODY in a fresh bash that sourced the core; sets rc and out (stderr+out).
run() {
  local -a env=()
  while [[ $1 != -- ]]; do env+=("$1"); shift; done
  shift
  rc=0
  out=$(env -u CI -u MESHBROKER_NO_SKIP -u MESHBROKER_SKIP_LOG "${env[@]}" bash -c "source '$core'; LAB_NAME=t; $1" 2>&1) || rc=$?
}

# The deadline: the test fails (124) with its cleanup before ctest's SIGKILL would come.
run LAB_DEADLINE_S=1 -- 'trap lab_cleanup EXIT; LAB_TEST=1; lab_deadline; lab_on_cleanup hook; hook() { echo cleaned; }; for i in {1..100}; do sleep 0.05; done; lab_pass'
((rc == 124)) && [[ $out == *"deadline: 1 s passed"* && $out == *cleaned* ]] ||
  fail "a test past LAB_DEADLINE_S: exit $rc: $out"
run LAB_DEADLINE_S=5 -- 'trap lab_cleanup EXIT; LAB_TEST=1; lab_deadline; lab_pass'
((rc == 0)) || fail "a test within its deadline: exit $rc: $out"

# Namespaces left by a killed lab (its ID's process gone) are removed; a running lab's stay.
# Needs root and ip (CI runs as root: there it must run).
if ((EUID == 0)) && command -v ip >/dev/null; then
  (exit 0) &
  dead=$!
  wait "$dead"
  ip netns add "mbsweep-node-$dead"
  ip netns add "mbsweep-node-$$"
  run -- "LAB_PREFIX=mbsweep; LAB_ID=1; lab_sweep_orphans"
  gone=0
  [[ -e /run/netns/mbsweep-node-$dead ]] || gone=1
  kept=0
  [[ -e /run/netns/mbsweep-node-$$ ]] && kept=1
  ip netns delete "mbsweep-node-$dead" 2>/dev/null || true
  ip netns delete "mbsweep-node-$$" 2>/dev/null || true
  ((gone && kept)) && [[ $out == *"removed namespace mbsweep-node-$dead"* ]] ||
    fail "sweep: orphan removed $gone, live lab's kept $kept: $out"
elif [[ -n ${CI:-} ]]; then
  fail "the namespace sweep needs root and ip here"
fi

# Skips.
run MESHBROKER_SKIP_LOG="$tmp/skips" -- 'lab_need no-such-tool-here'
((rc == 77)) || fail "a skip exited $rc, not 77: $out"
grep -q 'SKIP: no-such-tool-here is not installed' <<<"$out" || fail "no SKIP line: $out"
grep -qx 't: no-such-tool-here is not installed.*' "$tmp/skips" || fail "no reason in the skip log"
for env in CI=true MESHBROKER_NO_SKIP=1; do
  run "$env" MESHBROKER_SKIP_LOG="$tmp/skips2" -- 'lab_need no-such-tool-here'
  ((rc == 1)) || fail "with $env a skip exited $rc, not 1: $out"
  grep -q 'FAIL: would skip.*no-such-tool-here is not installed' <<<"$out" ||
    fail "with $env the failure does not name the tool: $out"
  [[ ! -s $tmp/skips2 ]] || fail "with $env the skip was logged as a skip"
done
run CI=false MESHBROKER_SKIP_LOG="$tmp/skips3" -- 'lab_skip "a reason"'
((rc == 77)) || fail "CI=false: a skip exited $rc"
grep -qx 't: a reason' "$tmp/skips3" || fail "CI=false: the reason is not in the skip log"

# The one wait-until: gives up after the timeout, says what it waited for, returns 1.
run -- 'start=$(lab_ms); lab_wait 1 "the impossible" false; echo "rc=$? after $(($(lab_ms) - start)) ms"'
grep -q 'timed out after 1s waiting for: the impossible' <<<"$out" || fail "lab_wait: $out"
[[ $out =~ rc=1\ after\ ([0-9]+)\ ms ]] || fail "lab_wait did not return 1: $out"
((BASH_REMATCH[1] >= 1000 && BASH_REMATCH[1] < 5000)) || fail "lab_wait took ${BASH_REMATCH[1]} ms for 1 s"
run -- 'n=0; three() { n=$((n + 1)); ((n >= 3)); }; lab_wait 5 "three calls" three && echo "ok after $n"'
grep -q 'ok after 3' <<<"$out" || fail "lab_wait did not stop at the first success: $out"
run -- 'lab_expect 1 "the impossible" false; echo "not reached"'
((rc == 1)) && grep -q 'FAIL: the impossible: not within 1 s' <<<"$out" || fail "lab_expect: rc $rc, $out"

# A test must end with lab_pass: exit 0 without it fails, lab_pass passes.
run -- 'LAB_TEST=1; trap lab_cleanup EXIT; exit 0'
((rc == 1)) && grep -q 'FAIL: the test ended without lab_pass' <<<"$out" || fail "early exit 0: rc $rc, $out"
run -- 'LAB_TEST=1; trap lab_cleanup EXIT; lab_pass'
((rc == 0)) && grep -q 'PASS' <<<"$out" || fail "lab_pass: rc $rc, $out"
run -- 'LAB_TEST=1; hook() { echo "hook saw $LAB_EXIT_CODE"; }; lab_on_cleanup hook; trap lab_cleanup EXIT; exit 3'
((rc == 3)) && grep -q 'hook saw 3' <<<"$out" || fail "cleanup hook: rc $rc, $out"

# lab_spawn/lab_stop: the process and its children (its group) go. A killed grandchild is
# reparented to PID 1, which may reap it late: a zombie counts as gone (kill -0 still sees it).
run LAB_TMP="$tmp" -- 'alive() { [[ -r /proc/$1/stat ]] && [[ $(awk "{ print \$3 }" "/proc/$1/stat" 2>/dev/null) != Z ]]; }
  lab_spawn - sleeper bash -c "sleep 300 & echo child \$! >&2; wait"
  lab_wait 5 "the child" grep -q child "$LAB_TMP/sleeper.log" || exit 2
  child=$(awk "/child/ { print \$2 }" "$LAB_TMP/sleeper.log")
  lab_stop "$LAB_PID"
  alive "$LAB_PID" && echo "parent alive"
  for i in {1..50}; do alive "$child" || break; sleep 0.02; done
  alive "$child" && echo "child alive"
  echo "pids left: ${#LAB_PIDS[@]}"'
grep -q 'pids left: 0' <<<"$out" && ! grep -q alive <<<"$out" || fail "lab_spawn/lab_stop: rc $rc, $out"

# The whole skip chain with a real ctest: a lab test that lacks a tool is reported Skipped by
# ctest, scripts/lib/common.sh's ctest_skipped names it from ctest's output (scripts/test
# counts it), its reason is in the skip log; with CI=true the same test fails instead.
mkdir -p "$tmp/ctest"
printf '#!/usr/bin/env bash\nsource %q\nLAB_NAME=needs_a_tool\nlab_need no-such-tool-here\n' \
  "$core" >"$tmp/ctest/skipper.sh"
chmod +x "$tmp/ctest/skipper.sh"
{
  echo "add_test(needs_a_tool \"$tmp/ctest/skipper.sh\")"
  echo "set_tests_properties(needs_a_tool PROPERTIES SKIP_RETURN_CODE 77)"
  echo "add_test(plain_pass \"/bin/true\")"
} >"$tmp/ctest/CTestTestfile.cmake"
: >"$tmp/ctest-skips"
env -u CI -u MESHBROKER_NO_SKIP MESHBROKER_SKIP_LOG="$tmp/ctest-skips" \
  ctest --test-dir "$tmp/ctest" >"$tmp/ctest.log" 2>&1 || fail "ctest failed: $(cat "$tmp/ctest.log")"
# shellcheck source=../scripts/lib/common.sh
skipped=$(source "$here/../scripts/lib/common.sh" && ctest_skipped "$tmp/ctest.log")
[[ $skipped == needs_a_tool ]] || fail "ctest_skipped gave \"$skipped\" for: $(cat "$tmp/ctest.log")"
grep -q '^needs_a_tool: no-such-tool-here is not installed' "$tmp/ctest-skips" ||
  fail "the skip's reason is not in the skip log"
CI=true ctest --test-dir "$tmp/ctest" >"$tmp/ctest-ci.log" 2>&1 &&
  fail "with CI=true the skipping test passed: $(cat "$tmp/ctest-ci.log")"
grep -q 'needs_a_tool (Failed)' "$tmp/ctest-ci.log" || fail "with CI=true: $(cat "$tmp/ctest-ci.log")"

# lab/README.md lists every file of lab/.
for f in "$here"/../lab/*; do
  name=$(basename -- "$f")
  [[ $name == README.md ]] && continue
  grep -q "\`$name\`" "$here/../lab/README.md" || fail "lab/README.md does not list $name"
done
echo "lab_core: PASS"
