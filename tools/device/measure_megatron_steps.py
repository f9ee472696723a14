#!/usr/bin/env python3
"""Measured training-step times of a Megatron-DeepSpeed-style GPT on one GPU: preflight's own
validation rows, taken on a lent device (tools/device/README.md).

    python3 tools/device/measure_megatron_steps.py OUT_DIR --hardware h200-sxm-141gb [--quick]
    python3 tools/device/measure_megatron_steps.py OUT_DIR --device cpu --quick   (a check of the script)

The model is the op-for-op re-creation of Megatron-DeepSpeed's GPT that the host tool times
(tools/host/megatron_layer.py), here at real sizes on the GPU in fp16: word and position embeddings,
pre-LayerNorm layers (QKV, baddbmm, causal softmax, dropout, bmm, projection, bias-dropout-add,
LayerNorm, GeLU MLP), DeepSpeed's activation checkpointing per layer (or none), the LM head and the
vocabulary-parallel cross-entropy, and each micro-batch's input path (Megatron's loader with two
workers and pinned memory, broadcast_data's copy of the sizes and its wait for the GPU). Where the
real code calls a fused CUDA kernel (apex's layer norm, the fused softmax, the jit-scripted bias-GeLU
and bias-dropout-add) one aten op of the same tensors stands in; its GPU time differs from the fused
kernel's (the bias-GeLU stand-in is one add), which is part of what the rows measure.

A step is M micro-batches of forward and backward (gradients accumulate), then the mixed-precision
optimizer as Megatron's fp16 optimizer runs it, with PyTorch's multi-tensor ops in place of apex's:
the fp16 gradients copied into fp32 main gradients, the global gradient norm (read back to the host,
as clip_grad_norm does), clipping, fused AdamW on the fp32 main parameters, and the copy back into
the fp16 parameters. Loss scaling is left out (bf16-style). Each row is the median of timed steps
after warm-up, with the GPU drained at both ends.

It writes OUT_DIR/megatron-steps.json: the rows (model, layout, measured seconds per step, spread)
and the software they ran on. With --profile each row also runs one more step under torch.profiler
and records the GPU's kernel time by kind (GEMMs, softmax, dropout, layer norm, elementwise, the
optimizer's multi-tensor kernels, copies) and its largest kernels, against that step's wall time:
what separates the GPU's time from the host's where the model and the rows disagree. Nothing here is fitted: the rows are for a validation file of this
project's own, which preflight predicts from its catalog and the host profile measured on the same
machine.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before torch loads BLAS (the CPU check)
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host"))
import megatron_layer  # noqa: E402
from megatron_layer import (Model, broadcast_sizes, data_iterator, deepspeed_checkpoint,  # noqa: E402
                            get_batch_after_sync, use_device)
from measure_eager_host import set_up_torchscript  # noqa: E402  (the profile's TorchScript settings)
from measure_nvidia import check_hardware_id  # noqa: E402  (beside this file: the id against the GPU)

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from atomic_write import write_text  # noqa: E402  (whole files: a run killed mid-write leaves the last one)

# (hidden, heads, layers, seq, micro_batch, micro_batches, recompute): GPT shapes of vTrain's
# single-node grid (hidden 1024-4096, heads 16-32, sequence 2048) cut to fit one GPU in a few seconds.
CONFIGS = [
    (1024, 16, 24, 2048, 1, 4, "full"), (1024, 16, 24, 2048, 4, 4, "full"), (1024, 16, 24, 2048, 1, 4, "none"),
    (1024, 16, 24, 2048, 4, 4, "none"), (2048, 16, 24, 2048, 1, 4, "full"), (2048, 16, 24, 2048, 4, 4, "full"),
    (2048, 32, 24, 2048, 2, 4, "none"), (4096, 32, 8, 2048, 1, 4, "full"), (4096, 32, 8, 2048, 4, 4, "full"),
    (4096, 32, 8, 2048, 2, 4, "none"),
]
QUICK = [(64, 4, 2, 32, 1, 2, "full"), (64, 4, 2, 32, 2, 2, "none")]
VOCAB = 50304


def _foreach_copy(dst, src):
    """torch._foreach_copy_ (PyTorch 2.1 on); an older PyTorch copies tensor by tensor."""
    if hasattr(torch, "_foreach_copy_"):
        torch._foreach_copy_(dst, src)
    else:
        for d, s in zip(dst, src):
            d.copy_(s)


# How the optimizer holds its fp32 main gradients, written into megatron-steps.json: the run of
# 2026-12-04 kept them from the start (allocated once, copied into at each step), which Megatron does
# not; since then they are made at each step and freed after it, as Megatron's fp16 optimizer does.
MAIN_GRADS = "per step"


class MainOptimizer:
    """Megatron's fp16 optimizer with fp32 main parameters, in PyTorch's multi-tensor ops. As
    Megatron's _copy_model_grads_to_main_grads, the step makes each fp32 main gradient from the
    fp16 one (`main_param.grad = model_param.grad.float()`), and the next zero_grad(set_to_none)
    frees it: the fp32 copies live across the step only."""

    def __init__(self, params, fused):
        self.model_params = [p for p in params if p.requires_grad]
        self.main_params = [p.detach().clone().float() for p in self.model_params]
        kwargs = {"fused": True} if fused else {"foreach": True}
        self.adam = torch.optim.AdamW(self.main_params, lr=1e-4, weight_decay=0.01, **kwargs)

    def step(self, max_norm=1.0):
        for model, main in zip(self.model_params, self.main_params):  # copy_model_grads_to_main_grads
            main.grad = model.grad.float() if model.grad is not None else torch.zeros_like(main)
        main_grads = [p.grad for p in self.main_params]
        norms = torch._foreach_norm(main_grads)
        total = torch.linalg.vector_norm(torch.stack(norms)).item()  # clip_grad_norm reads it back
        coef = max_norm / (total + 1e-6)
        if coef < 1.0:
            torch._foreach_mul_(main_grads, coef)
        self.adam.step()
        _foreach_copy([p.data for p in self.model_params], self.main_params)  # main -> model
        for p in self.model_params + self.main_params:
            p.grad = None  # zero_grad(set_to_none)


# Kernel-name fragments to the part of the layer a kernel belongs to (first match wins; lower case).
# PyTorch's own kernels run inside an `elementwise_kernel<...>` template named after the functor, so
# the functor's fragment comes before "elementwise": dropout's mask and its backward's scale
# (`fused_dropout`, `masked_scale`), casts and layout copies (`direct_copy_kernel_cuda`). Layer
# norm counts apex's kernels and their gradients (cuApplyLayerNorm, cuComputeGradInput,
# cuComputePartGradGammaBeta) and PyTorch's (GammaBetaBackward); the optimizer the multi-tensor
# kernels and the gradient norm's (`lpnorm`).
KERNEL_KINDS = (
    ("nccl", ("nccl",)),
    ("softmax", ("softmax",)),
    ("dropout", ("dropout", "masked_scale")),
    ("layer_norm", ("layer_norm", "layernorm", "gammabeta", "cucomputegradinput")),
    ("optimizer", ("multi_tensor", "foreach", "adam", "lpnorm")),
    ("gemm", ("gemm", "cutlass", "xmma", "nvjet", "cublas", "sm80_", "sm90_", "sm100_", "ampere_", "hopper")),
    ("reduce", ("reduce_kernel",)),
    ("copy", ("memcpy", "memset", "direct_copy", "copy")),
    ("elementwise", ("elementwise",)),
)
TOP_KERNELS = 15


def kernel_kind(name):
    low = name.lower()
    for kind, fragments in KERNEL_KINDS:
        if any(f in low for f in fragments):
            return kind
    return "other"


def timed_step(step, device):
    """Seconds one step takes, the GPU's queue drained before and after."""
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    step()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def warm_profiler(device):
    """A throwaway profile before the first row's, so that no row carries the profiler's (and
    CUPTI's) start-up in its own."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities):
        torch.ones(8, device=device).add_(1).sum().item()


def profile_step(step, device):
    """One more step under torch.profiler: the GPU's kernel time by kind and the largest kernels,
    beside the profiled step's wall time. That wall includes the profiler's cost per op, which is
    large where the host paces the step: set kernel_s against the row's unprofiled step_s
    (kernel_share_of_step). On a CPU, a check of this code, the ops' self CPU time stands in for
    the kernels."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with profile(activities=activities) as prof:
        wall = timed_step(step, device)
    if device == "cuda":
        events = [(e.name, 1, getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0))
                  for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    else:
        events = [(e.key, e.count, e.self_cpu_time_total) for e in prof.key_averages()]
    by_kind, by_name = {}, {}
    for name, n, us in events:
        for table, key in ((by_kind, kernel_kind(name)), (by_name, name)):
            count, total = table.get(key, (0, 0.0))
            table[key] = (count + n, total + us)
    busy = sum(us for _, _, us in events) * 1e-6
    top = sorted(by_name.items(), key=lambda kv: -kv[1][1])[:TOP_KERNELS]
    return {"wall_s": round(wall, 6), "kernel_s": round(busy, 6), "kernels": sum(n for _, n, _ in events),
            "kinds": {k: {"count": c, "s": round(us * 1e-6, 6)} for k, (c, us) in sorted(by_kind.items())},
            "top": [[name[:120], c, round(us * 1e-6, 6)] for name, (c, us) in top],
            "what": "kernels on the GPU" if device == "cuda" else "ops' self CPU time (a check on a CPU)"}


def run_config(cfg, device, steps, warmup, profiled=False):
    h, heads, layers, seq, mb, m, recompute = cfg
    torch.manual_seed(0)
    dtype = torch.float16 if device == "cuda" else torch.float32
    # Made on the device (PyTorch 2 on): a billion parameters take long to make on one CPU core.
    made_on = torch.device(device) if hasattr(torch.device, "__enter__") else contextlib.nullcontext()
    with made_on:
        model = Model(h, heads, layers, VOCAB if h >= 256 else 128, seq, deepspeed_checkpoint, True)
    model.to(device=device, dtype=dtype)
    opt = MainOptimizer(model.parameters(), fused=device == "cuda")
    if device == "cuda":  # the fp32 model made before the cast to fp16 is not the step's memory
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    vocab = model.word_embeddings.weight.shape[0]
    it = data_iterator(seq, vocab, mb, workers=2)

    def micro_batch():
        batch = next(it)
        sizes = broadcast_sizes(["text"], batch)
        tokens, labels, loss_mask, attention_mask, position_ids = get_batch_after_sync(batch, sizes.cpu())
        hidden = model.embed(tokens, position_ids)
        hidden = model.run_layers(hidden, attention_mask, checkpointed=recompute == "full")
        loss = model.head(hidden, labels, loss_mask)
        (loss / m).backward()

    def step():
        for _ in range(m):
            micro_batch()
        opt.step()

    for _ in range(warmup):
        step()
    times = [timed_step(step, device) for _ in range(steps)]
    peak = torch.cuda.max_memory_allocated() if device == "cuda" else 0
    trace = None
    if profiled:
        try:  # a failed profile (CUPTI, its parsing) leaves the timed row as it is
            trace = profile_step(step, device)
            trace["kernel_share_of_step"] = round(trace["kernel_s"] / statistics.median(times), 4)
        except Exception as e:  # noqa: BLE001
            trace = {"error": repr(e)[:300]}
    del model, opt, it
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return {"hidden": h, "heads": heads, "layers": layers, "seq": seq, "vocab": vocab, "micro_batch": mb,
            "micro_batches": m, "global_batch": mb * m, "recompute": recompute,
            "step_s": round(statistics.median(times), 6), "min_s": round(min(times), 6),
            "max_s": round(max(times), 6), "steps_timed": steps, "peak_memory_gib": round(peak / 2**30, 2),
            **({"profile": trace} if trace else {})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--hardware", default="unknown", help="catalog id of the GPU the rows are for")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="two tiny configurations, to check the script")
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--profile", action="store_true",
                    help="after the timed steps, one more under torch.profiler: kernel time by kind (the row's "
                         "step_s stays the unprofiled median)")
    ap.add_argument("--profile-max-hidden", type=int, default=0,
                    help="with --profile, profile only the rows of at most this hidden size (0: every row)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_num_threads(1)
    if args.device == "cuda":
        torch.cuda.set_device(0)
        check_hardware_id("measure_megatron_steps.py", args.hardware, torch.cuda.get_device_name(0))
    use_device(args.device, None)  # one GPU: no tensor-parallel group, no collectives
    set_up_torchscript()
    result = {"hardware": args.hardware, "date": datetime.date.today().isoformat(), "torch": torch.__version__,
              "python": platform.python_version(), "cuda": torch.version.cuda,
              "gpu": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
              "unscripted": megatron_layer.UNSCRIPTED, "main_grads": MAIN_GRADS,
              "loader_samples": megatron_layer.LOADER_SAMPLES, "rows": []}
    path = os.path.join(args.out, "megatron-steps.json")
    if args.profile:
        warm_profiler(args.device)
    for cfg in (QUICK if args.quick else CONFIGS):
        t0 = time.time()
        profiled = args.profile and (args.profile_max_hidden <= 0 or cfg[0] <= args.profile_max_hidden)
        try:
            row = run_config(cfg, args.device, args.steps, warmup=2, profiled=profiled)
        except Exception as e:  # noqa: BLE001 (out of memory or a failed op: record it, go on)
            row = {"config": list(cfg), "error": repr(e)[:300]}
            if args.device == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
        row["wall_s"] = round(time.time() - t0, 1)
        result["rows"].append(row)
        print(json.dumps(row), flush=True)
        write_text(path, json.dumps(result, indent=1))  # whole, after each row: a run cut short keeps its rows


if __name__ == "__main__":
    main()
