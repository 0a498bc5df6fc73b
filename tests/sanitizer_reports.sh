#!/usr/bin/env bash
# The check behind every <test>.sanitizer_reports test of a sanitizer build: fails (printing
# them) when ASan, LeakSanitizer or UBSan wrote any report under DIR while the test ran, from
# whichever process (a daemon in the background, a CLI call in a namespace). --clear empties
# DIR before the test (its <test>.sanitizer_setup).
#
# Usage: sanitizer_reports.sh [--clear] DIR
set -euo pipefail
clear=0
if [[ ${1:-} == --clear ]]; then
  clear=1
  shift
fi
[[ $# -eq 1 ]] || { echo "usage: $0 [--clear] DIR" >&2; exit 2; }
dir=$1
if ((clear)); then
  rm -rf -- "$dir"
  mkdir -p -- "$dir"
  exit 0
fi
shopt -s nullglob
reports=("$dir"/*)
if ((${#reports[@]} == 0)); then
  echo "no sanitizer reports in $dir"
  exit 0
fi
for f in "${reports[@]}"; do
  echo "----- $f -----"
  cat -- "$f"
done
echo "FAIL: ${#reports[@]} sanitizer report(s) in $dir" >&2
exit 1
