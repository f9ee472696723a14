#!/usr/bin/env python3
"""tools/data/validation_groups.py: rows land in the groups docs/validation.md names, with their figures."""

import importlib.util
import io
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "data" / "validation_groups.py"
spec = importlib.util.spec_from_file_location("validation_groups", SCRIPT)
vg = importlib.util.module_from_spec(spec)
spec.loader.exec_module(vg)


def row(name, file, hardware, error, proxy=0, rate=False, memory=False):
    """A step-time row, or a rate's (its time error measured / predicted - 1), or peak memory's."""
    time_error = None if memory else (1 / (1 + error) - 1 if rate else error)
    return {"name": name, "file": "data/validation/" + file, "hardware": hardware, "error": error,
            "status": "ok", "proxy_figures": proxy, "time_error": time_error}


RUNS = [
    row("kor22-22b", "korthikanti-2022.yaml", "a100-sxm-80gb", -0.02),
    row("kor22-175b", "korthikanti-2022.yaml", "a100-sxm-80gb", 0.04),
    row("meg21-t1-1.7b", "megatron-2021.yaml", "a100-sxm-80gb", -0.10),
    row("meg21-t2-zero3-175b", "megatron-2021.yaml", "a100-sxm-80gb", -0.30),
    row("meg21-t2-ptdp-175b", "megatron-2021.yaml", "a100-sxm-80gb", -0.05),
    row("vtrain-single-1", "vtrain-single.yaml", "a100-sxm-80gb", -0.50),
    row("nemo-llama3-8b", "public-other.yaml", "h100-sxm-80gb", -0.20),
    row("torchtitan-8b", "public-other.yaml", "h100-sxm-96gb-hbm2e", 0.40, proxy=3, rate=True),
    row("mcore-qwen3-235b", "public-other.yaml", "h100-sxm-80gb", -0.30),
    row("mbridge-llama3-8b-8xgb200", "public-other.yaml", "gb200-nvl72", -0.10, proxy=1),
    row("mbridge-qwen3-30b-a3b-8xb200", "public-other.yaml", "b200-180gb", -0.60, proxy=1),
    row("maxtext-32b", "public-other.yaml", "tpu-v5p", 0.25, proxy=1, rate=True),
    row("torchtitan-8b-memory", "memory.yaml", "h100-sxm-96gb-hbm2e", -0.04, proxy=1, memory=True),
]


def group(result, label):
    for line in vg.report(result).splitlines():
        if line.startswith(f"| {label} |"):
            return [cell.strip() for cell in line.strip("|").split("|")]
    raise AssertionError(f"no line for {label}")


def main():
    result = {"runs": RUNS}
    failures = []

    def expect(label, cells):
        got = group(result, label)
        if got[1:] != cells:
            failures.append(f"{label}: got {got[1:]}, expected {cells}")

    expect("Korthikanti 2022", ["2", "3.0%", "4.0%", "+1.0%", "+1.0%"])
    expect("Megatron 2021 Table 1", ["1", "10.0%", "10.0%", "-10.0%", "-10.0%"])
    expect("Megatron 2021 Table 2 PTD-P", ["1", "5.0%", "5.0%", "-5.0%", "-5.0%"])
    expect("Megatron 2021 Table 2 ZeRO-3", ["1", "30.0%", "30.0%", "-30.0%", "-30.0%"])
    expect("vTrain multi-node", ["0", "—", "—", "—", "—"])
    expect("vTrain single-node", ["1", "50.0%", "50.0%", "-50.0%", "-50.0%"])
    expect("other public runs", ["6", "30.8%", "60.0%", "-9.2%", "-28.1%"])
    expect("... without torchtitan", ["5", "29.0%", "60.0%", "-19.0%", "-28.0%"])
    expect("... Blackwell dense", ["1", "10.0%", "10.0%", "-10.0%", "-10.0%"])
    expect("... Blackwell MoE", ["1", "60.0%", "60.0%", "-60.0%", "-60.0%"])
    expect("... TPU v5p", ["1", "25.0%", "25.0%", "+25.0%", "-20.0%"])
    expect("peak memory", ["1", "4.0%", "4.0%", "-4.0%", "—"])
    expect("our own H200 steps", ["0", "—", "—", "—", "—"])
    expect("our own H200 peak memory", ["0", "—", "—", "—", "—"])
    own = dict(vg.GROUPS)["our own H200 steps"]
    if not own(row("own-h200-h1024-l24-mb1-gb4-recompute", "h200-own-steps.yaml", "h200-sxm-141gb", -0.3)):
        failures.append("a row of h200-own-steps.yaml is not in 'our own H200 steps'")
    if own(row("vtrain-single-1", "vtrain-single.yaml", "a100-sxm-80gb", -0.5)):
        failures.append("a vTrain row is in 'our own H200 steps'")
    own_memory = dict(vg.GROUPS)["our own H200 peak memory"]
    mem = row("own-h200-h1024-l24-mb1-gb4-recompute-mem", "h200-own-steps.yaml", "h200-sxm-141gb", -0.1, memory=True)
    if not own_memory(mem) or own(mem):
        failures.append("a -mem row of h200-own-steps.yaml is not in 'our own H200 peak memory' alone")
    expect("... NVIDIA-stack H100", ["2", "25.0%", "30.0%", "-25.0%", "-25.0%"])
    expect("... H100 MoE", ["1", "30.0%", "30.0%", "-30.0%", "-30.0%"])
    expect("... torchtitan", ["1", "40.0%", "40.0%", "+40.0%", "-28.6%"])
    expect("rows on proxy figures", ["5", "27.8%", "60.0%", "-1.8%", "-29.6%"])
    expect("all rows but vTrain single-node", ["12", "20.0%", "60.0%", "-8.5%", "-19.2%"])
    expect("all rows", ["13", "22.3%", "60.0%", "-11.7%", "-21.8%"])
    expect("h100-sxm-80gb", ["2", "25.0%", "30.0%", "-25.0%", "-25.0%"])

    # Blackwell Ultra parts count with Blackwell, dense and MoE alike.
    rules = dict(vg.GROUPS)
    for hw in ("b300-288gb", "gb300-nvl72"):
        dense = row("mbridge-llama3-8b-8x" + hw, "public-other.yaml", hw, -0.1)
        moe = row("mbridge-qwen3-30b-a3b-8x" + hw, "public-other.yaml", hw, -0.1)
        if not (rules["... Blackwell dense"](dense) and rules["... Blackwell MoE"](moe)):
            failures.append(f"{hw} rows are not counted as Blackwell")

    # Bad input: one line on stderr, exit 2.
    bad = subprocess.run([sys.executable, str(SCRIPT), "-"], input="{}", capture_output=True, text=True)
    if bad.returncode != 2 or len(bad.stderr.strip().splitlines()) != 1 or bad.stdout:
        failures.append(f"bad input: exit {bad.returncode}, stderr {bad.stderr!r}, stdout {bad.stdout!r}")
    good = subprocess.run([sys.executable, str(SCRIPT), "-"], input=json.dumps(result),
                          capture_output=True, text=True)
    if good.returncode != 0 or "| all rows | 13 |" not in good.stdout:
        failures.append(f"stdin input: exit {good.returncode}, stdout {good.stdout!r}")

    null = subprocess.run([sys.executable, str(SCRIPT), "-"], capture_output=True, text=True,
                          input='{"runs": [{"file": null, "name": "x", "hardware": "h", "error": 0.1}]}')
    if null.returncode != 2 or len(null.stderr.strip().splitlines()) != 1:
        failures.append(f"null file: exit {null.returncode}, stderr {null.stderr!r}")

    for failure in failures:
        print(failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
