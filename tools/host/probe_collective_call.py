#!/usr/bin/env python3
"""Where the host time of one tensor-parallel all-reduce goes, on a GPU host with one GPU.

measure_eager_host.py finds that an all-reduce called inside Megatron's layer costs the host several
times what the same call costs in a bare loop (2026-12-04, H200 host: about 100 us inside the call in
the layer, 15-20 us in the loop). This probe times the call, on the same one-rank NCCL communicator,
in the settings that tell those two apart, one at a time:

  bare_same        the same tensor, called in a loop from the main thread (the tool's bare loop)
  bare_fresh       a new tensor each call (the layer's outputs are new tensors)
  backward_same    the same tensor, called from an autograd Function's backward (the autograd
                   engine's device thread, where Megatron's backward all-reduces run)
  backward_fresh   a new tensor each call, from the backward
  deep_stack       the same tensor, 40 Python frames down (the layer's calls are deep)
  nccl_direct      torch.cuda.nccl.all_reduce on the same tensor: NCCL alone, without c10d
  layer_forward    inside the layer at TP 2, its forward without autograd (main thread)
  layer_backward   inside the layer at TP 2, a checkpointed layer's backward (the engine's thread)
  attribution      where the layer's added time goes, op by op: torch.profiler over the checkpointed
                   layer at TP 1 and at TP 2 (same rounds, same inputs), each op's self CPU time
                   and count at TP 2 less TP 1, per collective call (c10d's ops, the CUDA runtime
                   calls such as cudaEventRecord and cudaStreamWaitEvent, and whatever other op
                   the calls slow down), beside the same profile of the bare loop's calls

Each case is the median (and the fastest) over its calls of the host time inside the call. It runs
itself once per environment (PyTorch's defaults; c10d's flight recorder off; record-streams on and
off) in a child process each, since c10d reads those variables once; the attribution, the slowest
case, in the first two only (ATTRIBUTION_ENVIRONMENTS). OUT.json is written after each child, so a
run cut short keeps what it finished.

    python3 tools/host/probe_collective_call.py OUT.json      (a GPU host; about a minute)
    python3 tools/host/probe_collective_call.py OUT.json --device cpu --quick
                                    (a check of this script: one-rank gloo, whose calls are not NCCL's)

Nothing here feeds the catalog by itself: it says which of the tool's settings the in-layer figure
depends on.
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

ENVIRONMENTS = {
    "default": {},
    "flight_recorder_off": {"TORCH_FR_BUFFER_SIZE": "0", "TORCH_NCCL_TRACE_BUFFER_SIZE": "0"},
    "record_streams": {"TORCH_NCCL_AVOID_RECORD_STREAMS": "0"},
    "avoid_record_streams": {"TORCH_NCCL_AVOID_RECORD_STREAMS": "1"},
    # The defaults again, last: the first child of the 2026-12-04 run read a bare call 8 us dearer
    # than every later child with the recorder on, so a first-run effect is told from a setting's.
    "default_again": {},
}
CALLS = 2000
# Layer rounds per TP degree in the attribution case (8 rounds: 384 calls at TP 2), and ops listed
# (largest per-call change first). Each profile of 8 rounds holds about 50,000 op events on a CPU,
# whose stop and averaging take seconds; the environments it runs in.
ATTRIBUTION_ROUNDS = 8
ATTRIBUTION_OPS = 25
ATTRIBUTION_ENVIRONMENTS = ("default", "flight_recorder_off")


def summary(seconds):
    seconds = sorted(seconds)
    return {"calls": len(seconds), "median_us": round(statistics.median(seconds) * 1e6, 2),
            "fastest_us": round(seconds[0] * 1e6, 2),
            "p90_us": round(seconds[int(0.9 * (len(seconds) - 1))] * 1e6, 2)}


def timed_calls(call, n=None):
    out = []
    for _ in range(CALLS if n is None else n):  # CALLS as set when called (--quick lowers it)
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def child(device, quick, attribute):
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import megatron_layer
    from megatron_layer import Model, use_device
    from measure_eager_host import set_up_torchscript

    global CALLS, ATTRIBUTION_ROUNDS
    if quick:
        CALLS, ATTRIBUTION_ROUNDS = 200, 2
    gpu = device == "cuda"
    torch.set_num_threads(1)  # as the host tool runs
    set_up_torchscript()
    if gpu:
        torch.cuda.set_device(0)
    torch.distributed.init_process_group("nccl" if gpu else "gloo", store=torch.distributed.HashStore(),
                                         rank=0, world_size=1)
    group = torch.distributed.group.WORLD
    use_device(device, group)
    dtype = torch.float16 if gpu else torch.float32
    x = torch.zeros(4, 1, 32, device=device, dtype=dtype)
    results = {}

    def sync():
        if gpu:
            torch.cuda.synchronize()

    def case(name, fn):
        try:
            sync()
            results[name] = fn()
            sync()
        except Exception as e:  # one case failing leaves the others
            results[name] = {"error": "%s: %s" % (type(e).__name__, e)}

    def bare_same():
        for _ in range(50):
            torch.distributed.all_reduce(x, group=group)
        return summary(timed_calls(lambda: torch.distributed.all_reduce(x, group=group)))

    def bare_fresh():
        times = []
        for _ in range(CALLS):
            y = x + 1
            t = time.perf_counter()
            torch.distributed.all_reduce(y, group=group)
            times.append(time.perf_counter() - t)
            del y
        return summary(times)

    def in_backward(fresh):
        times = []

        class Reduce(torch.autograd.Function):
            @staticmethod
            def forward(ctx, a):
                return a.clone()

            @staticmethod
            def backward(ctx, g):
                target = g + 0 if fresh else x
                t = time.perf_counter()
                torch.distributed.all_reduce(target, group=group)
                times.append(time.perf_counter() - t)
                return g

        a = torch.zeros(4, 1, 32, device=device, dtype=dtype, requires_grad=True)
        for _ in range(CALLS // 20 + 3):
            h = a
            for _ in range(20):
                h = Reduce.apply(h)
            h.sum().backward()
        return summary(times[60:])

    def deep_stack():
        def down(n):
            if n:
                return down(n - 1)
            return timed_calls(lambda: torch.distributed.all_reduce(x, group=group))
        return summary(down(40))

    def nccl_direct():
        for _ in range(50):
            torch.cuda.nccl.all_reduce([x])
        return summary(timed_calls(lambda: torch.cuda.nccl.all_reduce([x])))

    def layer_model():
        torch.manual_seed(0)
        model = Model(32, 16, 8, 64, 4, megatron_layer.deepspeed_checkpoint, True).to(device=device, dtype=dtype)
        mask = torch.ones(1, 1, 4, 4, dtype=torch.bool, device=device).triu(1)
        x0 = torch.randn(4, 1, 32, device=device, dtype=dtype)
        return model, mask, x0

    def in_layer():
        model, mask, x0 = layer_model()
        by_thread = {"forward": [], "backward": []}
        main = threading.get_ident()
        real = torch.distributed.all_reduce

        def clocked(t, *args, **kwargs):
            s = time.perf_counter()
            real(t, *args, **kwargs)
            by_thread["forward" if threading.get_ident() == main else "backward"].append(time.perf_counter() - s)
        torch.distributed.all_reduce = clocked
        megatron_layer._WORLD["tp"] = 2
        try:
            for _ in range(max(6, CALLS // 33)):
                model.run_layers(x0.clone().requires_grad_(True), mask, checkpointed=True).sum().backward()
        finally:
            torch.distributed.all_reduce = real
            megatron_layer._WORLD["tp"] = 1
        # The first rounds warm up; on a CPU the backward runs on the main thread (all "forward").
        out = {}
        for name, skip in (("forward", 80), ("backward", 160)):
            if by_thread[name]:
                out["layer_" + name] = summary(by_thread[name][skip:] or by_thread[name])
        return out

    def profiled(fn, rounds):
        """Each op's (count, self CPU seconds) over `rounds` calls of fn, and the wall seconds."""
        from torch.profiler import ProfilerActivity, profile
        activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            for _ in range(rounds):
                fn()
            sync()
            wall = time.perf_counter() - start
        ops = {e.key: (e.count, e.self_cpu_time_total * 1e-6) for e in prof.key_averages()}
        return ops, wall

    def attribution():
        model, mask, x0 = layer_model()
        calls = [0]
        real = torch.distributed.all_reduce

        def counted(t, *args, **kwargs):
            calls[0] += 1
            return real(t, *args, **kwargs)

        def layer_round():
            model.run_layers(x0.clone().requires_grad_(True), mask, checkpointed=True).sum().backward()

        def at(tp, rounds=ATTRIBUTION_ROUNDS):
            megatron_layer._WORLD["tp"] = tp
            for _ in range(3):  # warm-up at this degree (TorchScript's profiling runs, the allocator)
                layer_round()
            sync()
            calls[0] = 0
            ops, wall = profiled(layer_round, rounds)
            return ops, wall, calls[0]

        torch.distributed.all_reduce = counted
        try:
            at(2, 1)  # both degrees warm, and the profiler's own start-up paid, before either is profiled
            one, wall_one, _ = at(1)
            two, wall_two, n = at(2)
        finally:
            torch.distributed.all_reduce = real
            megatron_layer._WORLD["tp"] = 1
        if n == 0:
            raise RuntimeError("the layer at TP 2 made no collective call")
        per_call = {}
        for key in set(one) | set(two):
            c1, s1 = one.get(key, (0, 0.0))
            c2, s2 = two.get(key, (0, 0.0))
            per_call[key] = ((c2 - c1) / n, (s2 - s1) / n)
        ranked = sorted(per_call.items(), key=lambda kv: -abs(kv[1][1]))[:ATTRIBUTION_OPS]
        # Ops whose count changes by other than whole calls' worth (c2 - c1 not a multiple of the
        # rounds): the two degrees did not run the same ops otherwise (TorchScript re-specialising,
        # a thread outside the layer such as NCCL's watchdog), so their time is not the calls' alone.
        uneven = sorted(k for k, (c, _) in per_call.items()
                        if abs(c * n / ATTRIBUTION_ROUNDS - round(c * n / ATTRIBUTION_ROUNDS)) > 1e-9)
        for _ in range(50):
            real(x, group=group)
        bare, bare_wall = profiled(lambda: real(x, group=group), CALLS)
        bare_ranked = sorted(bare.items(), key=lambda kv: -kv[1][1])[:ATTRIBUTION_OPS]
        return {
            "rounds": ATTRIBUTION_ROUNDS, "calls_at_tp2": n,
            "wall_per_round_us": {"tp1": round(1e6 * wall_one / ATTRIBUTION_ROUNDS, 1),
                                  "tp2": round(1e6 * wall_two / ATTRIBUTION_ROUNDS, 1)},
            "wall_per_call_us": round(1e6 * (wall_two - wall_one) / n, 2),
            "note": "profiled (each op pays the profiler's own cost); ops: [name, count per call, self CPU us per call], "
                    "TP 2 less TP 1 per collective call, then the bare loop's per call",
            "layer_ops": [[k, round(c, 3), round(1e6 * t, 2)] for k, (c, t) in ranked],
            "ops_whose_count_is_not_per_round": uneven[:ATTRIBUTION_OPS],
            "bare_wall_per_call_us": round(1e6 * bare_wall / CALLS, 2),
            "bare_ops": [[k, round(c / CALLS, 3), round(1e6 * t / CALLS, 2)] for k, (c, t) in bare_ranked],
        }

    case("bare_same", bare_same)
    case("bare_fresh", bare_fresh)
    case("backward_same", lambda: in_backward(False))
    case("backward_fresh", lambda: in_backward(True))
    case("deep_stack", deep_stack)
    if gpu:
        case("nccl_direct", nccl_direct)
    case("layer", in_layer)
    if attribute:
        case("attribution", attribution)
    if isinstance(results.get("layer"), dict) and "layer_forward" in results["layer"]:
        results.update(results.pop("layer"))
    results["torch"] = torch.__version__
    if gpu:
        nccl = torch.cuda.nccl.version()
        results["nccl"] = ".".join(str(v) for v in nccl) if isinstance(nccl, tuple) else str(nccl)
    results["device"] = device
    print(json.dumps(results))
    megatron_layer._WORLD["group"] = None
    torch.distributed.destroy_process_group()


def main():
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="the JSON file to write (or, with --child, the device)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--quick", action="store_true", help="fewer calls and rounds, one environment: a check")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--attribute", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.device, args.quick, args.attribute)
        return
    out = {}
    environments = {"default": {}} if args.quick else ENVIRONMENTS
    for name, env in environments.items():
        started = time.time()
        cmd = [sys.executable, os.path.abspath(__file__), "-", "--child", "--device", args.device]
        cmd += ["--quick"] if args.quick else []
        cmd += ["--attribute"] if name in ATTRIBUTION_ENVIRONMENTS else []
        try:
            proc = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, timeout=180)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
            out[name] = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
        except subprocess.TimeoutExpired:
            out[name] = {"error": "the child ran past 180 s"}
        out[name]["env"] = env
        out[name]["wall_s"] = round(time.time() - started, 1)
        print(name, json.dumps(out[name]), flush=True)
        # Written after each child: a run cut short (run_all.sh's part limit) keeps what it finished.
        with open(args.out + ".part", "w") as f:
            json.dump(out, f, indent=1)
        os.replace(args.out + ".part", args.out)
    failed = [name for name, r in out.items() if "error" in r or any(
        isinstance(v, dict) and "error" in v for v in r.values())]
    if failed:
        sys.exit("probe_collective_call.py: cases failed in %s (see %s)" % (", ".join(failed), args.out))


if __name__ == "__main__":
    main()
