#!/usr/bin/env python3
"""Host (CPU) cost of one eager Megatron GPT layer, measured on a CPU alone or on a GPU host.

A small model on one node is bound by the host: the CPU runs Python, the autograd engine and the
dispatcher for every op, and the GPU waits. That cost belongs to the software stack and the CPU, not
to the accelerator, so it can be measured on the host alone. This script runs the code path of the
GPT layer of Megatron-DeepSpeed (megatron/mpu code, 2022 to mid-2023) or Megatron-LM, op for op:
apex's fused layer norm, the column- and row-parallel linear layers with their tensor-parallel region
functions, the QKV split, baddbmm, the fused causal softmax, dropout under the RNG tracker, bmm and
the context copy, the jit-scripted bias-GeLU and bias-dropout-add, Megatron-DeepSpeed's MoE plumbing
in dense layers, per-layer activation checkpointing (DeepSpeed's or Megatron's) with its RNG-state
bookkeeping, and, for Megatron-LM, the local DDP hook that adds each gradient to its main gradient.
A CUDA extension call or a fused kernel becomes one aten op, and torch.cuda's RNG-state functions the
same Python over a CPU generator. The tensors are so small that the CPU's kernels cost little.

    /usr/bin/python3 tools/host/measure_eager_host.py OUT.yaml [--stack megatron-deepspeed|megatron-lm] [--id NAME]
                                                       [--device cpu|cuda]

(/usr/bin/python3 with Debian's python3-torch and libopenblas0-pthread; without OpenBLAS, Debian's
reference BLAS makes even these tiny matrix products cost hundreds of microseconds.)

It writes a data/host file: per layer and micro-batch, the forward and backward of a run without
recompute, and the whole of a checkpointed layer (forward without autograd, recomputed forward,
backward); per micro-batch, the embedding, LM head and cross-entropy around the layers, and the input
path of get_batch split where the host waits for the GPU (broadcast_data copies the batch's sizes back
to the CPU): the data-loader receive before that wait, the rest after it, with the GPU idle. Each figure
is the fastest of ROUNDS rounds, each timing every part once: on a shared machine, other work only
ever adds time (the reasoning of Python's timeit, whose documentation recommends the minimum), and a
training node's host runs its Python without such interference. The median is kept for comparison. What it leaves out is listed in the file it writes.

With --device cuda (a GPU host; PyTorch built with CUDA and NCCL), the same code runs on the GPU in
fp16: the launches, the device's RNG states, the copies that wait for the GPU and the pinned-memory
loader are then real, and each collective is called on a one-rank NCCL communicator. The GPU's
work on these tensors is a few microseconds per kernel, far below the host's time per op, so the
wall clock (with the GPU drained at the end of each timing) is the host's time. It then also times
the checkpointed layer at TP 2, whose six all-reduces over the TP-1 layer give what one collective
call adds inside a layer (`collective_call_us`), and a bare call loop as a check.

On either device it also times the checkpointed layer with Megatron's unfused softmax (the fallback
its FusedScaleMaskSoftmax takes where the fused kernel's constraints fail), right after the fused
one in every round: the median difference per op the fallback adds is `unfused_softmax_op_us`.

Nothing here is fitted to a validation run: the op sequence follows the framework's code, and the
figures are whatever this machine measures.
"""
import argparse
import datetime
import os
import platform
import statistics
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before torch loads BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

import megatron_layer  # noqa: E402  (beside this file)
from megatron_layer import (STACKS, Model, add_grad_hooks, broadcast_sizes, data_iterator,  # noqa: E402
                            get_batch_after_sync, use_device)

ROUNDS = int(os.environ.get("PREFLIGHT_HOST_ROUNDS", "31"))
LAYERS = 8
# Op launches Megatron's unfused softmax in fp32 adds to a checkpointed layer over the fused kernel:
# four forward ops (cast, scale, mask, cast back beside softmax), again in the recomputed forward,
# and five in the backward (the mask's gradient, grad.masked_fill(mask, 0), is a clone and a fill).
UNFUSED_SOFTMAX_OPS = 13


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = {}
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
        return "%s (family %s model %s, %s MHz)" % (info.get("model name", "?"), info.get("cpu family", "?"),
                                                    info.get("model", "?"), info.get("cpu MHz", "?"))
    except OSError:
        return platform.processor() or "unknown"


def drain():
    """On a GPU host, wait for the GPU: a timing ends when the work it queued has run."""
    if megatron_layer.on_gpu():
        torch.cuda.synchronize()


def timed(fn, inner):
    drain()
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    drain()
    return (time.perf_counter() - t) / inner


def timed_backward(forward, inner):
    """Host seconds of the backward alone: each iteration runs the forward untimed, then times the
    backward. A difference of two separately timed rounds (forward and backward, minus forward) can
    come out negative on a loaded machine; this cannot."""
    drain()
    total = 0.0
    for _ in range(inner):
        y = forward().sum()
        t = time.perf_counter()
        y.backward()
        total += time.perf_counter() - t
    drain()
    return total / inner


def measure(stack, h, heads, seq, vocab, layers=LAYERS, rounds=ROUNDS, inner=10, time_loader=True,
            paired_tp2=False):
    """Seconds per layer (and per micro-batch around the layers): the fastest of `rounds` rounds,
    each timing every quantity once (and the median, for comparison). With `paired_tp2`, each round
    also times the checkpointed layer at TP 2 right after the one at TP 1 (the collectives called
    on the one-rank group), and the host time inside the calls themselves."""
    torch.manual_seed(0)
    device = megatron_layer._WORLD["device"]
    dtype = torch.float16 if megatron_layer.on_gpu() else torch.float32  # Megatron's fp16 module on a GPU
    model = Model(h, heads, layers, vocab, seq, STACKS[stack]["checkpoint"], STACKS[stack]["moe_plumbing"])
    model.to(device=device, dtype=dtype)
    keep = add_grad_hooks(list(model.parameters())) if STACKS[stack]["hooks"] else []
    tokens = torch.randint(0, vocab, (1, seq), device=device)
    positions = torch.arange(seq, device=device).unsqueeze(0)
    labels = torch.randint(0, vocab, (1, seq), device=device)
    loss_mask = torch.ones(1, seq, device=device)
    mask = torch.ones(1, 1, seq, seq, dtype=torch.bool, device=device).triu(1)
    x0 = torch.randn(seq, 1, h, device=device, dtype=dtype)

    def forward():
        return model.run_layers(x0.clone().requires_grad_(True), mask, checkpointed=False)

    def backward():
        return timed_backward(forward, inner)

    def checkpointed():
        model.run_layers(x0.clone().requires_grad_(True), mask, checkpointed=True).sum().backward()

    def checkpointed_forward():
        model.run_layers(x0.clone().requires_grad_(True), mask, checkpointed=True)

    clock = [0.0, 0]

    def checkpointed_tp2():
        megatron_layer._WORLD["tp"] = 2  # the same layer calling its six all-reduces (full recompute)
        megatron_layer.CALL_CLOCK = clock
        try:
            checkpointed()
        finally:
            megatron_layer._WORLD["tp"] = 1
            megatron_layer.CALL_CLOCK = None

    def checkpointed_unfused_softmax():
        megatron_layer.UNFUSED_SOFTMAX = True  # Megatron's fallback: five ops each way for the kernel
        try:
            checkpointed()
        finally:
            megatron_layer.UNFUSED_SOFTMAX = False

    def around_layers():
        loss = model.head(model.embed(tokens, positions), labels, loss_mask)
        loss.backward()

    batch = next(data_iterator(seq, vocab, 1, workers=0))  # pinned on a GPU host, as the loader pins it

    def input_before_sync():
        broadcast_sizes(["text"], batch)

    sizes = broadcast_sizes(["text"], batch)

    def input_after_sync():
        get_batch_after_sync(batch, sizes.cpu())

    parts = {"forward": forward, "backward": backward, "checkpointed": checkpointed}
    if paired_tp2:
        parts["checkpointed_tp2"] = checkpointed_tp2  # right after TP 1, in the same round
    parts["checkpointed_unfused_softmax"] = checkpointed_unfused_softmax  # paired with TP 1 as well
    parts.update({"checkpointed_forward": checkpointed_forward, "around_layers": around_layers,
                  "input_before_sync": input_before_sync, "input_after_sync": input_after_sync})
    for fn in parts.values():
        for _ in range(3):
            fn()
    samples = {name: [] for name in parts}
    in_call = []  # per round: host seconds inside one collective call
    for _ in range(rounds):
        for name, fn in parts.items():
            clock[:] = [0.0, 0]
            samples[name].append(fn() if fn is backward else timed(fn, inner))
            if fn is checkpointed_tp2 and clock[1]:
                in_call.append(clock[0] / clock[1])
    med = {name: statistics.median(v) for name, v in samples.items()}
    best = {name: min(v) for name, v in samples.items()}
    paired = {}
    if paired_tp2:
        # Each round's TP-2 layer over its own TP-1 layer, per call (6 a layer): what a collective
        # adds inside the layer, with the drift between rounds (clock, other work) cancelled.
        per_call = sorted((b - a) / layers / 6 for a, b in zip(samples["checkpointed"], samples["checkpointed_tp2"]))
        paired = {
            "checkpointed_tp2": best["checkpointed_tp2"] / layers,
            "per_call_median": statistics.median(per_call),
            "per_call_quartiles": (per_call[len(per_call) // 4], per_call[(3 * len(per_call)) // 4]),
            "in_call_median": statistics.median(in_call) if in_call else None,
        }
    # Each round's layer with Megatron's unfused softmax over its own layer with the fused kernel,
    # per op launch the fallback adds: four ops more in the forward and in the recomputed forward,
    # five in the backward, 13 a checkpointed layer.
    per_op = sorted((b - a) / layers / UNFUSED_SOFTMAX_OPS
                    for a, b in zip(samples["checkpointed"], samples["checkpointed_unfused_softmax"]))
    paired["unfused_softmax_op_median"] = statistics.median(per_op)
    paired["unfused_softmax_op_quartiles"] = (per_op[len(per_op) // 4], per_op[(3 * len(per_op)) // 4])
    paired["checkpointed_unfused_softmax"] = best["checkpointed_unfused_softmax"] / layers
    del keep
    loader = loader_seconds(seq, vocab, rounds * 5) if time_loader else 0.0  # its own workers, its own pauses
    return {
        "forward": best["forward"] / layers,
        "backward": best["backward"] / layers,
        "checkpointed": best["checkpointed"] / layers,
        "checkpointed_forward": best["checkpointed_forward"] / layers,
        "around_layers": best["around_layers"],
        "input_before_sync": loader + best["input_before_sync"],
        "input_after_sync": best["input_after_sync"],
        "checkpointed_median": med["checkpointed"] / layers,
        "loader": loader,
        "spread": max((max(v) - min(v)) / statistics.median(v) for v in samples.values()),
        **paired,
    }


def loader_seconds(seq, vocab, samples):
    """The training process's part of next() on Megatron's loader (two worker processes): the
    median over `samples` calls, each after a pause in which the workers have the next batch ready,
    so that their work does not land in the timing."""
    it = data_iterator(seq, vocab, 1)
    for _ in range(8):
        next(it)
    times = []
    for _ in range(samples):
        time.sleep(0.005)
        t = time.perf_counter()
        next(it)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def us(x):
    return round(x * 1e6, 1)


def collective_call_seconds(h, seq, rounds=ROUNDS, inner=100):
    """Host time of one torch.distributed.all_reduce on the tensor-parallel group (a one-rank NCCL
    communicator here) of a layer's output: the fastest of `rounds` rounds of `inner` calls."""
    group = megatron_layer.get_tensor_model_parallel_group()
    x = torch.zeros(seq, 1, h, device=megatron_layer._WORLD["device"],
                    dtype=torch.float16 if megatron_layer.on_gpu() else torch.float32)

    def call():
        torch.distributed.all_reduce(x, group=group)
    for _ in range(20):
        call()
    return min(timed(call, inner) for _ in range(rounds))


def set_up_torchscript():
    """The layer's code as Megatron of that time sets TorchScript up (model/transformer.py at
    import); a PyTorch without one of these switches runs without it."""
    for name, value in (("_jit_set_profiling_mode", False), ("_jit_set_profiling_executor", False),
                        ("_jit_override_can_fuse_on_gpu", True)):
        switch = getattr(torch._C, name, None)
        if switch is not None:
            switch(value)


def set_up_gpu():
    """One GPU and a one-rank NCCL process group standing for the tensor- and data-parallel groups."""
    if not torch.cuda.is_available():
        raise SystemExit("measure_eager_host.py: --device cuda needs a PyTorch that sees a GPU")
    torch.cuda.set_device(0)
    torch.distributed.init_process_group("nccl", store=torch.distributed.HashStore(), rank=0, world_size=1)
    use_device("cuda", torch.distributed.group.WORLD)
    nccl = torch.cuda.nccl.version()
    nccl = ".".join(str(v) for v in nccl) if isinstance(nccl, tuple) else str(nccl)
    return "%s, CUDA %s, NCCL %s" % (torch.cuda.get_device_name(0), torch.version.cuda, nccl)


def omitted_lines(stack, gpu):
    deepspeed = stack == "megatron-deepspeed"
    lines = [] if gpu else [
        "the CUDA driver's launch call per kernel (1.3-3.0 us for a raw cuLaunchKernel on GB200, "
        "meta-pytorch/tritonbench PRs 1016 and 1017): the tiny CPU kernels run in its place",
        "the collectives' own host calls (NCCL enqueue); the region functions around them are timed",
        "the time the two blocking copies per layer forward take beyond their CPU ops (a pageable "
        "cudaMemcpyAsync and a cudaStreamSynchronize each); that they make the host wait for the GPU "
        "is stated in gpu_waits_per_layer_forward" if deepspeed else None,
    ]
    if gpu:
        lines.append("the other ranks: each collective runs on a one-rank NCCL communicator, whose enqueue "
                     "may skip the ring or tree planning a larger group needs (the c10d side is the same); "
                     "collective_call_us is a lower bound for that reason")
    lines += [
        "the pipeline engine's per-micro-batch bookkeeping and sends" if deepspeed else
        "the pipeline schedule's per-micro-batch bookkeeping and sends",
        "the input path's two broadcasts within the tensor-parallel group and its copies to the device "
        "(the second waits for the GPU again), and the loader's pinned-memory thread (it needs CUDA)"
        if not gpu else None,
        "the cross-entropy's three all-reduces and the data-parallel loss average (one per micro-batch)"
        if not gpu else None,
        "DeepSpeed's engine wrappers around each micro-batch's forward and backward" if deepspeed else None,
        "optimizer, loss scaling and gradient-norm work once per step",
    ]
    if megatron_layer.UNSCRIPTED:
        lines.append("TorchScript: this PyTorch could not script %s, which ran as plain Python functions "
                     "(the call of a scripted function is not timed)" % ", ".join(megatron_layer.UNSCRIPTED))
    return [line for line in lines if line is not None]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--id", default=None, help="the profile's id (default: STACK-gpt-eager)")
    ap.add_argument("--stack", choices=sorted(STACKS), default="megatron-deepspeed")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                    help="cpu: the host alone (CPU tensors stand for the device's); cuda: on a GPU host")
    ap.add_argument("--check-collectives", action="store_true",
                    help="on a CPU, call the collectives on a one-rank gloo group: a check of this script's "
                         "GPU-host code paths (gloo's calls are not NCCL's: the profile gets no collective_call_us)")
    args = ap.parse_args()
    torch.set_num_threads(1)  # dispatch is single-threaded; tiny ops gain nothing from OpenMP
    started = datetime.datetime.now(datetime.timezone.utc)
    set_up_torchscript()
    gpu = args.device == "cuda"
    where = set_up_gpu() if gpu else None
    if args.check_collectives and not gpu:
        torch.distributed.init_process_group("gloo", store=torch.distributed.HashStore(), rank=0, world_size=1)
        use_device("cpu", torch.distributed.group.WORLD)
    collectives = gpu or args.check_collectives
    small = measure(args.stack, h=32, heads=16, seq=4, vocab=64, paired_tp2=collectives)
    large = measure(args.stack, h=64, heads=16, seq=8, vocab=128, rounds=5, time_loader=False)  # a check of the layer only
    call = collective_call_seconds(h=32, seq=4, rounds=ROUNDS) if collectives else None
    if not small["checkpointed_forward"] < small["checkpointed"]:
        raise SystemExit("measure_eager_host.py: the checkpointed forward (%s us) did not come out below the whole "
                         "checkpointed layer (%s us); the machine was too noisy, run again"
                         % (us(small["checkpointed_forward"]), us(small["checkpointed"])))
    # What each collective adds inside the layer (Megatron's region function reaching the call,
    # c10d and the NCCL enqueue, on tensors the layer has just made): the TP-2 layer's six calls
    # over the TP-1 layer, which issues none, timed back to back in every round; the median over
    # the rounds of that paired difference (until 2026-12-02 the fastest TP-2 round less the
    # fastest TP-1 round of two separate runs, as noisy as their rounds). The host time inside the
    # calls themselves and the bare call loop are kept as checks. Where it does not come out above
    # 0 the file leaves collective_call_us out (the step model then charges no call) and says so.
    per_call = small["per_call_median"] if collectives else None
    if gpu and not per_call > 0:
        print("measure_eager_host.py: the TP-2 layer (%s us) did not come out above the TP-1 layer (%s us); "
              "collective_call_us left out: run again on a quieter machine"
              % (us(small["checkpointed_tp2"]), us(small["checkpointed"])), file=sys.stderr)
    profile_id = args.id or args.stack + "-gpt-eager"
    seconds = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    with open(args.out, "w") as f:
        f.write("# Host (CPU) time of one eager Megatron-style GPT layer, for training.host_profile.\n")
        f.write("# Written by tools/host/measure_eager_host.py%s: each figure is the fastest of %d rounds that time\n"
                "# every part once (%d layers, 10 steps a round).\n" % (" --device cuda" if gpu else "", ROUNDS, LAYERS))
        f.write("id: %s\n" % profile_id)
        # The loader's samples made with torch where numpy is missing (megatron_layer.LOADER_SAMPLES):
        # said in the source then only, so a usual run's file reads as before.
        samples = "" if megatron_layer.LOADER_SAMPLES == "numpy" else ", loader samples in torch (no numpy)"
        f.write('source: "tools/host/measure_eager_host.py%s on %s%s, PyTorch %s, Python %s, %s UTC, %.0f s%s"\n'
                % (" --device cuda" if gpu else "", cpu_model(), " with " + where if gpu else "", torch.__version__,
                   platform.python_version(), started.strftime("%Y-%m-%d %H:%M"), seconds, samples))
        f.write('stack: "%s"\n' % STACKS[args.stack]["text"])
        f.write("layer: gpt               # LayerNorm, GeLU MLP, standard attention, dense\n")
        f.write("layer_us:                # per transformer layer and micro-batch%s\n" % (" (TP 1)" if gpu else ""))
        f.write("  forward: %s           # forward building the autograd graph (no recompute)\n" % us(small["forward"]))
        f.write("  backward: %s          # its backward\n" % us(small["backward"]))
        f.write("  checkpointed: %s      # full recompute: checkpointed forward, recomputed forward and backward\n"
                % us(small["checkpointed"]))
        f.write("  checkpointed_forward: %s  # of which the checkpointed forward (no autograd inside the layers)\n"
                % us(small["checkpointed_forward"]))
        waits = STACKS[args.stack]["gpu_waits_per_layer_forward"]
        f.write("gpu_waits_per_layer_forward: %d  # blocking copies to the device per layer forward%s\n"
                % (waits, " (torch.tensor(0.0, device=...) twice, for the MoE plumbing): the host waits for the GPU"
                   if waits else ""))
        if gpu and per_call > 0:
            f.write("collective_call_us: %s     # per all-reduce the layer issues at TP 2 (its six calls): "
                    "median over the rounds of (checkpointed at TP 2 - at TP 1) / 6\n" % us(per_call))
        elif gpu:
            f.write("# collective_call_us left out: the TP-2 layer did not come out above the TP-1 layer (checks)\n")
        if us(small["unfused_softmax_op_median"]) > 0:  # as written: the loader refuses 0
            f.write("unfused_softmax_op_us: %s   # per op Megatron's unfused softmax adds (13 a checkpointed layer): "
                    "median over the rounds of (checkpointed unfused - fused) / 13\n" % us(small["unfused_softmax_op_median"]))
        else:
            f.write("# unfused_softmax_op_us left out: the unfused layer did not come out above the fused one (checks)\n")
        f.write("micro_batch_us: %s      # embedding, LM head and cross-entropy, forward and backward\n"
                % us(small["around_layers"]))
        f.write("input_us:                # per micro-batch: get_batch's data path (Megatron's broadcast_data)\n")
        f.write("  before_sync: %s        # data-loader receive (%s) and packing the sizes, before the host waits for the GPU\n"
                % (us(small["input_before_sync"]), us(small["loader"])))
        f.write("  after_sync: %s         # after that wait (sizes_cuda.cpu()), up to the model: the GPU idles meanwhile\n"
                % us(small["input_after_sync"]))
        f.write("checks:\n")
        f.write("  largest_round_spread: %.2f      # (slowest - fastest round) / median, over the parts\n" % small["spread"])
        f.write("  checkpointed_median_us: %s     # the median round, for comparison\n" % us(small["checkpointed_median"]))
        f.write("  checkpointed_at_doubled_shapes_us: %s  # hidden 64, sequence 8: what the %s kernels add\n"
                % (us(large["checkpointed"]), "GPU's" if gpu else "CPU"))
        if collectives and not gpu:
            f.write("  gloo_collective_call_us: %s  # --check-collectives: a one-rank gloo all-reduce, not NCCL's\n"
                    % us(call))
        if collectives:
            low, high = small["per_call_quartiles"]
            f.write("  checkpointed_at_tp2_us: %s  # the same layer issuing its six all-reduces (fastest round)\n"
                    % us(small["checkpointed_tp2"]))
            f.write("  per_call_quartiles_us: [%s, %s]  # the paired per-call difference's middle half over the rounds\n"
                    % (us(low), us(high)))
            if small["in_call_median"] is not None:
                f.write("  in_call_us: %s  # host time inside one all_reduce call in the layer (median round)\n"
                        % us(small["in_call_median"]))
        low, high = small["unfused_softmax_op_quartiles"]
        f.write("  checkpointed_unfused_softmax_us: %s  # the layer with Megatron's unfused softmax (fastest round)\n"
                % us(small["checkpointed_unfused_softmax"]))
        f.write("  unfused_softmax_op_quartiles_us: [%s, %s]  # the paired per-op difference's middle half\n"
                % (us(low), us(high)))
        if gpu:
            f.write("  bare_call_us: %s  # one all-reduce called in a loop on the same tensor, outside the layer\n"
                    % us(call))
        f.write("shapes: {hidden: 32, heads: 16, seq: 4, micro_batch: 1, vocab: 64, layers: %d}\n" % LAYERS)
        f.write("omitted:\n")
        for line in omitted_lines(args.stack, gpu):
            f.write('  - "%s"\n' % line)
    if torch.distributed.is_initialized():
        # Drop the layer code's reference first, so that the group (and its gloo or NCCL threads)
        # goes here rather than at interpreter exit, where an unjoined worker thread aborts the
        # process ("terminate called without an active exception", once in a loaded test run).
        megatron_layer._WORLD["group"] = None
        torch.distributed.destroy_process_group()
    print(open(args.out).read())


if __name__ == "__main__":
    main()
