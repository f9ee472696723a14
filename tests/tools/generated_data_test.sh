#!/usr/bin/env bash
# Data files written by a tool from files in this repository are what the tool writes now:
# the pooled H200 host profiles, our own H200 validation rows and the MosaicML MPT rows.
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
(cd "$root" && python3 tools/data/llmfoundry_to_yaml.py data/validation/sources/llm-foundry-mpt-throughput.csv "$tmp/llm-foundry.yaml")
cmp -s "$tmp/llm-foundry.yaml" "$root/data/validation/llm-foundry.yaml" ||
  { echo "data/validation/llm-foundry.yaml differs from tools/data/llmfoundry_to_yaml.py's output" >&2; status=1; }
# The converter refuses a row that disagrees with itself (a transcription error): here a throughput
# off by 2,000 tokens/s, which the row's published MFU contradicts.
sed 's/^a100_40gb,125m,512,8,40.26,40.26,104,3,2496,156735,/a100_40gb,125m,512,8,40.26,40.26,104,3,2496,158735,/' \
  "$root/data/validation/sources/llm-foundry-mpt-throughput.csv" > "$tmp/bad.csv"
if (cd "$root" && python3 tools/data/llmfoundry_to_yaml.py "$tmp/bad.csv" "$tmp/bad.yaml") 2>"$tmp/err"; then
  echo "tools/data/llmfoundry_to_yaml.py accepted a row whose MFU contradicts its throughput" >&2; status=1
elif ! grep -q "row 201: mfu 40.26" "$tmp/err" || [ -e "$tmp/bad.yaml" ]; then
  echo "tools/data/llmfoundry_to_yaml.py: expected one line naming row 201's mfu and no output, got: $(cat "$tmp/err")" >&2; status=1
fi
exit $status
