#!/usr/bin/env bash
# Data files written by a tool from files in this repository are what the tool writes now:
# the pooled H200 host profiles and our own H200 validation rows.
set -euo pipefail
root=${1:?usage: generated_data_test.sh REPO_ROOT}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
bash "$root/tools/host/pool_h200_profiles.sh" "$tmp"
for f in megatron-deepspeed-gpt-eager-h200-gpuhost-nofr.yaml megatron-lm-gpt-eager-h200-gpuhost-nofr.yaml; do
  cmp -s "$tmp/$f" "$root/data/host/$f" || { echo "data/host/$f differs from tools/host/pool_h200_profiles.sh's output" >&2; status=1; }
done
(cd "$root" && python3 tools/data/own_steps_to_yaml.py data/measured/h200-sxm-141gb-2026-12-04/megatron-steps.json \
  megatron-deepspeed-gpt-eager-h200-gpuhost "$tmp/h200-own-steps.yaml") >/dev/null
cmp -s <(tail -n +2 "$tmp/h200-own-steps.yaml") <(tail -n +2 "$root/data/validation/h200-own-steps.yaml") ||
  { echo "data/validation/h200-own-steps.yaml differs from tools/data/own_steps_to_yaml.py's output" >&2; status=1; }
exit $status
