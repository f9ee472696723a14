#!/usr/bin/env python3
"""tools/data/deepspeed_schedule.py: DeepSpeed's pipeline order takes exactly 1F1B's time.

Over a grid of stages, micro-batches and forward/backward times (full recompute makes B = 3F),
the replayed makespan equals (m + p - 1)(F + B); a lockstep order (every step waiting for the
slowest stage) would not, so the replay can tell them apart. Standard library only.
"""

import importlib.util
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "data" / "deepspeed_schedule.py"
spec = importlib.util.spec_from_file_location("deepspeed_schedule", SCRIPT)
ds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ds)


def lockstep(stages, micro_batches, f, b):
    total = 0.0
    for step in range(2 * (micro_batches + stages - 1)):
        works = []
        for s in range(stages):
            mb, forward = ds.micro_batch_at(step, s, stages)
            works.append((f if forward else b) if 0 <= mb < micro_batches else 0.0)
        total += max(works)
    return total


def main():
    failures = 0
    for p in (1, 2, 3, 4, 8, 16):
        for m in (1, 2, 4, 7, 32):
            for f, b in ((1.0, 2.0), (1.0, 3.0), (2.0, 2.0)):
                got, want = ds.makespan(p, m, f, b), ds.one_f_one_b(p, m, f, b)
                if abs(got - want) > 1e-9 * want:
                    print(f"p={p} m={m} F={f} B={b}: replay {got}, 1F1B {want}")
                    failures += 1
    if not lockstep(4, 8, 1.0, 3.0) > ds.one_f_one_b(4, 8, 1.0, 3.0):
        print("a lockstep order should take longer than 1F1B")
        failures += 1
    out = subprocess.run([sys.executable, str(SCRIPT), "16", "32", "1", "3"], capture_output=True, text=True)
    if out.returncode != 0 or out.stdout.split() != ["deepspeed", "188", "1f1b", "188"]:
        print(f"command line: rc {out.returncode}, {out.stdout!r}")
        failures += 1
    print("ok" if failures == 0 else f"{failures} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
