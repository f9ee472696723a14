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
form for unequal stages (M times the slowest stage, plus the other stages' F + B less the
slowest stage's W moved into min(p - 1, m - 1) idle slots), then prints how far that form is
from the replay on as many other such pipelines. The greedy replay re-orders its passes as
their times change, so it can get longer (a list-scheduling anomaly; a schedule whose order is
fixed cannot); the model's form cannot, every pass time entering it with a sign that keeps it so.

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
    """The step model's ZB-H1 step for per-stage pass times (StepModel::Bubble and
    StepModel::Slowness): for each stage, M times its total plus its bubble, the other stages'
    F + B less its own W moved into min(p - 1, m - 1) idle slots; the step is the largest of
    these (the slowest stage is the one whose M passes and bubble take longest)."""
    fb = [f[s] + b[s] for s in range(stages)]
    moved = min(stages - 1, micro_batches - 1)

    def step_with(s):
        bubble = max(0.0, sum(fb) - fb[s] - moved * w[s])
        return micro_batches * (fb[s] + w[s]) + bubble

    return max(step_with(s) for s in range(stages))


def accuracy(trials, seed=2):
    """The model's step against the replay's on random unequal pipelines (drawn as in
    monotonicity): mean and largest |model / replay - 1|."""
    rng = random.Random(seed)
    errors = []
    for _ in range(trials):
        p, m, f, b, w = random_pipeline(rng)
        replay = makespan(p, m, f, b, w)
        errors.append(abs(model_step(p, m, f, b, w) / replay - 1))
    return sum(errors) / len(errors), max(errors)


def random_pipeline(rng):
    """Stages, micro-batches and per-stage F, B, W: a common set scaled by up to 2 on a quarter of
    the stages, W <= min(F, B)."""
    p, m = rng.choice((2, 4, 8)), rng.choice((1, 2, 3, 4, 8, 16))
    base = [rng.uniform(0.5, 2.0) for _ in range(3)]
    f, b, w = [], [], []
    for _ in range(p):
        k = rng.choice((1.0, 1.0, 1.0, rng.uniform(0.5, 2.0)))
        f.append(base[0] * k)
        b.append(base[1] * k)
        w.append(min(base[2] * k, f[-1], b[-1]))
    return p, m, f, b, w


def monotonicity(trials, seed=1):
    """Shortens passes of random unequal pipelines; returns, for the replay and for the model's
    form, how many got longer and the largest relative lengthening."""
    rng = random.Random(seed)
    found = {"replay": [0, 0.0], "model": [0, 0.0]}
    for _ in range(trials):
        p, m, f, b, w = random_pipeline(rng)
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
        mean, worst = accuracy(trials)
        print(f"model against the replay on {trials} other pipelines: mean |error| {100 * mean:.2f}%, "
              f"worst {100 * worst:.2f}%")
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
