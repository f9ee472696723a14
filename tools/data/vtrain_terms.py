#!/usr/bin/env python3
"""Separate the vTrain single-node step times into per-micro-batch and per-step terms.

Usage:
  build/release/bin/preflight validate data/validation/vtrain-single.yaml --json \\
    | tools/data/vtrain_terms.py [--by-dp | --stages | --linearity | --cells]

A diagnosis, nothing in the model reads it. Within each group of rows with one hidden size, TP
degree and micro-batch (PP 1; with --by-dp also one DP degree), a least-squares fit of

  step_ms = n * a + n * L * b + c + L * d      (n micro-batches per pipeline, L layers)

splits each step into the time per micro-batch outside the layers (a), per layer and micro-batch
(b), per step (c) and per layer and step (d: the optimizer and the gradient reduction of one
layer's parameters), for the measurements and for preflight's predictions alike. The run names
carry the configuration (vtrain-single-NNNN-h<hidden>-l<layers>-<g>gpu-tp<t>-pp<p>-dp<d>-mb<m>-gb<b>).

With --stages the fit takes every PP degree: within each group of one hidden size, TP degree and
micro-batch,

  step_ms = n * a1 + n * (L / p) * b + c[L, p, d]   at PP 1       (p pipeline stages,
  step_ms = n * a2 + n * (L / p) * b + c[L, p, d]   at PP 2 and 4  d data-parallel ranks)

with one constant per layout (its fill and drain, optimizer and gradient reduction). Under 1F1B a
step grows by the slowest stage's time with each micro-batch, so b is the time per layer and
micro-batch, a1 what a step adds per micro-batch around the layers at PP 1 (embedding, output
layer, loss, input path), and a2 what the slowest stage adds outside its layers at PP 2 and 4 (the
last stage's output layer, loss and input path, in the model). A group without PP 2 or 4 layouts
prints no a2; one whose layouts each have a single n (micro-batch 8) cannot be separated and is
left out.

With --linearity it tests the measurements themselves: within each layout (hidden, layers, TP, PP,
DP, micro-batch) with three or more micro-batch counts, the largest distance of a step time from
the straight line through them in n; and, per layout at DP 2, 4 or 8, how much its difference from
the same layout at DP 1 varies over n. Timed steps scatter; composed ones need not.

With --cells it prints the errors themselves by TP degree, micro-batch and hidden size (every PP
and DP degree): rows, MAPE, mean signed error (below 0: predicted fast) and the cell's share of the
summed absolute error. Cells of one TP degree and micro-batch that differ in sign or size between
the two hidden sizes, where the host sets the pace of both, show what no host model can follow.

Python 3 standard library only.
"""

import json
import re
import sys
from collections import defaultdict

NAME = re.compile(r"vtrain-single-\d+-h(\d+)-l(\d+)-\d+gpu-tp(\d+)-pp(\d+)-dp(\d+)-mb(\d+)-gb(\d+)$")
TERMS = ("a: per micro-batch", "b: per layer, micro-batch", "c: per step", "d: per layer, step")


def solve(rows, values):
    """Least squares by the normal equations (Gauss-Jordan); None when the terms are not separable."""
    n = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) for j in range(n)] for i in range(n)]
    y = [sum(r[i] * v for r, v in zip(rows, values)) for i in range(n)]
    for i in range(n):
        pivot = max(range(i, n), key=lambda k: abs(a[k][i]))
        a[i], a[pivot] = a[pivot], a[i]
        y[i], y[pivot] = y[pivot], y[i]
        if abs(a[i][i]) < 1e-9:
            return None
        for k in range(n):
            if k != i:
                f = a[k][i] / a[i][i]
                a[k] = [x - f * z for x, z in zip(a[k], a[i])]
                y[k] -= f * y[i]
    return [y[i] / a[i][i] for i in range(n)]


def parsed(runs):
    """(hidden, layers, tp, pp, dp, mb, micro-batches, measured ms, predicted ms) of each vTrain step row."""
    for run in runs:
        m = NAME.match(run["name"])
        if not m or run["metric"] != "step_time_s":
            continue
        h, layers, tp, pp, dp, mb, gb = (int(x) for x in m.groups())
        yield h, layers, tp, pp, dp, mb, gb / (dp * mb), run["measured"] * 1e3, run["predicted"] * 1e3


def stages(runs):
    """The --stages fit: per (hidden, TP, micro-batch), a1, a2 and b over every layout, one constant each."""
    groups = defaultdict(list)
    for h, layers, tp, pp, dp, mb, n, measured, predicted in parsed(runs):
        groups[(h, tp, mb)].append(((layers, pp, dp), n, layers / pp, measured, predicted))
    print("hidden tp mb  rows  layouts   a1: per micro-batch at PP 1   a2: the last stage's at PP 2-4"
          "   b: per layer, micro-batch   (ms, measured/predicted)")
    for key in sorted(groups):
        rows = groups[key]
        layouts = sorted({r[0] for r in rows})
        piped = any(layout[1] > 1 for layout in layouts)
        x = [[n if layout[1] == 1 else 0.0] + ([n if layout[1] > 1 else 0.0] if piped else []) +
             [n * per_stage] + [1.0 if layout == other else 0.0 for other in layouts]
             for layout, n, per_stage, _, _ in rows]
        measured = solve(x, [r[3] for r in rows])
        predicted = solve(x, [r[4] for r in rows])
        if measured is None or predicted is None:
            continue
        b = 2 if piped else 1
        a2 = f"{measured[1]:7.2f} / {predicted[1]:7.2f}" if piped else f"{'—':>17}"
        label = " ".join(str(k) for k in key)
        print(f"{label:>12}  {len(rows):4d}  {len(layouts):7d}   {measured[0]:7.2f} / {predicted[0]:7.2f}"
              f"           {a2}              {measured[b]:7.2f} / {predicted[b]:7.2f}")
    return 0


def linearity(runs):
    """The --linearity check: residuals of each layout's measured steps from a line in n, and the
    spread over n of each DP > 1 layout's difference from its DP-1 twin (ms)."""
    layouts, by_n = defaultdict(list), defaultdict(dict)
    for h, layers, tp, pp, dp, mb, n, measured, _ in parsed(runs):
        layouts[(h, layers, tp, pp, dp, mb)].append((n, measured))
        by_n[(h, layers, tp, pp, mb, n)][dp] = measured
    residuals = []
    for points in layouts.values():
        if len({n for n, _ in points}) < 3:
            continue
        slope, intercept = solve([[n, 1.0] for n, _ in points], [y for _, y in points])
        residuals.append(max(abs(y - slope * n - intercept) for n, y in points))
    differences = defaultdict(list)
    for (h, layers, tp, pp, mb, _), steps in by_n.items():
        for dp, step in steps.items():
            if dp > 1 and 1 in steps:
                differences[(h, layers, tp, pp, mb, dp)].append(step - steps[1])
    spreads = [max(d) - min(d) for d in differences.values() if len(d) > 1]
    print(f"layouts with 3 or more micro-batch counts: {len(residuals)}; largest distance from their line: "
          f"{max(residuals, default=0):.3g} ms")
    print(f"DP > 1 layouts with a DP-1 twin at 2 or more counts: {len(spreads)}; largest spread of the "
          f"difference: {max(spreads, default=0):.3g} ms")
    return 0


def cells(runs):
    """The --cells table: MAPE, bias and share of the absolute error by (TP, micro-batch, hidden)."""
    groups = defaultdict(list)
    for h, _layers, tp, _pp, _dp, mb, _n, measured, predicted in parsed(runs):
        groups[(tp, mb, h)].append((predicted - measured) / measured)
    total = sum(abs(e) for errors in groups.values() for e in errors)
    print("tp mb hidden  rows    MAPE    bias   share")
    for key in sorted(groups):
        errors = groups[key]
        mape = 100 * sum(abs(e) for e in errors) / len(errors)
        bias = 100 * sum(errors) / len(errors)
        share = 100 * sum(abs(e) for e in errors) / total if total > 0 else 0.0
        print(f"{key[0]:2d} {key[1]:2d} {key[2]:6d}  {len(errors):4d}  {mape:5.1f}%  {bias:+5.1f}%  {share:5.1f}%")
    return 0


def main(argv):
    by_dp = "--by-dp" in argv[1:]
    runs = json.load(sys.stdin)["runs"]
    if "--stages" in argv[1:]:
        return stages(runs)
    if "--linearity" in argv[1:]:
        return linearity(runs)
    if "--cells" in argv[1:]:
        return cells(runs)
    groups = defaultdict(list)
    for h, layers, tp, pp, dp, mb, n, measured, predicted in parsed(runs):
        if pp != 1:
            continue
        key = (h, tp, dp, mb) if by_dp else (h, tp, mb)
        groups[key].append(([n, n * layers, 1.0, float(layers)], measured, predicted))
    print("hidden tp" + (" dp" if by_dp else "") + " mb  rows   " +
          "   ".join(f"{t} (ms, measured/predicted)" for t in TERMS))
    for key in sorted(groups):
        rows = groups[key]
        measured = solve([r for r, _, _ in rows], [m for _, m, _ in rows])
        predicted = solve([r for r, _, _ in rows], [p for _, _, p in rows])
        if measured is None or predicted is None:
            continue
        label = " ".join(str(k) for k in key)
        terms = "   ".join(f"{m:7.2f} / {p:7.2f}" for m, p in zip(measured, predicted))
        print(f"{label:>16}  {len(rows):4d}   {terms}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
