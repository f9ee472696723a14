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

With --monotonicity [TRIALS] it asks whether shorter passes can give a longer step: on random
pipelines whose stages differ (each stage's F, B and W a common set scaled by up to 2, W <=
min(F, B)), it shortens the passes of a random half of the stages (W to 30-100%, F and B to
70-100%) and counts the cases where the step gets longer, in the replay and in the step model's
form for unequal stages (M times the slowest stage, plus the other stages' sum scaled by the
slowest stage's share of work outside the credited W). The greedy replay re-orders its passes as
their times change, so it can get longer (a list-scheduling anomaly; a schedule whose order is
fixed cannot); the model's form then stands beside it.

Usage: zb_schedule.py STAGES MICRO_BATCHES F B W
       zb_schedule.py --monotonicity [TRIALS]
Standard library only.
"""

import random
import sys


def per_stage(x, stages):
    """A pass time for every stage: `x` itself when it is a list, else `x` on each stage."""
    return list(x) if isinstance(x, (list, tuple)) else [x] * stages


def makespan(stages, micro_batches, f, b, w):
    """The replayed schedule's length; f, b and w are times, or lists of them per stage."""
    times = {"F": per_stage(f, stages), "B": per_stage(b, stages), "W": per_stage(w, stages)}
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
        end = start + times[kind][s]
        free[s] = end
        done[(kind, s, j)] = end
        count[kind][s] += 1
        left -= 1
    return max(free)


def model_bubble(stages, micro_batches, f, b, w):
    """The step model's ZB-H1 bubble for equal stages."""
    moved = min(stages - 1, micro_batches - 1)
    return (stages - 1) * (f + b + w) - (stages - 1 + moved) * w


def model_step(stages, micro_batches, f, b, w):
    """The step model's ZB-H1 step for per-stage pass times (StepModel::Bubble): M times the
    slowest stage's total, plus the other stages' sum scaled by the share of the slowest stage's
    time that its credited weight gradients do not cover."""
    totals = [f[s] + b[s] + w[s] for s in range(stages)]
    slowest = max(range(stages), key=lambda s: totals[s])
    total, others = totals[slowest], sum(totals) - totals[slowest]
    moved = min(1.0, max(0.0, (micro_batches - 1) / (stages - 1))) if stages > 1 else 0.0
    return micro_batches * total + others * max(0.0, total - (1 + moved) * w[slowest]) / total


def monotonicity(trials, seed=1):
    """Shortens passes of random unequal pipelines; returns, for the replay and for the model's
    form, how many got longer and the largest relative lengthening."""
    rng = random.Random(seed)
    found = {"replay": [0, 0.0], "model": [0, 0.0]}
    for _ in range(trials):
        p, m = rng.choice((2, 4, 8)), rng.choice((1, 2, 3, 4, 8, 16))
        base = [rng.uniform(0.5, 2.0) for _ in range(3)]
        f, b, w = [], [], []
        for _ in range(p):
            k = rng.choice((1.0, 1.0, 1.0, rng.uniform(0.5, 2.0)))
            f.append(base[0] * k)
            b.append(base[1] * k)
            w.append(min(base[2] * k, f[-1], b[-1]))
        f2, b2, w2 = list(f), list(b), list(w)
        for s in range(p):
            if rng.random() < 0.5:
                w2[s] *= rng.uniform(0.3, 1.0)
                b2[s] *= rng.uniform(0.7, 1.0)
                f2[s] *= rng.uniform(0.7, 1.0)
        for name, step in (("replay", makespan), ("model", model_step)):
            before, after = step(p, m, f, b, w), step(p, m, f2, b2, w2)
            if after > before * (1 + 1e-9):
                found[name][0] += 1
                found[name][1] = max(found[name][1], after / before - 1)
    return found


def main(argv):
    if len(argv) >= 2 and argv[1] == "--monotonicity":
        trials = int(argv[2]) if len(argv) > 2 else 3000
        for name, (count, worst) in monotonicity(trials).items():
            print(f"{name}: {count} of {trials} longer after shorter passes, worst +{100 * worst:.2f}%")
        return 0
    if len(argv) != 6:
        print("\n".join(__doc__.strip().splitlines()[-3:-1]), file=sys.stderr)
        return 2
    p, m = int(argv[1]), int(argv[2])
    f, b, w = (float(x) for x in argv[3:6])
    bubble = makespan(p, m, f, b, w) - m * (f + b + w)
    print(f"replayed bubble {bubble:.6g}, model {model_bubble(p, m, f, b, w):.6g}, "
          f"Qi et al. (p - 1)(F + B - W) {(p - 1) * (f + b - w):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
