#!/usr/bin/env python3
"""tools/host/pool_host_profiles.py: fastest run per fastest-of-rounds figure, mean of the paired
medians, and runs given --layer-only pool into the layer's own figures alone."""

import subprocess
import sys
import tempfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "host" / "pool_host_profiles.py"


def profile(forward, checkpointed, call, softmax, micro_batch, before, after):
    return f"""# a run
id: run
source: "a run at {forward}"
stack: "a stack"
layer: gpt
layer_us:                # per layer
  forward: {forward}           # forward
  backward: 900.0          # backward
  checkpointed: {checkpointed}      # full recompute
  checkpointed_forward: 500.0  # part of it
gpu_waits_per_layer_forward: 0  # none
collective_call_us: {call}     # paired
unfused_softmax_op_us: {softmax}   # paired
micro_batch_us: {micro_batch}      # around the layers
input_us:                # input path
  before_sync: {before}        # before
  after_sync: {after}         # after
checks:
  bare_call_us: 14.0  # a check
  per_call_quartiles_us: [1.0, 2.0]  # a check
shapes: {{hidden: 32}}
omitted:
  - "something"
"""


def value(text, key):
    for line in text.splitlines():
        if line.strip().startswith(key + ":"):
            return float(line.split(":")[1].split("#")[0])
    raise AssertionError("no %s in\n%s" % (key, text))


with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    (d / "a.yaml").write_text(profile(700.0, 3000.0, 120.0, 20.0, 2000.0, 200.0, 210.0))
    (d / "b.yaml").write_text(profile(650.0, 3300.0, 130.0, 30.0, 1900.0, 220.0, 190.0))
    (d / "c.yaml").write_text(profile(600.0, 2900.0, 500.0, 40.0, 100.0, 1.0, 1.0))  # layer figures alone
    out = d / "pooled.yaml"
    subprocess.run([sys.executable, str(SCRIPT), str(out), str(d / "a.yaml"), str(d / "b.yaml"),
                    "--layer-only", str(d / "c.yaml"), "--id", "pooled", "--stack-note", "a note",
                    "--note", "a header line"], check=True)
    text = out.read_text()
    assert "id: pooled" in text, text
    assert 'stack: "a stack; a note"' in text, text
    assert "# a header line" in text, text
    assert value(text, "forward") == 600.0  # the fastest of all three runs: a layer figure
    assert value(text, "checkpointed") == 2900.0
    assert value(text, "collective_call_us") == 125.0  # the mean of the two whole runs; c's 500 left out
    assert value(text, "unfused_softmax_op_us") == 30.0  # a layer figure: the mean of all three
    assert value(text, "micro_batch_us") == 1900.0  # the fastest of the two whole runs; c's 100 left out
    assert value(text, "before_sync") == 200.0 and value(text, "after_sync") == 190.0
    assert value(text, "backward") == 900.0 and value(text, "checkpointed_forward") == 500.0
    assert "(its layer figures alone)" in text and "run_3" in text, text
    assert "bare_call_us: 14.0  # a check (run 1)" in text, text
    assert "- \"something\"" in text, text

    # A figure missing from one run is refused, not pooled from the others.
    (d / "short.yaml").write_text(profile(700.0, 3000.0, 120.0, 20.0, 2000.0, 200.0, 210.0)
                                  .replace("collective_call_us: 120.0     # paired\n", ""))
    bad = subprocess.run([sys.executable, str(SCRIPT), str(d / "x.yaml"), str(d / "a.yaml"), str(d / "short.yaml"),
                          "--id", "x"], capture_output=True, text=True)
    assert bad.returncode != 0 and "collective_call_us" in bad.stderr, bad.stderr
    assert not (d / "x.yaml").exists()
print("ok")
