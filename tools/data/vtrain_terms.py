#!/usr/bin/env python3
"""Separate the vTrain single-node step times into per-micro-batch and per-step terms.

Usage:
  build/release/bin/preflight validate data/validation/vtrain-single.yaml --json \\
    | tools/data/vtrain_terms.py [--by-dp]

A diagnosis, nothing in the model reads it. Within each group of rows with one hidden size, TP
degree and micro-batch (PP 1; with --by-dp also one DP degree), a least-squares fit of

  step_ms = n * a + n * L * b + c + L * d      (n micro-batches per pipeline, L layers)

splits each step into the time per micro-batch outside the layers (a), per layer and micro-batch
(b), per step (c) and per layer and step (d: the optimizer and the gradient reduction of one
layer's parameters), for the measurements and for preflight's predictions alike. The run names
carry the configuration (vtrain-single-NNNN-h<hidden>-l<layers>-<g>gpu-tp<t>-pp<p>-dp<d>-mb<m>-gb<b>).

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


def main(argv):
    by_dp = "--by-dp" in argv[1:]
    runs = json.load(sys.stdin)["runs"]
    groups = defaultdict(list)
    for run in runs:
        m = NAME.match(run["name"])
        if not m or run["metric"] != "step_time_s":
            continue
        h, layers, tp, pp, dp, mb, gb = (int(x) for x in m.groups())
        if pp != 1:
            continue
        n = gb / (dp * mb)
        key = (h, tp, dp, mb) if by_dp else (h, tp, mb)
        groups[key].append(([n, n * layers, 1.0, float(layers)], run["measured"] * 1e3, run["predicted"] * 1e3))
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
