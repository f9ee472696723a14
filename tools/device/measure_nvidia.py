#!/usr/bin/env python3
"""Microbenchmarks of one NVIDIA GPU for preflight's catalog, in one run of a few minutes.

Run on a machine with the GPU and PyTorch (a lent device: see tools/device/README.md):

    python3 tools/device/measure_nvidia.py OUT_DIR --id h200-sxm-141gb [--quick]

It writes into OUT_DIR:
  gemm-<id>.yaml        bf16 GEMM TFLOP/s on a full grid of shapes, in data/gemm/'s format (clock: burst)
  measurements.json     every figure below with the software it was measured on
  log.txt               what ran, and how long each part took

Figures (each the median of repeated timings with CUDA events, after warm-up, random data):
  gemm_bf16 / gemm_fp8  the shape grid (fp8 through torch._scaled_mm, bf16 output)
  fp8_accumulation      torch._scaled_mm at a few training shapes with the promoted (split)
                        accumulator, as Transformer Engine's and torchao's backward GEMMs run, and
                        with fast accumulation, as their forward GEMMs and the catalog's cuBLASLt
                        rates run: TFLOP/s of each and their ratio (docs/validation.md, NVIDIA
                        H100/H200)
  sustained_bf16        an 8192^3 bf16 GEMM held for SUSTAIN_S seconds: TFLOP/s of the last window,
                        with SM clock and power from NVML (MSMF-like, one GPU busy, not a whole node)
  hbm                   copy and triad bandwidth of 1 GiB arrays (bytes read + written / time)
  attention             torch SDPA per backend (flash, cudnn, efficient), causal, head dims 64 and
                        128, 512 to 16k tokens (batch x sequence = 16k), forward and backward
                        TFLOP/s in the FlashAttention convention
  output_layer          GPT-2's output layer in fp16 at the vTrain rows' shapes (hidden 1,024 and 2,048,
                        1,024 and 4,096 tokens): the three GEMMs (forward, input and weight gradient)
                        and Megatron's vocabulary-parallel cross-entropy forward and backward (and
                        the logits' [s, b] -> [b, s] copy at 4,096 tokens), at one rank's
                        vocabulary at TP 1, 2, 4 and 8 both as Megatron pads it (50,304, 25,216,
                        12,672, 6,400: 50,257 to a multiple of 128 x TP, split) and as vTrain's own
                        model splits it (50,257 // TP: 50,257, 25,128, 12,564, 6,282, multiples of
                        1, 8, 4 and 2), milliseconds each (docs/validation.md: the runs' output side);
                        from them gemm_odd_width_slowdown, the catalog figure of that name for
                        the device (the odd width's GEMM time over the aligned one's, per column)
  host                  eager PyTorch host cost: seconds per launched op of a tiny-op loop, and a
                        small GPT layer's forward+backward (T wall time, K kernels, G kernel time:
                        host cost per kernel = T / K while G is much less than T), as
                        docs/cost-model.md ("Measuring it on your stack") describes

Nothing here is fitted to a validation run: these are the microbenchmark figures the catalog and
training.host_overhead_per_kernel_us take, with the conditions they were measured under.
"""
import argparse
import datetime
import json
import os
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from atomic_write import write_text  # noqa: E402  (whole files: a run killed mid-write leaves the last one)

SIZES = (256, 512, 1024, 2048, 4096, 8192)
SUSTAIN_S = 60.0
GRAPHS = True  # --eager-gemms: time the GEMM grid with eager launches, as the first run did


# A hardware id's family (its first word) to the word torch.cuda.get_device_name shows for that GPU
# ("NVIDIA H100 80GB HBM3", "NVIDIA H200", "NVIDIA A100-SXM4-80GB", "NVIDIA GB200"). The figures are
# written under the id given, so an id of another GPU is refused, not taken on trust; an id of a
# family not listed here is let through with a warning.
GPU_NAME_BY_FAMILY = {"a100": "A100", "h100": "H100", "h200": "H200", "h800": "H800", "h20": "H20",
                      "b200": "B200", "b300": "B300", "gb200": "GB200", "gb300": "GB300"}


def hardware_id_mismatch(hardware_id, gpu_name):
    """(refusal, warning): the line to refuse `hardware_id` with where `gpu_name` is not a GPU of its
    family, or the line to warn with where the family is not known here; None for either otherwise.
    The family's word must stand alone in the name: GB200's name holds "B200", GH200's "H200"."""
    family = hardware_id.lower().split("-")[0]
    word = GPU_NAME_BY_FAMILY.get(family)
    if word is None:
        return None, ("hardware id %r: family %r not known here, not checked against the GPU %r"
                      % (hardware_id, family, gpu_name))
    if re.search(r"(?<![A-Z0-9])%s(?![A-Z0-9])" % word, gpu_name.upper()):
        return None, None
    return ("hardware id %r is not this GPU %r (an id of the %s family expects %s in its name)"
            % (hardware_id, gpu_name, family, word)), None


def check_hardware_id(script, hardware_id, gpu_name):
    """Exits 2 with one line on stderr where the id names another GPU; warns where it cannot tell."""
    refusal, warning = hardware_id_mismatch(hardware_id, gpu_name)
    if refusal:
        print("%s: %s" % (script, refusal), file=sys.stderr)
        sys.exit(2)
    if warning:
        print("%s: warning: %s" % (script, warning), file=sys.stderr)


def log(out, text):
    line = "%s %s" % (datetime.datetime.now().strftime("%H:%M:%S"), text)
    print(line, flush=True)
    with open(os.path.join(out, "log.txt"), "a") as f:
        f.write(line + "\n")


def time_gpu(fn, min_seconds=0.02, repeats=5):
    """Median seconds per call of fn over `repeats` batches, each long enough to time."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    once = max(start.elapsed_time(end) / 1e3, 1e-6)
    iters = max(1, int(min_seconds / once))
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / iters)
    return statistics.median(samples)


def time_graph(fn, min_seconds=0.01, repeats=5):
    """Median seconds per call of fn with the host out of the timing: `n` calls captured in one CUDA
    graph, replayed. Eager launches cost the host about 10 us each, more than a small GEMM takes on
    the GPU, so an eager loop of small GEMMs times the host (the first run of this script did)."""
    once = time_gpu(fn, min_seconds=0.002, repeats=1)
    n = max(1, min(200, int(min_seconds / once)))
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(n):
            fn()
    graph.replay()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    samples = []
    for _ in range(repeats):
        start.record()
        graph.replay()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / n)
    del graph
    return statistics.median(samples)


def gemm_grid(dtype_name, sizes, states=None):
    """[m, n, k, TFLOP/s] for every shape of the grid. `states`, when a list, gets [m, n, k, SM clock
    in MHz, power in W] read right after each shape's timing: a grid that runs for tens of seconds
    warms the GPU, and a shape timed below the boost clock is a sustained figure, not a burst one
    (the 2026-12-04 H200 grid peaked at 754.5 TFLOP/s, 5% under the device's burst MAMF, and timed
    4096^3 at 661, where OpenXLA's H100 table on the same die has 780)."""
    rows = []
    for m in sizes:
        for n in sizes:
            for k in sizes:
                if dtype_name == "bf16":
                    a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                    b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
                    fn = lambda: torch.mm(a, b)  # noqa: E731
                else:
                    a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
                    b = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn).t()  # column-major (k, n)
                    one = torch.tensor(1.0, device="cuda")
                    fn = lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16)  # noqa: E731
                t = time_graph(fn) if GRAPHS else time_gpu(fn)
                rows.append([m, n, k, round(2.0 * m * n * k / t / 1e12, 1)])
                if states is not None:
                    state = nvml_state()
                    states.append([m, n, k, state.get("sm_clock_mhz"), state.get("power_w")])
                del a, b
    return rows


def fp8_accumulation(shapes=((4096, 4096, 4096), (8192, 8192, 8192), (16384, 4096, 4096),
                              (16384, 14336, 4096), (16384, 4096, 14336))):
    """[m, n, k, TFLOP/s with the promoted accumulator, TFLOP/s with fast accumulation, promoted over
    fast] per shape."""
    rows = []
    for m, n, k in shapes:
        a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
        b = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn).t()  # column-major (k, n)
        one = torch.tensor(1.0, device="cuda")
        rates = []
        for fast in (False, True):
            fn = lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16,  # noqa: E731
                                          use_fast_accum=fast)
            t = time_graph(fn) if GRAPHS else time_gpu(fn)
            rates.append(round(2.0 * m * n * k / t / 1e12, 1))
        rows.append([m, n, k] + rates + [round(rates[0] / rates[1], 3)])
        del a, b
    return rows


def output_layer():
    """The output layer and loss of the vTrain GPT rows, op for op as Megatron-DeepSpeed runs them at
    TP 1 (and one TP-2 rank's share of the vocabulary): milliseconds per call, GPU time."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "host"))
    import megatron_layer  # the host tool's op-for-op Megatron pieces (its cross-entropy)
    megatron_layer.use_device("cuda", None)  # no tensor-parallel group: the all-reduces are left out
    rows = []
    for h in (1024, 2048):
        for tokens in (1024, 4096):
            # Megatron's padded share per rank, then vTrain's unpadded vocab_size // world_size
            # (VIA-Research/vTrain src/model/gpt_modeling.py, ShardedGptLogit), TP 1, 2, 4, 8.
            for vocab in (50304, 25216, 12672, 6400, 50257, 25128, 12564, 6282):
                x = torch.randn(tokens, h, device="cuda", dtype=torch.float16)
                w = torch.randn(vocab, h, device="cuda", dtype=torch.float16) * 0.02
                dy = torch.randn(tokens, vocab, device="cuda", dtype=torch.float16) * 0.01
                target = torch.randint(0, vocab, (tokens,), device="cuda")
                logits = F.linear(x, w).detach().requires_grad_()
                ones = torch.ones(tokens, device="cuda")

                def loss_pass():
                    loss = megatron_layer.VocabParallelCrossEntropy.apply(logits.float(), target)
                    loss.backward(ones)  # through .float(): the gradient comes back to fp16
                    logits.grad = None
                times = {"forward": time_gpu(lambda: F.linear(x, w)),
                         "input_gradient": time_gpu(lambda: torch.matmul(dy, w)),
                         "weight_gradient": time_gpu(lambda: dy.t().matmul(x)),
                         "loss": time_gpu(loss_pass)}
                if tokens > 1024:  # the host tool's head turns [s, b, V] logits to [b, s, V]: a copy when b > 1
                    sbv = dy.view(1024, tokens // 1024, vocab)
                    times["transpose"] = time_gpu(lambda: sbv.transpose(0, 1).contiguous())
                gemm = times["forward"] + times["input_gradient"] + times["weight_gradient"]
                row = {"hidden": h, "tokens": tokens, "vocab": vocab}
                row.update({k + "_ms": round(v * 1e3, 3) for k, v in times.items()})
                row["gemm_tflops"] = round(3 * 2.0 * tokens * h * vocab / gemm / 1e12, 1)
                rows.append(row)
                del x, w, dy, target, logits
    return rows


def odd_width_slowdown(rows):
    """The catalog's efficiency.gemm_odd_width_slowdown from output_layer's rows: per hidden size and
    token count, the three GEMMs' time over the odd 50,257-wide vocabulary against the aligned 50,304,
    per column (the odd layer has 47 columns fewer), and their median."""
    gemms = lambda r: r["forward_ms"] + r["input_gradient_ms"] + r["weight_gradient_ms"]  # noqa: E731
    by = {(r["hidden"], r["tokens"], r["vocab"]): gemms(r) for r in rows}
    out = []
    for (h, tokens, vocab), odd in sorted(by.items()):
        aligned = by.get((h, tokens, 50304))
        if vocab == 50257 and aligned:
            out.append({"hidden": h, "tokens": tokens, "ratio": round(odd / (aligned * 50257 / 50304), 3)})
    ratios = [r["ratio"] for r in out]
    return {"by_shape": out, "median": round(statistics.median(ratios), 3) if ratios else None,
            "note": "fp16 torch GEMMs of GPT-2's output layer (F.linear, its input and weight gradients), "
                    "50,257 columns against 50,304, per column"}


def unaligned_width_slowdown(rows):
    """The catalog's efficiency.gemm_unaligned_width_slowdown from output_layer's rows: per hidden
    size and token count, the three GEMMs' time per column over an even width that is no multiple of 8
    against the aligned width beside it (12,564 = 4 mod 8 against 12,672: eight_byte_rows; 6,282 =
    2 mod 8 against 6,400: four_byte_rows), with 25,128 (a multiple of 8) against 25,216 as the
    control that should read about 1, and the medians."""
    gemms = lambda r: r["forward_ms"] + r["input_gradient_ms"] + r["weight_gradient_ms"]  # noqa: E731
    by = {(r["hidden"], r["tokens"], r["vocab"]): gemms(r) for r in rows}
    pairs = {"eight_byte_rows": (12564, 12672), "four_byte_rows": (6282, 6400), "control": (25128, 25216)}
    out = {}
    for name, (width, aligned) in pairs.items():
        ratios = [round(by[(h, t, width)] / (by[(h, t, aligned)] * width / aligned), 3)
                  for (h, t, v) in sorted(by) if v == width and (h, t, aligned) in by]
        out[name] = {"widths": [width, aligned], "ratios": ratios,
                     "median": round(statistics.median(ratios), 3) if ratios else None}
    return out


def nvml_state():
    try:
        import pynvml
        pynvml.nvmlInit()
        h = pynvml.nvmlDeviceGetHandleByIndex(0)
        return {"sm_clock_mhz": pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM),
                "power_w": pynvml.nvmlDeviceGetPowerUsage(h) / 1000.0,
                "power_limit_w": pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0,
                "temperature_c": pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU)}
    except Exception as e:  # NVML missing or not permitted in this runtime
        return {"nvml_error": str(e)}


def sustained(seconds):
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    flops = 2.0 * n ** 3
    windows, t0 = [], time.time()
    while time.time() - t0 < seconds:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(200):
            torch.mm(a, b)
        end.record()
        torch.cuda.synchronize()
        windows.append({"at_s": round(time.time() - t0, 1),
                        "tflops": round(200 * flops / (start.elapsed_time(end) / 1e3) / 1e12, 1),
                        **nvml_state()})
    return {"shape": [n, n, n], "windows": windows, "last_tflops": windows[-1]["tflops"],
            "first_tflops": windows[0]["tflops"]}


def hbm():
    n = (1 << 30) // 4
    a = torch.empty(n, device="cuda", dtype=torch.float32)
    b = torch.randn(n, device="cuda", dtype=torch.float32)
    c = torch.randn(n, device="cuda", dtype=torch.float32)
    copy = time_gpu(lambda: a.copy_(b))
    triad = time_gpu(lambda: torch.add(b, c, alpha=2.0, out=a))
    return {"bytes_per_array": 4 * n, "copy_tbytes_per_s": round(2 * 4 * n / copy / 1e12, 3),
            "triad_tbytes_per_s": round(3 * 4 * n / triad / 1e12, 3)}


def attention(seqs, head_dims=(64, 128)):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backends = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                "efficient": SDPBackend.EFFICIENT_ATTENTION}
    tokens, width = 16384, 2048  # the FlashAttention benchmarks' shapes: batch x seq = 16k, heads x dim = 2048
    out = {}
    for name, backend in backends.items():
        rows = []
        for hd, s in ((hd, s) for hd in head_dims for s in seqs):
            heads = width // hd
            batch = max(1, tokens // s)
            q, k, v = (torch.randn(batch, heads, s, hd, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                       for _ in range(3))
            fwd_flops = 4.0 * batch * heads * s * s * hd / 2  # causal: half the score work
            try:
                with sdpa_kernel(backend):
                    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    grad = torch.randn_like(o)
                    t_fwd = time_gpu(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))
                    t_all = time_gpu(lambda: torch.autograd.grad(
                        F.scaled_dot_product_attention(q, k, v, is_causal=True), (q, k, v), grad))
                rows.append({"head_dim": hd, "seq": s, "batch": batch, "forward_tflops": round(fwd_flops / t_fwd / 1e12, 1),
                             "backward_tflops": round(2.5 * fwd_flops / max(t_all - t_fwd, 1e-9) / 1e12, 1)})
            except Exception as e:  # a backend that does not support this shape or GPU
                rows.append({"head_dim": hd, "seq": s, "error": str(e)[:200]})
        out[name] = rows
    return out


class Block(torch.nn.Module):
    """A pre-LN GPT layer as eager frameworks write it: LN, QKV, SDPA, projection, LN, MLP (GELU)."""

    def __init__(self, h, heads):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = torch.nn.LayerNorm(h), torch.nn.LayerNorm(h)
        self.qkv, self.proj = torch.nn.Linear(h, 3 * h), torch.nn.Linear(h, h)
        self.fc1, self.fc2 = torch.nn.Linear(h, 4 * h), torch.nn.Linear(4 * h, h)

    def forward(self, x):
        b, s, h = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, h // self.heads).unbind(2)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), is_causal=True)
        x = x + F.dropout(self.proj(a.transpose(1, 2).reshape(b, s, h)), 0.1, self.training)
        return x + F.dropout(self.fc2(F.gelu(self.fc1(self.ln2(x)))), 0.1, self.training)


def host_costs():
    out = {}
    x = torch.zeros(1, device="cuda")
    torch.cuda.synchronize()
    n = 20000
    t0 = time.perf_counter()
    for _ in range(n):
        x.add_(1.0)
    t_cpu = time.perf_counter() - t0
    torch.cuda.synchronize()
    out["tiny_op_loop"] = {"ops": n, "host_us_per_op": round(1e6 * t_cpu / n, 2)}
    for h, layers, recompute in ((1024, 12, False), (1024, 12, True), (2048, 12, False)):
        model = torch.nn.Sequential(*[Block(h, 16) for _ in range(layers)]).cuda().to(torch.bfloat16)
        inp = torch.randn(1, 1024, h, device="cuda", dtype=torch.bfloat16, requires_grad=True)

        def step():
            y = inp
            for blk in model:
                y = torch.utils.checkpoint.checkpoint(blk, y, use_reentrant=False) if recompute else blk(y)
            y.float().pow(2).mean().backward()

        for _ in range(3):
            step()
        torch.cuda.synchronize()
        iters = 10
        t0 = time.perf_counter()
        for _ in range(iters):
            step()
        torch.cuda.synchronize()
        wall = (time.perf_counter() - t0) / iters
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            step()
            torch.cuda.synchronize()
        kernels = [e for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA]
        gpu_s = sum(getattr(e, "device_time_total", None) or getattr(e, "cuda_time_total", 0) for e in kernels) / 1e6
        out["gpt_layers_h%d%s" % (h, "_recompute" if recompute else "")] = {
            "hidden": h, "layers": layers, "seq": 1024, "micro_batch": 1, "wall_s_per_step": round(wall, 5),
            "kernels_per_step": len(kernels), "kernel_s_per_step": round(gpu_s, 5),
            "host_us_per_kernel": round(1e6 * wall / max(len(kernels), 1), 2),
            "kernels_per_layer": round(len(kernels) / layers, 1)}
        del model, inp
    return out


def gemm_yaml(hardware_id, result):
    """The bf16 grid in data/gemm/'s format."""
    source = ("tools/device/measure_nvidia.py on %s, torch %s, CUDA %s, %s: torch.mm on random bf16 data, "
              "median of 5 CUDA-event timings, %s" % (result["gpu"], result["torch"], result["cuda"], result["date"],
                                                      result["gemm_timing"]))
    lines = ["# Measured bf16 GEMM throughput by shape (tools/device/measure_nvidia.py).",
             "id: %s" % hardware_id, "source: \"%s\"" % source, "clock: burst", "shapes:", "  bf16:"]
    lines += ["    - [%d, %d, %d, %.1f]" % (m, n, k, tf) for m, n, k, tf in result["gemm_bf16"]]
    return "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--id", required=True, help="catalog hardware id the figures are for")
    p.add_argument("--quick", action="store_true", help="a smaller grid and a 10 s sustain, to check the script")
    p.add_argument("--parts", default="gemm_bf16,gemm_fp8,fp8_accumulation,hbm,attention,output_layer,host,sustained_bf16",
                   help="which parts to run, comma-separated")
    p.add_argument("--eager-gemms", action="store_true", help="time GEMMs with eager launches, not CUDA graphs")
    args = p.parse_args()
    global GRAPHS
    GRAPHS = not args.eager_gemms
    check_hardware_id("measure_nvidia.py", args.id, torch.cuda.get_device_name(0))
    os.makedirs(args.out, exist_ok=True)
    sizes = SIZES[:3] if args.quick else SIZES
    result = {"id": args.id, "date": datetime.date.today().isoformat(), "torch": torch.__version__,
              "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
              "gpu": torch.cuda.get_device_name(0), "sm_count": torch.cuda.get_device_properties(0).multi_processor_count,
              "nvml_at_start": nvml_state()}
    result["gemm_bf16_state"], result["gemm_fp8_state"] = [], []  # [m, n, k, SM MHz, W] after each shape
    parts = [("gemm_bf16", lambda: gemm_grid("bf16", sizes, result["gemm_bf16_state"])),
             ("gemm_fp8", lambda: gemm_grid("fp8", sizes, result["gemm_fp8_state"])),
             ("fp8_accumulation", fp8_accumulation),
             ("hbm", hbm), ("attention", lambda: attention((512, 1024, 2048, 4096, 8192, 16384))),
             ("output_layer", output_layer), ("host", host_costs), ("sustained_bf16", lambda: sustained(10.0 if args.quick else SUSTAIN_S))]
    wanted = set(args.parts.split(","))
    unknown = wanted - {name for name, _ in parts}
    if unknown:
        raise SystemExit("measure_nvidia.py: --parts: unknown %s (expected some of %s)"
                         % (", ".join(sorted(unknown)), ", ".join(name for name, _ in parts)))
    result["gemm_timing"] = "CUDA graphs of repeated calls" if GRAPHS else "eager launches"
    # Each file is written whole after each part (a temporary file, then renamed): a run killed by
    # its time limit keeps every part it finished, and no file is left cut off mid-write.
    for name, fn in [(n, f) for n, f in parts if n in wanted]:
        t0 = time.time()
        try:
            result[name] = fn()
            log(args.out, "%s done in %.1f s" % (name, time.time() - t0))
        except Exception as e:  # keep what was measured; a later part may still run
            result[name] = {"error": repr(e)[:500]}
            log(args.out, "%s FAILED after %.1f s: %r" % (name, time.time() - t0, e))
        if name == "output_layer" and isinstance(result["output_layer"], list):
            result["gemm_odd_width_slowdown"] = odd_width_slowdown(result["output_layer"])
            result["gemm_unaligned_width_slowdown"] = unaligned_width_slowdown(result["output_layer"])
        write_text(os.path.join(args.out, "measurements.json"), json.dumps(result, indent=1))
        if name == "gemm_bf16" and isinstance(result["gemm_bf16"], list):
            write_text(os.path.join(args.out, "gemm-%s.yaml" % args.id), gemm_yaml(args.id, result))


if __name__ == "__main__":
    main()
