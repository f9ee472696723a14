#!/usr/bin/env bash
# Runs tools/host/measure_eager_host.py (and tools/host/probe_collective_call.py) once, quickly, with its collectives on a one-rank gloo group
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
# The collective-call probe's own check: every case runs on a one-rank gloo group, and the
# attribution case lists the ops the TP-2 layer adds per call (a gloo call waits on the CPU, so
# its figures are not NCCL's: this checks the script, not the host).
"$python" "$src/tools/host/probe_collective_call.py" "$dir/probe.json" --device cpu --quick >"$dir/probe.out" 2>&1 ||
  { echo "FAIL: the probe exited $?"; cat "$dir/probe.out"; exit 1; }
python3 - "$dir/probe.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["default"]
for case in ("bare_same", "bare_fresh", "backward_same", "deep_stack", "layer_forward"):
    assert r[case]["median_us"] > 0, (case, r[case])
a = r["attribution"]
assert a["calls_at_tp2"] == 48 * a["rounds"], a  # 8 checkpointed layers, 6 all-reduces each
names = [op[0] for op in a["layer_ops"]]
assert "c10d::allreduce_" in names, names
assert [op[1] for op in a["layer_ops"] if op[0] == "c10d::allreduce_"] == [1.0], a["layer_ops"]
assert a["bare_ops"][0][0] == "c10d::allreduce_" and a["bare_ops"][0][1] == 1.0, a["bare_ops"]
assert isinstance(a["ops_whose_count_is_not_per_round"], list), a
assert "c10d::allreduce_" not in a["ops_whose_count_is_not_per_round"], a
assert r["bare_same"]["calls"] == 200, r["bare_same"]  # --quick's call count, not the default's
PY
echo "ok   collective-call probe: every case and the op attribution run on a gloo group"
# The training-step tool's profiled step (on a CPU the ops' self time stands in for the kernels).
"$python" "$src/tools/device/measure_megatron_steps.py" "$dir/steps" --device cpu --quick --profile --steps 1 \
  >"$dir/steps.out" 2>&1 || { echo "FAIL: the step tool exited $?"; cat "$dir/steps.out"; exit 1; }
python3 - "$dir/steps/megatron-steps.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
assert len(rows) == 2 and all("error" not in r for r in rows), rows
for r in rows:
    p = r["profile"]
    assert p["kernels"] > 0 and 0 < p["kernel_s"], p
    assert abs(sum(k["s"] for k in p["kinds"].values()) - p["kernel_s"]) < 1e-4, p["kinds"]
    assert {"softmax", "dropout", "layer_norm", "optimizer"} <= set(p["kinds"]), p["kinds"]
    assert len(p["top"]) == 15 and p["top"][0][2] >= p["top"][-1][2], p["top"]
    assert abs(p["kernel_share_of_step"] - p["kernel_s"] / r["step_s"]) < 1e-3, p
PY
echo "ok   training-step tool: a profiled step's time by kind"
# Only the rows up to --profile-max-hidden are profiled (the quick rows are at hidden 64).
"$python" "$src/tools/device/measure_megatron_steps.py" "$dir/steps-none" --device cpu --quick --profile \
  --profile-max-hidden 32 --steps 1 >"$dir/steps-none.out" 2>&1 ||
  { echo "FAIL: the step tool exited $?"; cat "$dir/steps-none.out"; exit 1; }
python3 - "$dir/steps-none/megatron-steps.json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
assert len(rows) == 2 and not any("profile" in r or "error" in r for r in rows), rows
PY
# CUDA kernel names (as PyTorch 2 and apex name them) to their kinds: the functor's name inside
# PyTorch's elementwise template decides.
"$python" - "$src/tools/device" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from measure_megatron_steps import kernel_kind
cases = {
    "void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl_nocast<"
    "at::native::direct_copy_kernel_cuda(at::TensorIteratorBase&)::{lambda()#3}::operator()() const>": "copy",
    "void at::native::(anonymous namespace)::fused_dropout_kernel_vec<c10::Half, float, unsigned int, 1, 4, bool>": "dropout",
    "void at::native::elementwise_kernel<128, 4, at::native::gpu_kernel_impl<at::native::(anonymous namespace)::"
    "masked_scale_kernel<bool, c10::Half, float>>": "dropout",
    "void cuComputePartGradGammaBeta<c10::Half, float, c10::Half>": "layer_norm",
    "void cuComputeGradInput<c10::Half, float, c10::Half>": "layer_norm",
    "void at::native::lpnorm_cleanup<float, (at::native::NormType)1, float, float>": "optimizer",
    "ampere_fp16_s16816gemm_fp16_128x128_ldg8_f2f_stages_32x5_nn": "gemm",
    "ncclDevKernel_AllReduce_Sum_f16_RING_LL(ncclDevKernelArgsStorage<4096ul>)": "nccl",
    "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::Half>>": "elementwise",
    "Memcpy HtoD (Pageable -> Device)": "copy",
    "void scaled_upper_triang_masked_softmax_warp_forward<c10::Half, c10::Half, float, 11>": "softmax",
}
wrong = {n: (kernel_kind(n), k) for n, k in cases.items() if kernel_kind(n) != k}
assert not wrong, wrong
PY
echo "ok   training-step tool: profile only the rows asked for; kernel names to kinds"
