#!/usr/bin/env python3
"""Group `preflight validate --json` rows as docs/validation.md reports them.

    build/release/bin/preflight validate data/validation/*.yaml --json > v.json
    tools/data/validation_groups.py v.json          # or: ... --json | tools/data/validation_groups.py -

Prints two Markdown tables: the row groups of docs/validation.md's "Figures on this commit" (each
with its rows, MAPE, worst |error|, signed mean error and time bias (the mean error in the step
time's sense, below 0 when predicted fast: a rate's error turned into its time's), in percent; all but the two host-bound
groups, which need a second run with --set training.host_profile=none) and the same figures by
hardware. The groups are defined once, in GROUPS below, by the rows' file, name and hardware; the
validation files name their runs so that these rules hold. A group with no rows prints a dash.
Standard library only.
"""

import json
import sys
from collections import defaultdict

NVIDIA_STACKS = ("dgxc", "nemo", "mcore", "mbridge", "nemotron4", "megatron")


def in_file(row, name):
    return row["file"].endswith("/" + name) or row["file"] == name


def is_public(row):
    return in_file(row, "public-other.yaml")


def is_torchtitan(row):
    return is_public(row) and row["name"].startswith("torchtitan")


def is_mosaic(row):
    return in_file(row, "llm-foundry.yaml")


def is_blackwell(row):
    """Blackwell and Blackwell Ultra (B300, GB300) parts."""
    return row["hardware"] in ("b200-180gb", "gb200-nvl72", "b300-288gb", "gb300-nvl72")


def is_moe(row):
    """The MoE runs, by the model their names carry (Qwen3 MoE, DeepSeek-V3, gpt-oss): the bundled
    files have no dense run of those families; a row that adds one needs a rule of its own."""
    return any(model in row["name"] for model in ("qwen3", "deepseek", "gpt-oss"))


# (label, rule): the groups of docs/validation.md's table, in its order.
GROUPS = [
    ("Korthikanti 2022", lambda r: in_file(r, "korthikanti-2022.yaml")),
    ("Megatron 2021 Table 1",
     lambda r: in_file(r, "megatron-2021.yaml") and r["name"].startswith("meg21-t1")),
    ("Megatron 2021 Table 2 PTD-P",
     lambda r: in_file(r, "megatron-2021.yaml") and r["name"].startswith("meg21-t2")
     and "zero3" not in r["name"]),
    ("Megatron 2021 Table 2 ZeRO-3",
     lambda r: in_file(r, "megatron-2021.yaml") and "zero3" in r["name"]),
    ("vTrain multi-node", lambda r: in_file(r, "vtrain-multi.yaml")),
    ("vTrain single-node", lambda r: in_file(r, "vtrain-single.yaml")),
    ("other public runs", is_public),
    ("... without torchtitan", lambda r: is_public(r) and not is_torchtitan(r)),
    ("... NVIDIA-stack H100",
     lambda r: is_public(r) and r["hardware"] == "h100-sxm-80gb"
     and r["name"].split("-")[0] in NVIDIA_STACKS),
    ("... Blackwell dense", lambda r: is_public(r) and is_blackwell(r) and not is_moe(r)),
    ("... Blackwell MoE", lambda r: is_public(r) and is_blackwell(r) and is_moe(r)),
    ("... H100 MoE", lambda r: is_public(r) and r["hardware"] == "h100-sxm-80gb" and is_moe(r)),
    ("... TPU v5p", lambda r: is_public(r) and r["hardware"] == "tpu-v5p"),
    ("... TPU v5e", lambda r: is_public(r) and r["hardware"] == "tpu-v5e"),
    ("... TPU v6e", lambda r: is_public(r) and r["hardware"] == "tpu-v6e"),
    ("... torchtitan", is_torchtitan),
    ("MosaicML MPT (llm-foundry, held out)", is_mosaic),
    ("... A100 (80 and 40 GB)", lambda r: is_mosaic(r) and r["hardware"].startswith("a100")),
    ("... H100 (BF16 and FP8)", lambda r: is_mosaic(r) and r["hardware"].startswith("h100")),
    ("FlashAttention's GPT3 runs (held out)", lambda r: in_file(r, "flash-attention.yaml")),
    ("peak memory", lambda r: in_file(r, "memory.yaml")),
    ("our own H200 steps", lambda r: in_file(r, "h200-own-steps.yaml") and not r["name"].endswith("-mem")),
    ("our own H200 peak memory", lambda r: in_file(r, "h200-own-steps.yaml") and r["name"].endswith("-mem")),
    ("all rows but vTrain single-node", lambda r: not in_file(r, "vtrain-single.yaml")),
    ("rows on proxy figures", lambda r: r.get("proxy_figures", 0) > 0),
    ("rows on their device's own figures", lambda r: r.get("proxy_figures", 0) == 0),
    ("all rows", lambda r: True),
]


def figures(rows):
    """(rows, MAPE %, worst |error| %, signed mean %, time bias % or None) of predicted rows; None
    when there are none. The time bias is the mean `time_error` (the error in the step time's
    sense: below 0 when predicted fast) over the rows that have one (not peak memory)."""
    ok = [r for r in rows if r.get("status", "ok") == "ok" and r.get("error") is not None]
    if not ok:
        return None
    errors = [r["error"] for r in ok]
    times = [r["time_error"] for r in ok if r.get("time_error") is not None]
    n = len(errors)
    return (n, 100 * sum(abs(e) for e in errors) / n, 100 * max(abs(e) for e in errors),
            100 * sum(errors) / n, 100 * sum(times) / len(times) if times else None)


def table(title, groups):
    lines = [f"| {title} | rows | MAPE | worst | bias | time bias |", "|---|---:|---:|---:|---:|---:|"]
    for label, rows in groups:
        f = figures(rows)
        if f is None:
            lines.append(f"| {label} | 0 | — | — | — | — |")
        else:
            time_bias = "—" if f[4] is None else f"{f[4]:+.1f}%"
            lines.append(f"| {label} | {f[0]:,} | {f[1]:.1f}% | {f[2]:.1f}% | {f[3]:+.1f}% | {time_bias} |")
    return "\n".join(lines)


def report(result):
    runs = result["runs"]
    by_group = [(label, [r for r in runs if rule(r)]) for label, rule in GROUPS]
    by_hardware = defaultdict(list)
    for r in runs:
        by_hardware[r["hardware"]].append(r)
    return (table("group", by_group) + "\n\n"
            + table("hardware", sorted(by_hardware.items())) + "\n")


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    try:
        source = sys.stdin if argv[1] == "-" else open(argv[1], encoding="utf-8")
        with source:
            result = json.load(source)
        sys.stdout.write(report(result))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        print(f"{argv[1]}: expected the output of `preflight validate --json` ({error})", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
