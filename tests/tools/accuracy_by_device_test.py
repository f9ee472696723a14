#!/usr/bin/env python3
"""tools/data/accuracy_by_device.py: the per-device summary of `validate --json`, and (given the
binary and the repository) that data/accuracy/by-device.yaml is what it writes on this commit.

    accuracy_by_device_test.py                          # the summary's arithmetic alone
    accuracy_by_device_test.py PREFLIGHT_BINARY REPO_ROOT   # and the bundled table is current
"""

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "data" / "accuracy_by_device.py"
spec = importlib.util.spec_from_file_location("accuracy_by_device", SCRIPT)
abd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(abd)


def row(name, hardware, error, metric="step_time_s", status="ok", file="a.yaml"):
    time_error = None if metric == "peak_memory_gib" else error
    return {"name": name, "hardware": hardware, "error": error, "time_error": time_error, "metric": metric,
            "status": status, "file": "data/validation/" + file}


def check(condition, what):
    if not condition:
        print("FAIL:", what)
        sys.exit(1)


def test_summary():
    # Ten step-time rows on one device: the 90% nearest rank is the 9th smallest |error|.
    rows = [row("r%d" % i, "dev-a", e) for i, e in enumerate([0.01, -0.02, 0.03, -0.04, 0.05, -0.06, 0.07,
                                                              -0.08, 0.09, -0.5])]
    rows += [row("m1", "dev-a", 0.1, metric="peak_memory_gib", file="b.yaml"),
             row("skipped", "dev-a", 9.0, status="not predicted"),
             row("other", "dev-b", -0.2)]
    out = abd.by_device({"runs": rows, "ran_but_predicted_oom": ["r3", "other"]})
    check(list(out) == ["dev-a", "dev-b"], "devices sorted, the skipped row's counted nowhere")
    a = out["dev-a"]
    check(a["files"] == ["a.yaml", "b.yaml"], "files: %s" % a["files"])
    check(a["time"]["runs"] == 10, "time rows exclude memory and unpredicted rows")
    check(abs(a["time"]["mape"] - 0.095) < 1e-12, "mape %r" % a["time"]["mape"])
    check(abs(a["time"]["bias"] - (-0.045)) < 1e-12, "bias %r" % a["time"]["bias"])
    check(a["time"]["p90_abs_error"] == 0.09, "p90 %r" % a["time"]["p90_abs_error"])
    check(a["time"]["worst"] == "r9" and a["time"]["worst_error"] == -0.5, "worst row and its signed error")
    check(a["memory"]["runs"] == 1 and a["memory"]["mape"] == 0.1, "memory rows from peak_memory_gib")
    check(a["ran_but_predicted_oom"] == 1 and out["dev-b"]["ran_but_predicted_oom"] == 1, "oom counts per device")
    check(out["dev-b"]["memory"] == {"runs": 0}, "no memory rows: runs 0 alone")
    text = abd.render(out)
    check("    time: {runs: 10, mape: 0.0950, bias: -0.0450, p90_abs_error: 0.0900, worst: \"r9\", "
          "worst_error: -0.5000}\n" in text, text)
    check("    memory: {runs: 0}\n" in text, text)


def test_bundled_table_is_current(binary, root):
    env = dict(os.environ, PREFLIGHT_DATA=str(Path(root) / "data"))
    files = sorted(str(p) for p in (Path(root) / "data" / "validation").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([binary, "validate", *files, "--json"], cwd=root, env=env, capture_output=True,
                                text=True)
        check(result.returncode in (0, 1), "validate failed: " + result.stderr)
        json_path = os.path.join(tmp, "all.json")
        with open(json_path, "w", encoding="utf-8") as f:
            f.write(result.stdout)
        out = os.path.join(tmp, "by-device.yaml")
        check(abd.main(["accuracy_by_device.py", json_path, out]) == 0, "the tool failed")
        with open(out, encoding="utf-8") as f:
            written = f.read()
    with open(Path(root) / "data" / "accuracy" / "by-device.yaml", encoding="utf-8") as f:
        bundled = f.read()
    check(written == bundled, "data/accuracy/by-device.yaml is not what validate prints on this commit; regenerate "
          "it: preflight validate data/validation/*.yaml --json > all.json && python3 "
          "tools/data/accuracy_by_device.py all.json data/accuracy/by-device.yaml")


if __name__ == "__main__":
    test_summary()
    if len(sys.argv) == 3:
        test_bundled_table_is_current(sys.argv[1], sys.argv[2])
    print("ok")
