#!/usr/bin/env python3
"""Replays a zero-bubble pipeline schedule with 1F1B's memory (ZB-H1) and prints its bubble.

A check of the step model's ZB-H1 bubble (cost/step_time.cc, StepModel::Bubble), not part of the
model. Each micro-batch's backward is split into B (input gradients, which the previous stage
waits for) and W (weight gradients, which nothing waits for). Each stage runs one pass at a time,
as soon as one is ready: a B first, then an F, then a W; a stage holds at most p - s forwards
whose backward has not run (1F1B's activation memory, the "H1" of Qi et al. 2023); an F waits for
the previous stage's F of that micro-batch, a B for the next stage's B (the last stage's for its
own F), a W for its own B. No transfer time.

Qi et al. give the bubble (p - 1)(F + B - W) for enough micro-batches; with fewer than p there are
too few W to fill the idle slots. The step model uses (p - 1)(F + B + W) - (p - 1 + min(p - 1,
m - 1)) W: one W per stage boundary that the backward chain no longer waits for, one per boundary
moved into an idle slot, as many as there are micro-batches after the first. Up to m = p and with
W <= min(F, B), the replay gives exactly that at whole-number ratios of F, B and W and is within
6% of the step it gives elsewhere (tests/tools/zb_schedule_test.py), where Qi et al.'s is off by
up to 40%; beyond m = p the two formulas agree.

Usage: zb_schedule.py STAGES MICRO_BATCHES F B W
Standard library only.
"""

import sys


def makespan(stages, micro_batches, f, b, w):
    """The replayed schedule's length."""
    free = [0.0] * stages
    done = {}  # (kind, stage, micro-batch) -> end time
    count = {kind: [0] * stages for kind in "FBW"}

    def ready(kind, s, j):
        """When pass `kind` of micro-batch j may start on stage s, or None."""
        if kind == "F":
            if count["F"][s] - count["B"][s] >= stages - s:
                return None
            return 0.0 if s == 0 else done.get(("F", s - 1, j))
        if kind == "B":
            if j >= count["F"][s]:
                return None
            return done.get(("F", s, j)) if s == stages - 1 else done.get(("B", s + 1, j))
        return done.get(("B", s, j))

    left = 3 * stages * micro_batches
    while left:
        best = None
        for s in range(stages):
            for rank, kind in enumerate("BFW"):
                j = count[kind][s]
                at = ready(kind, s, j) if j < micro_batches else None
                if at is None:
                    continue
                key = (max(free[s], at), rank, s)
                if best is None or key < best[0]:
                    best = (key, kind, s, j)
        (start, _, _), kind, s, j = best
        end = start + {"F": f, "B": b, "W": w}[kind]
        free[s] = end
        done[(kind, s, j)] = end
        count[kind][s] += 1
        left -= 1
    return max(free)


def model_bubble(stages, micro_batches, f, b, w):
    """The step model's ZB-H1 bubble for equal stages."""
    moved = min(stages - 1, micro_batches - 1)
    return (stages - 1) * (f + b + w) - (stages - 1 + moved) * w


def main(argv):
    if len(argv) != 6:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    p, m = int(argv[1]), int(argv[2])
    f, b, w = (float(x) for x in argv[3:6])
    bubble = makespan(p, m, f, b, w) - m * (f + b + w)
    print(f"replayed bubble {bubble:.6g}, model {model_bubble(p, m, f, b, w):.6g}, "
          f"Qi et al. (p - 1)(F + B - W) {(p - 1) * (f + b - w):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
