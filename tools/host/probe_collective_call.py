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

Each case is the median (and the fastest) over its calls of the host time inside the call. It runs
itself once per environment (PyTorch's defaults; c10d's flight recorder off; record-streams on and
off) in a child process each, since c10d reads those variables once.

    python3 tools/host/probe_collective_call.py OUT.json      (a GPU host; about a minute)

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


def summary(seconds):
    seconds = sorted(seconds)
    return {"calls": len(seconds), "median_us": round(statistics.median(seconds) * 1e6, 2),
            "fastest_us": round(seconds[0] * 1e6, 2),
            "p90_us": round(seconds[int(0.9 * (len(seconds) - 1))] * 1e6, 2)}


def timed_calls(call, n=CALLS):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append(time.perf_counter() - t)
    return out


def child():
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import megatron_layer
    from megatron_layer import Model, use_device
    from measure_eager_host import set_up_torchscript

    torch.set_num_threads(1)  # as the host tool runs
    set_up_torchscript()
    torch.cuda.set_device(0)
    torch.distributed.init_process_group("nccl", store=torch.distributed.HashStore(), rank=0, world_size=1)
    group = torch.distributed.group.WORLD
    use_device("cuda", group)
    x = torch.zeros(4, 1, 32, device="cuda", dtype=torch.float16)
    results = {}

    def case(name, fn):
        try:
            torch.cuda.synchronize()
            results[name] = fn()
            torch.cuda.synchronize()
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

        a = torch.zeros(4, 1, 32, device="cuda", dtype=torch.float16, requires_grad=True)
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

    def in_layer():
        torch.manual_seed(0)
        model = Model(32, 16, 8, 64, 4, megatron_layer.deepspeed_checkpoint, True).to(device="cuda", dtype=torch.float16)
        mask = torch.ones(1, 1, 4, 4, dtype=torch.bool, device="cuda").triu(1)
        x0 = torch.randn(4, 1, 32, device="cuda", dtype=torch.float16)
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
            for _ in range(60):
                model.run_layers(x0.clone().requires_grad_(True), mask, checkpointed=True).sum().backward()
        finally:
            torch.distributed.all_reduce = real
            megatron_layer._WORLD["tp"] = 1
        return {"layer_forward": summary(by_thread["forward"][80:]),
                "layer_backward": summary(by_thread["backward"][160:])}

    case("bare_same", bare_same)
    case("bare_fresh", bare_fresh)
    case("backward_same", lambda: in_backward(False))
    case("backward_fresh", lambda: in_backward(True))
    case("deep_stack", deep_stack)
    case("nccl_direct", nccl_direct)
    case("layer", in_layer)
    if isinstance(results.get("layer"), dict) and "layer_forward" in results["layer"]:
        results.update(results.pop("layer"))
    results["torch"] = torch.__version__
    results["nccl"] = ".".join(str(v) for v in torch.cuda.nccl.version())
    print(json.dumps(results))
    megatron_layer._WORLD["group"] = None
    torch.distributed.destroy_process_group()


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--child":
        child()
        return
    if len(sys.argv) != 2:
        sys.exit("usage: probe_collective_call.py OUT.json")
    out = {}
    for name, env in ENVIRONMENTS.items():
        started = time.time()
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"],
                              env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        out[name] = json.loads(lines[-1]) if lines else {"error": proc.stderr[-2000:]}
        out[name]["env"] = env
        out[name]["wall_s"] = round(time.time() - started, 1)
        print(name, json.dumps(out[name]), flush=True)
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
