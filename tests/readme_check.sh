#!/usr/bin/env bash
# Unit test (issue 19, orientation): every source folder has a README.md stating its rule, and
# every source file in it is named there, as `file.cpp` or `stem.*` (a file added without a
# word in its folder's README fails here).
set -uo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
FOLDERS=(backends cli config health io model routing supervisor templates web)
missing=0
for folder in "${FOLDERS[@]}"; do
  readme=$ROOT/$folder/README.md
  if [[ ! -f $readme ]]; then
    echo "$folder/: no README.md"
    missing=$((missing + 1))
    continue
  fi
  grep -qiE '^(rule|the rule)|rule:|\*\*rule' "$readme" ||
    { echo "$folder/README.md: states no rule (a line with 'Rule:')"; missing=$((missing + 1)); }
  while IFS= read -r file; do
    name=${file#"$ROOT/$folder/"}
    stem=${name%.*}
    if ! grep -qF -e "\`$name\`" -e "\`$stem.*\`" -e "\`$stem.*" "$readme"; then
      echo "$folder/$name: not named in $folder/README.md"
      missing=$((missing + 1))
    fi
  done < <(find "$ROOT/$folder" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.mustache' -o -name '*.service' \) | sort)
done
if ((missing)); then
  echo "readme_check: $missing problem(s)"
  exit 1
fi
echo "readme_check: every source file is named in its folder's README"
