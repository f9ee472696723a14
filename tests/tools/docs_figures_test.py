#!/usr/bin/env python3
"""The accuracy tables of README.md ("Accuracy and speed") and docs/validation.md ("Figures on this
commit") give what `preflight validate data/validation/*.yaml` prints on this commit.

    docs_figures_test.py PREFLIGHT_BINARY REPO_ROOT

Each table row is read as (label, runs, MAPE, worst) and compared, as written (one decimal), with
the group of tools/data/validation_groups.py it names. The two host-bound rows of docs/validation.md
need a second run under --set training.host_profile=none and are left to that file's own commands.
Exits 1 naming every row that differs, 0 when all agree.
"""

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

# README rows: label prefix -> group(s) of validation_groups.GROUPS ("a / b" cells give two). A
# label's "{n}" stands for the row count it repeats (the row's runs cell is what is checked).
README_ROWS = [
    ("Korthikanti 2022", ["Korthikanti 2022"]),
    ("Megatron 2021 Table 1", ["Megatron 2021 Table 1"]),
    ("Megatron 2021 Table 2", ["Megatron 2021 Table 2 PTD-P", "Megatron 2021 Table 2 ZeRO-3"]),
    ("vTrain multi-node", ["vTrain multi-node"]),
    ("vTrain single-node", ["vTrain single-node"]),
    ("other public runs", ["other public runs"]),
    ("MosaicML MPT,", ["MosaicML MPT (llm-foundry, held out)"]),
    ("FlashAttention's GPT3 runs,", ["FlashAttention's GPT3 runs (held out)"]),
    ("peak memory", ["peak memory"]),
    ("our own H200 steps", ["our own H200 steps"]),
    ("our own H200 peak memory", ["our own H200 peak memory"]),
    ("all {n} rows", ["all rows"]),
]

# docs/validation.md rows: label prefix -> group.
DOCS_ROWS = [
    ("Korthikanti 2022", "Korthikanti 2022"),
    ("Megatron 2021 Table 1", "Megatron 2021 Table 1"),
    ("Megatron 2021 Table 2 PTD-P", "Megatron 2021 Table 2 PTD-P"),
    ("Megatron 2021 Table 2 ZeRO-3", "Megatron 2021 Table 2 ZeRO-3"),
    ("vTrain multi-node", "vTrain multi-node"),
    ("vTrain single-node", "vTrain single-node"),
    ("other public runs", "other public runs"),
    ("the same without the 19 torchtitan rows", "... without torchtitan"),
    ("of which the 32 NVIDIA-stack H100 rows", "... NVIDIA-stack H100"),
    ("of which the 7 dense Blackwell rows", "... Blackwell dense"),
    ("of which the 7 Blackwell MoE rows", "... Blackwell MoE"),
    ("of which the 6 H100 MoE rows", "... H100 MoE"),
    ("the 19 torchtitan rows", "... torchtitan"),
    ("MosaicML MPT,", "MosaicML MPT (llm-foundry, held out)"),
    ("of which the {n} A100 rows", "... A100 (80 and 40 GB)"),
    ("of which the {n} H100 rows", "... H100 (BF16 and FP8)"),
    ("FlashAttention's GPT3 runs,", "FlashAttention's GPT3 runs (held out)"),
    ("peak memory", "peak memory"),
    ("our own H200 steps", "our own H200 steps"),
    ("our own H200 peak memory", "our own H200 peak memory"),
    ("all rows but vTrain single-node", "all rows but vTrain single-node"),
    ("all rows", "all rows"),
    ("the {n} rows whose prediction reads a figure measured on another device", "rows on proxy figures"),
    ("the rows that read only their device's own figures", "rows on their device's own figures"),
]


def load_groups_module(root):
    spec = importlib.util.spec_from_file_location("validation_groups", root / "tools/data/validation_groups.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def current_figures(binary, root, vg):
    """group label -> (runs, 'MAPE%', 'worst%') as the tables write them."""
    files = sorted(str(p) for p in (root / "data/validation").glob("*.yaml"))
    out = subprocess.run([binary, "validate", *files, "--json"], cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"validate exited {out.returncode}: {out.stderr.strip()}")
    runs = json.loads(out.stdout)["runs"]
    figures = {}
    for label, rule in vg.GROUPS:
        f = vg.figures([r for r in runs if rule(r)])
        figures[label] = (f"{f[0]:,}", f"{f[1]:.1f}%", f"{f[2]:.1f}%") if f else ("0", "—", "—")
    return figures


def table_rows(text, header):
    """The rows (cells, bold marks dropped) of the first Markdown table after `header`."""
    start = text.index(header)
    rows = []
    for line in text[start:].splitlines()[1:]:
        if not line.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip().replace("*", "") for c in line.strip().strip("|").split("|")]
        if cells[0] in ("rows",) or set(cells[0]) <= set("-: "):
            continue
        rows.append(cells)
    return rows


def find_row(rows, prefix):
    """The row labelled `prefix` exactly, else the first whose label is `prefix` and a remark
    ("{n}" in `prefix` matches any count written with digits and commas)."""
    label = re.escape(prefix).replace(re.escape("{n}"), "[0-9,]+")
    exact = [r for r in rows if re.fullmatch(label, r[0])]
    if exact:
        return exact[0]
    matches = [r for r in rows if re.match(label + " ", r[0])]
    return matches[0] if matches else None


def check_table(root, path, header, spec, figures):
    """Every row of `spec` ((label prefix, groups)) in the table after `header` in `path`: a cell
    "a / b" gives one figure per group."""
    problems = []
    rows = table_rows((root / path).read_text(encoding="utf-8"), header)
    for prefix, groups in spec:
        row = find_row(rows, prefix)
        if row is None:
            problems.append(f"{path}: no row '{prefix}' in the table after '{header}'")
            continue
        written = [[part.strip() for part in cell.split("/")] for cell in row[1:4]]
        for i, group in enumerate(groups):
            want = figures[group]
            got = tuple(cell[i] if i < len(cell) else "?" for cell in written)
            if got != want:
                problems.append(f"{path} '{prefix}' ({group}): written {got}, validate gives {want}")
    return problems


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    binary, root = argv[1], Path(argv[2]).resolve()
    vg = load_groups_module(root)
    figures = current_figures(binary, root, vg)
    problems = (check_table(root, "README.md", "## Accuracy and speed", README_ROWS, figures) +
                check_table(root, "docs/validation.md", "## Figures on this commit",
                            [(prefix, [group]) for prefix, group in DOCS_ROWS], figures))
    for p in problems:
        print(p)
    print(f"{len(README_ROWS)} README rows and {len(DOCS_ROWS)} docs rows checked; {len(problems)} differ")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
