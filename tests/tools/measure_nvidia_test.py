#!/usr/bin/env python3
"""tools/device/measure_nvidia.py's checks that need no GPU: a hardware id is refused on another GPU
(exit 2, one line naming both), let through on its own and warned of where its family is unknown;
the GEMM table it writes whole after the grid is data/gemm/'s format; and the unaligned-width
slowdowns come out of output_layer's rows as the time per column over the aligned width beside. Where PyTorch is missing
(CI), a stand-in module lets the script be imported: these functions do not use it."""
import contextlib
import io
import os
import sys
import tempfile
import types

try:
    import torch  # noqa: F401
except ImportError:  # the script's imports at its top only: torch, torch.nn.functional, torch.utils.checkpoint
    stub = types.ModuleType("torch")
    stub.nn = types.ModuleType("torch.nn")
    stub.nn.Module = object
    stub.nn.functional = types.ModuleType("torch.nn.functional")
    stub.utils = types.ModuleType("torch.utils")
    stub.utils.checkpoint = types.ModuleType("torch.utils.checkpoint")
    sys.modules.update({"torch": stub, "torch.nn": stub.nn, "torch.nn.functional": stub.nn.functional,
                        "torch.utils": stub.utils, "torch.utils.checkpoint": stub.utils.checkpoint})

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "device"))
import measure_nvidia  # noqa: E402


def main():
    ok = {"h100-sxm-80gb": ("NVIDIA H100 80GB HBM3", "NVIDIA H100 PCIe"),
          "h100-sxm-96gb-hbm2e": ("NVIDIA H100",),
          "h200-sxm-141gb": ("NVIDIA H200", "NVIDIA H200 NVL"),
          "a100-sxm-80gb": ("NVIDIA A100-SXM4-80GB",),
          "h20-96gb": ("NVIDIA H20",),
          "b200-180gb": ("NVIDIA B200",),
          "gb200-nvl72": ("NVIDIA GB200",)}
    refused = {"h200-sxm-141gb": ("NVIDIA H100 80GB HBM3", "NVIDIA H20", "NVIDIA GH200 480GB"),
               "h100-sxm-80gb": ("NVIDIA H200", "NVIDIA H800"),
               "h20-96gb": ("NVIDIA H200",),
               "b200-180gb": ("NVIDIA GB200", "NVIDIA H100 80GB HBM3")}
    for hw, names in ok.items():
        for name in names:
            assert measure_nvidia.hardware_id_mismatch(hw, name) == (None, None), (hw, name)
    for hw, names in refused.items():
        for name in names:
            refusal, warning = measure_nvidia.hardware_id_mismatch(hw, name)
            assert refusal and hw in refusal and name in refusal and warning is None, (hw, name, refusal)
    refusal, warning = measure_nvidia.hardware_id_mismatch("mi300x", "AMD Instinct MI300X")
    assert refusal is None and "mi300x" in warning, warning

    # The refusal: exit 2, one line on stderr naming the id and the GPU.
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            measure_nvidia.check_hardware_id("measure_nvidia.py", "h200-sxm-141gb", "NVIDIA H100 80GB HBM3")
        except SystemExit as e:
            assert e.code == 2, e.code
        else:
            raise AssertionError("an H200 id on an H100 is refused")
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and "h200-sxm-141gb" in lines[0] and "NVIDIA H100 80GB HBM3" in lines[0], lines
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        measure_nvidia.check_hardware_id("measure_nvidia.py", "unknown", "NVIDIA H100 80GB HBM3")
    assert "warning" in err.getvalue(), err.getvalue()

    # The GEMM table, written whole (a temporary file beside it, then renamed).
    result = {"gpu": "NVIDIA H200", "torch": "2.11.0", "cuda": "12.8", "date": "2026-12-04",
              "gemm_timing": "CUDA graphs of repeated calls", "gemm_bf16": [[256, 256, 256, 10.5], [8192, 8192, 8192, 760.0]]}
    text = measure_nvidia.gemm_yaml("h200-sxm-141gb", result)
    lines = text.splitlines()
    assert lines[0].startswith("# Measured bf16 GEMM throughput") and lines[1] == "id: h200-sxm-141gb", text
    assert lines[2].startswith('source: "tools/device/measure_nvidia.py on NVIDIA H200, torch 2.11.0'), text
    assert lines[3:] == ["clock: burst", "shapes:", "  bf16:", "    - [256, 256, 256, 10.5]",
                         "    - [8192, 8192, 8192, 760.0]"] and text.endswith("\n"), text
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "gemm-h200-sxm-141gb.yaml")
        measure_nvidia.write_text(path, text)
        assert open(path).read() == text and os.listdir(d) == ["gemm-h200-sxm-141gb.yaml"], os.listdir(d)

    # The unaligned-width figures: per shape, the time per column against the aligned width beside
    # it, on rows whose 12,564- and 6,282-column GEMMs take 2.5 and 3 times per column, 25,128 as long.
    rows = []
    for h in (1024, 2048):
        for t in (1024, 4096):
            for vocab, per_column in ((12672, 1.0), (12564, 2.5), (6400, 1.0), (6282, 3.0), (25216, 1.0), (25128, 1.0)):
                ms = per_column * vocab * h * t * 1e-12
                rows.append({"hidden": h, "tokens": t, "vocab": vocab, "forward_ms": ms, "input_gradient_ms": ms,
                             "weight_gradient_ms": ms})
    u = measure_nvidia.unaligned_width_slowdown(rows)
    assert u["eight_byte_rows"]["median"] == 2.5 and len(u["eight_byte_rows"]["ratios"]) == 4, u
    assert u["four_byte_rows"]["median"] == 3.0 and u["control"]["median"] == 1.0, u
    print("ok   measure_nvidia: hardware id against the GPU's name; the GEMM table's format; unaligned widths")


if __name__ == "__main__":
    main()
