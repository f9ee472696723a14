#!/usr/bin/env python3
"""tools/data/device_run_report.py on a made-up device run: the probe's table and attribution, the
profiled steps with the model's figures beside them, a cut-off file named in one line, and a refusal
of a folder without the files."""
import contextlib
import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "data"))
import device_run_report  # noqa: E402

PROBE = {"default": {
    "bare_same": {"median_us": 12.25}, "layer_forward": {"median_us": 52.8}, "torch": "2.11.0",
    "attribution": {"rounds": 8, "calls_at_tp2": 384, "wall_per_call_us": 90.5, "bare_wall_per_call_us": 20.0,
                    "layer_ops": [["c10d::allreduce_", 1.0, 30.0], ["cudaEventRecord", 2.0, 4.5]],
                    "ops_whose_count_is_not_per_round": ["cudaEventQuery"]}},
    "flight_recorder_off": {"bare_same": {"median_us": 11.0}, "nccl_direct": {"median_us": 3.6}}}
STEPS = {"hardware": "h200-sxm-141gb", "gpu": "NVIDIA H200", "torch": "2.11.0", "rows": [
    {"hidden": 1024, "layers": 24, "micro_batch": 1, "global_batch": 4, "recompute": "none", "step_s": 0.36,
     "profile": {"kernel_s": 0.12, "kernel_share_of_step": 0.3333,
                 "kinds": {"gemm": {"count": 10, "s": 0.08}, "softmax": {"count": 4, "s": 0.04}}}},
    {"hidden": 4096, "layers": 8, "micro_batch": 2, "global_batch": 8, "recompute": "none", "step_s": 0.44}]}
PREDICTED = {"runs": [{"name": "own-h200-h1024-l24-mb1-gb4-norecompute", "metric": "step_time_s", "status": "ok",
                       "step_s": 0.194, "breakdown": {"compute": 0.086, "other": 0.103, "host_launch": 0.091,
                                                      "optimizer": 0.012, "exposed_comm": 0.004}}]}


def report(folder, *extra):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        device_run_report.main([folder, *extra])
    return out.getvalue()


def main():
    with tempfile.TemporaryDirectory() as d:
        for name, doc in (("probe.json", PROBE), ("megatron-steps.json", STEPS), ("predicted.json", PREDICTED)):
            with open(os.path.join(d, name), "w") as f:
                json.dump(doc, f)
        text = report(d, "--predicted", os.path.join(d, "predicted.json"))
        lines = text.splitlines()
        assert "| case | default | flight_recorder_off |" in lines, text
        assert "| bare_same | 12.2 | 11.0 |" in lines or "| bare_same | 12.3 | 11.0 |" in lines, text
        assert "| nccl_direct | — | 3.6 |" in lines, text
        assert "| c10d::allreduce_ | 1 | 30.00 |" in lines, text
        assert any("cudaEventQuery" in l for l in lines), text
        assert not any("flight_recorder_off (" in l for l in lines), "no attribution there, no section"
        # The profiled row named as its validation row, the model's step, GPU (compute + other - host
        # wait + optimizer + exposed communication: what the kernels cover) and host wait beside the
        # kernels; the unprofiled row left out.
        row = [l for l in lines if l.startswith("| own-h200-h1024-l24-mb1-gb4-norecompute |")]
        assert row == ["| own-h200-h1024-l24-mb1-gb4-norecompute | 0.360 | 0.120 | 0.33 | 0.194 | 0.114 | 0.091 "
                       "| 0.080 | 0.040 |"], row
        assert not any("h4096" in l for l in lines), text
        # Without --predicted the model's columns are absent.
        assert "model step s" not in report(d), "no model columns without --predicted"
        # A file cut off mid-write (a run killed while it wrote, before the tools wrote whole files):
        # one line on stderr naming it, no traceback, the other file still reported, exit status 1.
        with open(os.path.join(d, "megatron-steps.json"), "w") as f:
            f.write(json.dumps(STEPS)[:57])
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                device_run_report.main([d])
            except SystemExit as e:
                assert e.code == 1, e.code
            else:
                raise AssertionError("a cut-off file makes the report exit 1")
        text = out.getvalue()
        err_lines = err.getvalue().splitlines()
        assert len(err_lines) == 1 and "megatron-steps.json" in err_lines[0] and "not whole JSON" in err_lines[0], \
            err.getvalue()
        assert "Traceback" not in err.getvalue(), err.getvalue()
        assert "## One all-reduce call's host time (median µs)" in text, "the whole probe.json still reported"
        with tempfile.TemporaryDirectory() as empty:
            try:
                report(empty)
            except SystemExit as e:
                assert "expected probe.json or megatron-steps.json" in str(e), e
            else:
                raise AssertionError("a folder without the run's files is refused")
    print("ok   device_run_report: probe, attribution and profiled steps beside the model")


if __name__ == "__main__":
    main()
