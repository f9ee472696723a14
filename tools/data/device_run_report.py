#!/usr/bin/env python3
"""What a lent-device run (tools/device/run_all.sh) says about the two open questions, as Markdown.

    python3 tools/data/device_run_report.py OUT_DIR [--predicted VALIDATE.json]

OUT_DIR holds the run's files. From `probe.json` (tools/host/probe_collective_call.py) it prints the
host time of one all-reduce call in each setting and environment, and the op-by-op attribution of
what a call inside the layer adds. From `megatron-steps.json` (tools/device/measure_megatron_steps.py
--profile) it prints, for each profiled row, the measured step, the GPU's kernel time and its share
of the step, by kind. With `--predicted` (the output of `preflight validate
data/validation/h200-own-steps.yaml --json`, written after the run's rows are in that file) it sets
each row's kernel time beside the model's GPU time and its host wait. The model's GPU time is what
the profiled kernels cover: compute, the elementwise work (`other`) less the time the GPU waits for
the host in it, the optimizer and the exposed communication (NCCL's kernels).

A file that is not whole JSON (a run killed mid-write, before the tools wrote through a temporary
file) is named in one line on stderr, the rest reported, and the exit status is 1.

Nothing here changes a data file: the report is for reading, and for the docs' prose.
"""
import argparse
import json
import os
import sys

PROBE_CASES = ("bare_same", "bare_fresh", "backward_same", "backward_fresh", "deep_stack", "nccl_direct",
               "layer_forward", "layer_backward")
ATTRIBUTION_OPS = 10


def probe_section(probe):
    """The call's median host time per case and environment, then each attribution's largest ops."""
    envs = list(probe)
    lines = ["## One all-reduce call's host time (median µs)", "",
             "| case | " + " | ".join(envs) + " |", "|---|" + "---:|" * len(envs)]
    for case in PROBE_CASES:
        cells = []
        for env in envs:
            r = probe[env].get(case)
            cells.append("%.1f" % r["median_us"] if isinstance(r, dict) and "median_us" in r else "—")
        if any(c != "—" for c in cells):
            lines.append("| %s | %s |" % (case, " | ".join(cells)))
    for env in envs:
        a = probe[env].get("attribution")
        if not isinstance(a, dict):
            continue
        lines += ["", "### What a call inside the layer adds, %s (%s)" % (env, probe[env].get("torch", "?")), ""]
        if "error" in a:
            lines.append("failed: %s" % a["error"])
            continue
        lines.append("%d calls over %d rounds; %.1f µs a call of the layer's wall time (profiled), %.1f µs a "
                     "bare call." % (a["calls_at_tp2"], a["rounds"], a["wall_per_call_us"],
                                     a["bare_wall_per_call_us"]))
        lines += ["", "| op | count a call | self CPU µs a call |", "|---|---:|---:|"]
        for name, count, us in a["layer_ops"][:ATTRIBUTION_OPS]:
            lines.append("| %s | %g | %.2f |" % (name, count, us))
        uneven = a.get("ops_whose_count_is_not_per_round") or []
        if uneven:
            lines.append("")
            lines.append("Ops whose count is not the same each round (their time is not the calls' alone): "
                         + ", ".join(uneven))
    return lines


def row_name(row, hardware):
    """The validation row a step row became (tools/data/own_steps_to_yaml.py names them so)."""
    recompute = "recompute" if row["recompute"] == "full" else "norecompute"
    return "own-%s-h%d-l%d-mb%d-gb%d-%s" % (hardware.split("-")[0], row["hidden"], row["layers"],
                                           row["micro_batch"], row["global_batch"], recompute)


def steps_section(steps, predicted):
    """Each profiled row: measured step, kernel time and share, by kind; the model's beside it."""
    rows = [r for r in steps.get("rows", []) if isinstance(r.get("profile"), dict)]
    lines = ["", "## Training steps, profiled (%s, %s)" % (steps.get("gpu", "?"), steps.get("torch", "?")), ""]
    if not rows:
        return lines + ["No profiled row."]
    kinds = sorted({k for r in rows if "kinds" in r["profile"] for k in r["profile"]["kinds"]})
    head = "| row | step s | kernels s | share |"
    if predicted:
        head += " model step s | model GPU s | model host wait s |"
    lines += [head + " " + " | ".join(kinds) + " |",
              "|---|" + "---:|" * (3 + (3 if predicted else 0) + len(kinds))]
    for r in rows:
        p = r["profile"]
        name = row_name(r, steps.get("hardware", "unknown"))
        if "error" in p:
            lines.append("| %s | %.3f | failed: %s |" % (name, r["step_s"], p["error"]))
            continue
        cells = ["%.3f" % r["step_s"], "%.3f" % p["kernel_s"], "%.2f" % p["kernel_share_of_step"]]
        if predicted:
            m = predicted.get(name)
            if m:
                b = m["breakdown"]  # like the kernels: the optimizer's and NCCL's are among them
                gpu = b["compute"] + b["other"] - b["host_launch"] + b["optimizer"] + b["exposed_comm"]
                cells += ["%.3f" % m["step_s"], "%.3f" % gpu, "%.3f" % b["host_launch"]]
            else:
                cells += ["—", "—", "—"]
        cells += ["%.3f" % p["kinds"][k]["s"] if k in p["kinds"] else "—" for k in kinds]
        lines.append("| %s | %s |" % (name, " | ".join(cells)))
    return lines


def load_json(path, broken):
    """The file's JSON; None, with one line on stderr and the file in `broken`, where it is not whole
    JSON (cut off mid-write, or not JSON at all)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:  # json.JSONDecodeError is a ValueError
        print("device_run_report.py: %s: not whole JSON (%s), left out: a run killed mid-write?" % (path, e),
              file=sys.stderr)
        broken.append(path)
        return None


def predicted_steps(path, broken):
    """The step-time rows of a `preflight validate --json` output, by name (None where unreadable)."""
    doc = load_json(path, broken)
    if doc is None:
        return None
    return {r["name"]: r for r in doc["runs"] if r["metric"] == "step_time_s" and r["status"] == "ok"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir", help="the device run's files (probe.json, megatron-steps.json)")
    ap.add_argument("--predicted", help="preflight validate data/validation/h200-own-steps.yaml --json output")
    args = ap.parse_args(argv)
    lines, broken = [], []
    probe_path = os.path.join(args.out_dir, "probe.json")
    steps_path = os.path.join(args.out_dir, "megatron-steps.json")
    if not os.path.exists(probe_path) and not os.path.exists(steps_path):
        sys.exit("device_run_report.py: %s: expected probe.json or megatron-steps.json there" % args.out_dir)
    probe = load_json(probe_path, broken) if os.path.exists(probe_path) else None
    if probe is not None:
        lines += probe_section(probe)
    steps = load_json(steps_path, broken) if os.path.exists(steps_path) else None
    if steps is not None:
        lines += steps_section(steps, predicted_steps(args.predicted, broken) if args.predicted else None)
    if lines:
        print("\n".join(lines))
    if broken:
        sys.exit(1)


if __name__ == "__main__":
    main()
