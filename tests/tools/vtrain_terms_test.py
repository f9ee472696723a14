#!/usr/bin/env python3
"""tools/data/vtrain_terms.py recovers known terms from made-up step times.

Rows of one group (hidden 2048, TP 2, DP 1, micro-batch 1) are written as
step_ms = n * a + n * L * b + c + L * d with known a, b, c, d for the measurement and other known
values for the prediction; the script's fit must print both sets back. With --stages, rows of
several layouts (PP 1, 2 and 4, DP 1 and 2) are written as step_ms = n * a + n * (L / p) * b plus a
constant of each layout's own, a being a1 at PP 1 and a2 at PP 2 and 4; the fit must print a1, a2
and b back. With --linearity, steps on a line in n must report distances near 0, and one step moved
0.5 ms off its line must show. With --cells, a cell's MAPE, bias and share come out as written.
Standard library only.
"""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "data" / "vtrain_terms.py"
MEASURED, PREDICTED = (3.0, 2.0, 5.0, 0.5), (1.5, 1.25, 4.0, 0.25)


def step_ms(terms, n, layers):
    a, b, c, d = terms
    return n * a + n * layers * b + c + layers * d


def check_fit(flag, runs, label, expected):
    """Run the script with `flag` on `runs`: one group whose first five columns are `label`, and
    whose measured/predicted figures are `expected`, within 0.01 ms."""
    out = subprocess.run([sys.executable, str(SCRIPT), flag], input=json.dumps({"runs": runs}),
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    if len(rows) != 1 or rows[0][:5] != label:
        sys.exit(f"{flag}: expected one group {label}, got:\n{out}")
    values = [float(x) for x in rows[0][5:] if x != "/"]
    if len(values) != len(expected) or any(abs(got - want) > 0.01 for got, want in zip(values, expected)):
        sys.exit(f"{flag}: terms {values}, expected {expected}")


def check_stages():
    runs, i = [], 0
    for layers in (12, 24):
        for pp in (1, 2, 4):
            for dp in (1, 2):
                fixed = 7.0 * pp + 3.0 * dp + 0.1 * layers  # each layout's own constant
                for gb in (8, 16, 32):
                    i += 1
                    n = gb // dp
                    name = f"vtrain-single-{i:04d}-h1024-l{layers}-{2 * pp * dp}gpu-tp2-pp{pp}-dp{dp}-mb1-gb{gb}"
                    step = lambda a1, a2, b: n * (a1 if pp == 1 else a2) + n * layers / pp * b + fixed
                    runs.append({"name": name, "metric": "step_time_s", "measured": step(6.5, 6.0, 3.0) / 1e3,
                                 "predicted": step(3.4, 3.5, 3.25) / 1e3})
    check_fit("--stages", runs, ["1024", "2", "1", "36", "12"],  # 36 rows, 12 layouts
              [6.5, 3.4, 6.0, 3.5, 3.0, 3.25])


def check_linearity():
    """Steps on a line in n report distances near 0; a step 0.5 ms off its line reports about that."""
    def runs(offset):
        out = []
        for i, gb in enumerate((2, 4, 8, 16)):
            for dp in (1, 2):
                step = 3.0 * gb / dp + 7.0 + 2.0 * dp + (offset if gb == 8 and dp == 1 else 0.0)
                out.append({"name": f"vtrain-single-{10 * i + dp:04d}-h1024-l12-{2 * dp}gpu-tp2-pp1-dp{dp}-mb1-gb{gb}",
                            "metric": "step_time_s", "measured": step / 1e3, "predicted": step / 1e3})
        return out

    def figures(offset):
        out = subprocess.run([sys.executable, str(SCRIPT), "--linearity"], input=json.dumps({"runs": runs(offset)}),
                             capture_output=True, text=True, check=True).stdout
        return [float(line.rsplit(":", 1)[1].split()[0]) for line in out.splitlines()]

    exact, off = figures(0.0), figures(0.5)
    if max(exact) > 1e-9 or not (0.2 < off[0] < 0.5) or not (0.4 < off[1] < 0.6):
        sys.exit(f"--linearity: {exact} on a line, {off} with one step 0.5 ms off")


def check_cells():
    """Two rows of one cell, +10% and -30% off: MAPE 20%, bias -10%, all of the error."""
    runs = [{"name": f"vtrain-single-000{i}-h1024-l12-2gpu-tp2-pp1-dp1-mb1-gb{gb}", "metric": "step_time_s",
             "measured": 1.0, "predicted": p} for i, (gb, p) in enumerate(((2, 1.1), (4, 0.7)))]
    out = subprocess.run([sys.executable, str(SCRIPT), "--cells"], input=json.dumps({"runs": runs}),
                         capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    if rows != [["2", "1", "1024", "2", "20.0%", "-10.0%", "100.0%"]]:
        sys.exit(f"--cells: {rows}")


def main():
    check_cells()
    check_linearity()
    check_stages()
    runs, i = [], 0
    for layers in (12, 16, 20, 24):
        for gb in (2, 4, 8, 16):
            i += 1
            name = f"vtrain-single-{i:04d}-h2048-l{layers}-2gpu-tp2-pp1-dp1-mb1-gb{gb}"
            runs.append({"name": name, "metric": "step_time_s", "measured": step_ms(MEASURED, gb, layers) / 1e3,
                         "predicted": step_ms(PREDICTED, gb, layers) / 1e3})
    check_fit("--by-dp", runs, ["2048", "2", "1", "1", "16"], [v for pair in zip(MEASURED, PREDICTED) for v in pair])
    print("ok")


if __name__ == "__main__":
    main()
