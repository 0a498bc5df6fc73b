#!/usr/bin/env bash
# Fails when any C++ file differs from what clang-format (.clang-format at the root) makes of it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
mapfile -t files < <(git ls-files -- '*.cpp' '*.hpp' 2>/dev/null || find . -name '*.[ch]pp' -not -path './build*')
[ ${#files[@]} -gt 0 ] || { echo "format_check: no C++ files found"; exit 1; }
clang-format --dry-run --Werror "${files[@]}"
echo "format_check: ${#files[@]} files formatted"
