#!/usr/bin/env bash
# tools/device/run_all.sh fits the device tool's 600 s a call: its parts' limits, each with the 5 s
# `timeout -k` grants a part that ignores its limit, leave a margin for the machine's start of the
# command and the files' return; and the script parses. Run dry (RUN_ALL_DRY=1: the parts are
# listed, not run).
set -uo pipefail
root=${1:?usage: run_all_budget_test.sh REPO_ROOT}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash -n "$root/tools/device/run_all.sh" || { echo "FAIL: run_all.sh does not parse"; exit 1; }
RUN_ALL_DRY=1 bash "$root/tools/device/run_all.sh" "$out" h200-sxm-141gb >/dev/null 2>&1
limits=$(grep -oE '^== .* \(limit [0-9]+s\)$' "$out/run_all.log" | grep -oE '[0-9]+s\)$' | tr -d 's)')
parts=$(wc -w <<<"$limits")
total=$(( $(tr '\n' '+' <<<"$limits")0 + 5 * parts ))
echo "run_all.sh: $parts parts, $total s at most (limits and kill grace)"
(( parts >= 6 )) || { echo "FAIL: expected at least six parts, found $parts"; exit 1; }
(( total <= 590 )) || { echo "FAIL: $total s of limits leave no margin under the device's 600 s a call"; exit 1; }
echo "ok   run_all.sh fits a device call"
