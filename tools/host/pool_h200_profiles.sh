#!/usr/bin/env bash
# The two host profiles the Megatron validation rows name, pooled from the lent H200 runs of
# 2026-12-04 (data/host/README.md, "Measured again"):
#
#   bash tools/host/pool_h200_profiles.sh [OUT_DIR]      (default: data/host)
#
# Two runs with c10d's flight recorder off give every figure; the run with it on (PyTorch 2.11's
# default) joins for the TP-1 layer figures alone, which call no collective.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$root/data/host}
m=$root/data/measured/h200-sxm-141gb-2026-12-04
for stack in megatron-deepspeed megatron-lm; do
  python3 "$root/tools/host/pool_host_profiles.py" "$out/$stack-gpt-eager-h200-gpuhost-nofr.yaml" \
    "$m/$stack-gpu-nofr.yaml" "$m/$stack-gpu-nofr-2.yaml" --layer-only "$m/$stack-gpu.yaml" \
    --id "$stack-gpt-eager-h200-gpuhost-nofr" \
    --stack-note "c10d flight recorder off (TORCH_FR_BUFFER_SIZE=0)" \
    --note "Two runs with c10d's flight recorder off (TORCH_FR_BUFFER_SIZE=0), on lent H200 machines on 2026-12-04; the" \
    --note "runs' own files are in data/measured/h200-sxm-141gb-2026-12-04/. Why off: PyTorch 2.11 records every collective in" \
    --note "c10d's flight recorder by default; the stacks of the 2021-2023 validation rows (PyTorch 1.x to 2.0) had no such record." \
    --note "On this host it costs about 15-30 us a call inside the layer and 1.5-2 us a bare call (tools/host/probe_collective_call.py). A third" \
    --note "run, with it on (the default), joins the pool for the TP-1 layer figures alone, which call no collective." \
    --note "Written by tools/host/pool_h200_profiles.sh; do not edit by hand."
done
