#!/usr/bin/env bash
# Runs every fuzz target in the module for a short time (default 10s each),
# so the targets keep compiling and finding nothing. Longer campaigns:
#   scripts/fuzz.sh 10m
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime="${1:-10s}"
status=0
while IFS= read -r file; do
	dir="./$(dirname "$file")"
	for name in $(grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //'); do
		echo "--- fuzz $dir $name ($fuzztime)"
		if ! go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir"; then
			status=1
		fi
	done
done < <(grep -rl --include='*_test.go' -E '^func Fuzz' . | sort)
exit $status
