#!/usr/bin/env bash
# tools/device/run_all.sh fits the device tool's call, with and without PREFLIGHT_CPU_PROFILES=1: its
# parts' limits, each with the 5 s `timeout -k` grants a part that ignores its limit, leave a margin
# under the 600 s a call for the machine's start of the command and the files' return, and the files
# its parts leave, with its log, are at most the 8 a call brings back; and the script parses. Run dry
# (RUN_ALL_DRY=1: the parts are listed, not run). Then run for real with a stand-in python3 first on
# PATH, failing or not: the script exits 1 where a part failed (after printing its log), 0 otherwise.
set -uo pipefail
root=${1:?usage: run_all_budget_test.sh REPO_ROOT}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bash -n "$root/tools/device/run_all.sh" || { echo "FAIL: run_all.sh does not parse"; exit 1; }
for cpu in 0 1; do
  dir="$out/dry-$cpu"
  PREFLIGHT_CPU_PROFILES=$cpu RUN_ALL_DRY=1 bash "$root/tools/device/run_all.sh" "$dir" h200-sxm-141gb >/dev/null 2>&1 ||
    { echo "FAIL: PREFLIGHT_CPU_PROFILES=$cpu: the dry run exited $?"; exit 1; }
  planned=$(grep -E '^== .* \(limit [0-9]+s; files [0-9]+\)$' "$dir/run_all.log")
  limits=$(grep -oE 'limit [0-9]+s' <<<"$planned" | tr -dc '0-9\n')
  files=$(grep -oE 'files [0-9]+\)$' <<<"$planned" | tr -dc '0-9\n')
  parts=$(wc -w <<<"$limits")
  total=$(( $(tr '\n' '+' <<<"$limits")0 + 5 * parts ))
  count=$(( $(tr '\n' '+' <<<"$files")0 + 1 ))  # and run_all.log
  echo "run_all.sh, PREFLIGHT_CPU_PROFILES=$cpu: $parts parts, $total s at most (limits and kill grace), $count files"
  (( parts >= 6 )) || { echo "FAIL: expected at least six parts, found $parts"; exit 1; }
  (( total <= 590 )) || { echo "FAIL: $total s of limits leave no margin under the device's 600 s a call"; exit 1; }
  (( count <= 8 )) || { echo "FAIL: $count files, past the 8 a device call brings back"; exit 1; }
done
grep -q "CPU alone" "$out/dry-1/run_all.log" || { echo "FAIL: PREFLIGHT_CPU_PROFILES=1 plans no CPU-alone part"; exit 1; }
grep -q "CPU alone" "$out/dry-0/run_all.log" && { echo "FAIL: a CPU-alone part planned without the flag"; exit 1; }
echo "ok   run_all.sh fits a device call, with and without PREFLIGHT_CPU_PROFILES=1"

# For real, with every Python part a stand-in (the inventory runs as it is, within its 5 s).
mkdir -p "$out/bin"
for rc in 0 3; do
  printf '#!/bin/sh\nexit %s\n' "$rc" >"$out/bin/python3"
  chmod +x "$out/bin/python3"
  dir="$out/run-$rc"
  PATH="$out/bin:$PATH" bash "$root/tools/device/run_all.sh" "$dir" h200-sxm-141gb >"$out/stdout-$rc" 2>&1
  status=$?
  cmp -s "$out/stdout-$rc" "$dir/run_all.log" || { echo "FAIL: python3 exiting $rc: the log is not what it printed"; exit 1; }
  python_parts=$(grep -E '^== .* \(limit' "$dir/run_all.log" | grep -vc '^== inventory ')
  bad=$(grep -E '^== .*: exit [1-9][0-9]* after' "$dir/run_all.log" | grep -vc '^== inventory:')
  if ((rc == 0)); then
    # The inventory reads this machine: whether it failed is this machine's affair, the exit follows it.
    grep -qE '^== inventory: exit 0 after' "$dir/run_all.log" && expect=0 || expect=1
    ((expect == 0)) || echo "note: the inventory failed on this machine"
    (( bad == 0 )) || { echo "FAIL: python3 exiting 0: $bad parts failed"; cat "$dir/run_all.log"; exit 1; }
  else
    expect=1
    (( bad == python_parts )) || { echo "FAIL: python3 exiting 3: $bad of the $python_parts Python parts failed"; exit 1; }
    grep -qE "^== $bad parts failed or ran past their limits: .*training steps" "$dir/run_all.log" ||
      grep -qE "^== $((bad + 1)) parts failed or ran past their limits: inventory; .*training steps" "$dir/run_all.log" ||
      { echo "FAIL: no count of the failed parts in the log"; cat "$dir/run_all.log"; exit 1; }
  fi
  (( status == expect )) || { echo "FAIL: python3 exiting $rc: run_all.sh exited $status, not $expect"; exit 1; }
done
echo "ok   run_all.sh exits 1 where a part failed, after its log, and 0 where none did"
