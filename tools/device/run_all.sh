#!/usr/bin/env bash
# Everything this project measures on a lent NVIDIA device, in one run of about seven minutes (part limits
# 5 + 3 x 84 + 100 + 80 + 110 = 547 s, and 5 s more a part at worst: a part that ignores its limit is killed
# then; tests/tools/run_all_budget_test.sh holds it under 590 s):
# the GPU microbenchmarks (measure_nvidia.py) and the host time of Megatron's eager GPT layer for
# both stacks on the GPU (--device cuda), the Megatron-DeepSpeed one again with c10d's flight
# recorder off, the collective-call probe (where a tensor-parallel call's host time goes, op by op)
# and the training steps with a profiled step each (the GPU's kernel time by kind beside the
# measured step).
# PREFLIGHT_CPU_PROFILES=1 runs the host profiles alone: both stacks on the GPU and on its CPU
# alone (2 x 45 s more), the recorder-off run and the probe, 5 + 2 x 84 + 2 x 45 + 84 + 100 = 447 s
# (482 s at worst) and seven files; the microbenchmarks and the steps are left out, as with them the
# run would take 682 s at worst and write ten files, past a device call's 600 s and eight files.
# Each part has its own time limit, so one that hangs does not take the others' time. A part that
# fails or runs past its limit is counted: the script prints its log, then exits 1 if any did.
#
#   bash tools/device/run_all.sh OUT_DIR HARDWARE_ID     (device tool: timeout_s 600, files come back
#                                                         from $OUT: at most 8, here 8, or 7 with
#                                                         PREFLIGHT_CPU_PROFILES=1)
set -uo pipefail
out=${1:?usage: run_all.sh OUT_DIR HARDWARE_ID}
id=${2:?usage: run_all.sh OUT_DIR HARDWARE_ID}
here=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$out"
log="$out/run_all.log"
export PYTHONUNBUFFERED=1
cpu_profiles=${PREFLIGHT_CPU_PROFILES:-0}
failed=()
part() {  # part SECONDS FILES NAME COMMAND...  (FILES: how many files the part leaves in OUT_DIR)
  local limit=$1 files=$2 name=$3
  shift 3
  local start=$SECONDS
  echo "== $name (limit ${limit}s; files ${files})" >>"$log"
  [[ ${RUN_ALL_DRY:-0} == 1 ]] && return  # RUN_ALL_DRY=1: the parts and their limits only (tests/tools)
  timeout -k 5 "$limit" "$@" >>"$log" 2>&1  # -k: a part that ignores SIGTERM is killed 5 s later
  local rc=$?
  local why=""  # timeout's codes: 124 when the part stopped at SIGTERM, 137 when it was killed
  ((rc == 124)) && why=" (past its limit)"
  ((rc == 137)) && why=" (killed)"
  echo "== $name: exit $rc after $((SECONDS - start)) s$why" >>"$log"
  ((rc == 0)) || failed+=("$name")
}
# What the machine holds, for planning the next run: its CPU, the Python environments and the
# PyTorch builds installed anywhere (an older build, if one is there, could time the 2022-23 stacks'
# host costs; none can be carried here). The search leaves out /proc, /sys and /dev and stops at 3 s,
# inside the part's limit.
part 5 0 inventory bash -c 'lscpu | grep -E "Model name|^CPU\(s\)|MHz|Thread|Socket|L3"; nproc;
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,power.limit --format=csv,noheader;
  ls -d /opt/*/ /usr/lib/python3*/ 2>/dev/null; python3 -c "import sys; print(sys.version)";
  timeout 3 find / -maxdepth 7 \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type d \
    \( -name "torch-*.dist-info" -o -name "torch-*.egg-info" \) -print 2>/dev/null | head -20;
  pip cache dir 2>/dev/null; ls "$(pip cache dir 2>/dev/null)" 2>/dev/null | head; true'
# The host profiles first (the open question they answer is the larger), then the microbenchmarks.
for stack in megatron-deepspeed megatron-lm; do
  part 84 1 "$stack on the GPU" python3 "$here/tools/host/measure_eager_host.py" "$out/$stack-gpu.yaml" \
    --stack "$stack" --device cuda --id "$stack-gpt-eager-gpuhost"
  if [[ $cpu_profiles == 1 ]]; then  # measured on 2026-12-01; the host's CPU does not change
    part 45 1 "$stack on the CPU alone" python3 "$here/tools/host/measure_eager_host.py" "$out/$stack-cpu.yaml" \
      --stack "$stack" --id "$stack-gpt-eager-cpu"
  fi
done
# The same GPU-host run with c10d's flight recorder (a per-collective trace record that 2022's
# PyTorch did not have) switched off: how much of collective_call_us is that record.
part 84 1 "megatron-deepspeed on the GPU, flight recorder off" env TORCH_FR_BUFFER_SIZE=0 \
  python3 "$here/tools/host/measure_eager_host.py" "$out/megatron-deepspeed-gpu-nofr.yaml" \
  --stack megatron-deepspeed --device cuda --id megatron-deepspeed-gpt-eager-gpuhost-nofr
[[ ${RUN_ALL_DRY:-0} == 1 ]] || python3 -c "import torch; print('torch', torch.__version__)" >>"$log" 2>&1  # the recorder-off run's variable is its own (env above)
# Where the in-layer call's host time goes (its five environments, each in a child process, the
# op-by-op attribution in the first two; probe.json is written after each child).
part 100 1 "collective-call probe" python3 "$here/tools/host/probe_collective_call.py" "$out/probe.json"
if [[ $cpu_profiles != 1 ]]; then  # with the CPU profiles these two do not fit the call (above)
  # The microbenchmarks but the 60 s sustained-clock run (measured on 2026-12-01 and 12-04; about
  # 55 s for the rest on 2026-12-04): measurements.json and gemm-<id>.yaml (its log.txt is removed below).
  part 80 2 microbenchmarks python3 "$here/tools/device/measure_nvidia.py" "$out" --id "$id" \
    --parts gemm_bf16,gemm_fp8,fp8_accumulation,hbm,attention,output_layer,host
  # The steps (59 s on 2026-12-04), the hidden-1,024 rows profiled (the ones predicted 29-46% fast;
  # about 8 s more each).
  part 110 1 "training steps" python3 "$here/tools/device/measure_megatron_steps.py" "$out" --hardware "$id" \
    --profile --profile-max-hidden 1024
fi
# measure_nvidia.py's log, already in this one, and any temporary file a killed part left (the tools
# write through FILE.tmp or FILE.part, then rename): at most 8 files come back.
rm -f "$out/log.txt" "$out"/*.tmp "$out"/*.part
if ((${#failed[@]})); then
  echo "== ${#failed[@]} parts failed or ran past their limits: $(printf '%s; ' "${failed[@]}")" >>"$log"
fi
ls -l "$out" >>"$log"
cat "$log"
((${#failed[@]} == 0)) || exit 1
