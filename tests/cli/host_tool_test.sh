#!/usr/bin/env bash
# Runs tools/host/measure_eager_host.py once, quickly, with its collectives on a one-rank gloo group
# (the code paths a GPU host takes with --device cuda, which this machine cannot run), and checks
# that preflight reads the profile it writes. Skipped (77) where Debian's python3-torch is missing:
# the tool runs on hosts that have it, CI's machine need not.
# Usage: host_tool_test.sh PREFLIGHT_BINARY SOURCE_DIR
set -euo pipefail
bin=$1
src=$2
python=/usr/bin/python3
if ! "$python" -c "import torch, torch.distributed" 2>/dev/null; then
  echo "SKIP: $python cannot import torch (apt-get install python3-torch libopenblas0-pthread)"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
PREFLIGHT_HOST_ROUNDS=3 "$python" "$src/tools/host/measure_eager_host.py" "$dir/profile.yaml" --id tool-check \
  --check-collectives >"$dir/stdout" 2>"$dir/stderr" || { echo "FAIL: the tool exited $?"; cat "$dir/stderr"; exit 1; }
grep -q "gloo_collective_call_us:" "$dir/profile.yaml" || { echo "FAIL: no gloo call time"; exit 1; }
grep -q "checkpointed_at_tp2_us:" "$dir/profile.yaml" || { echo "FAIL: no TP 2 layer"; exit 1; }
grep -q "per_call_quartiles_us: \[" "$dir/profile.yaml" || { echo "FAIL: no paired per-call spread"; exit 1; }
grep -q "in_call_us:" "$dir/profile.yaml" || { echo "FAIL: no host time inside the calls"; exit 1; }
grep -q "checkpointed_unfused_softmax_us:" "$dir/profile.yaml" || { echo "FAIL: no unfused-softmax layer"; exit 1; }
grep -q "unfused_softmax_op_quartiles_us: \[" "$dir/profile.yaml" || { echo "FAIL: no paired per-op spread"; exit 1; }
grep -Eq "^(unfused_softmax_op_us: [0-9.]+|# unfused_softmax_op_us left out)" "$dir/profile.yaml" ||
  { echo "FAIL: neither the unfused softmax's per-op time nor why it is left out"; exit 1; }
if grep -q "^collective_call_us:" "$dir/profile.yaml"; then
  echo "FAIL: a gloo call time written as the profile's collective_call_us"; exit 1
fi
cat >"$dir/scenario.yaml" <<YAML
model: {model_type: gpt2, n_embd: 1024, n_layer: 12, n_head: 16, n_positions: 1024, vocab_size: 50304}
hardware: a100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 2, pp: 1, recompute: full}
training: {seq_len: 1024, global_batch: 16, micro_batch: 1, precision: fp16, flash_attention: false,
           attention_softmax: unfused, host_profile: $dir/profile.yaml}
YAML
PREFLIGHT_DATA="$src/data" "$bin" plan "$dir/scenario.yaml" --json >"$dir/plan.json"
python3 - "$dir/plan.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["hardware"]["host_profile"]["id"] == "tool-check", j["hardware"]
assert j["time"]["breakdown"]["host_launch"] > 0, j["time"]
PY
echo "ok   host tool: profile written with gloo collectives and read by preflight"
