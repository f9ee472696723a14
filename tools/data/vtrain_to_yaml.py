#!/usr/bin/env python3
"""Convert the vTrain ground-truth CSVs into preflight validation scenarios (YAML).

Usage:
  vtrain_to_yaml.py multi  ground_truth_multi.csv  data/validation/vtrain-multi.yaml
  vtrain_to_yaml.py single ground_truth_single.csv data/validation/vtrain-single.yaml
  vtrain_to_yaml.py single --vocab vtrain ground_truth_single.csv /tmp/vtrain-single-vtrain-vocab.yaml

--vocab megatron (the default, the files in data/validation/) pads GPT-2's vocabulary as
Megatron-DeepSpeed does by default; --vocab vtrain gives each TP rank vocab // TP rows of an
unpadded 50,257, as vTrain's own simulator builds its GPT (VIA-Research/vTrain @ f8dda847,
src/model/gpt_model.py and ShardedGptLogit in src/model/gpt_modeling.py): a sensitivity of the
figures to a configuration the data set does not state (docs/validation.md).

The kind (multi | single) may be omitted; it is then taken from the CSV header
(the multi file has a "Parameters (billion)" column, the single file does not).

Python 3 standard library only. The output depends only on the input bytes:
rows keep their CSV order, numbers are converted with decimal arithmetic, and
nothing depends on the clock, the locale or hash order.

Conversions (see data/validation/README.md):
  * step_time_s = iteration time (ms) / 1000, exact decimal division.
  * vocabulary: GPT-2's 50,257 padded up to a multiple of 128 * TP (Megatron's
    --make-vocab-size-divisible-by 128, multiplied by TP); --vocab vtrain: (50,257 // TP) * TP.
  * model: inline gpt2-style HF keys, n_positions = sequence length.
  * hardware a100-sxm-80gb (memory size not stated by vTrain), 8 GPUs per node,
    4 x 200 Gb/s HDR per node -> 100 Gb/s per GPU, full recompute, 1F1B, fp16.
    Framework facts: vTrain's configs set use_gradient_bucket: false (no gradient-reduce
    overlap), and Megatron-DeepSpeed's GPT attention of the time is unfused (no FlashAttention),
    its softmax Megatron's FusedScaleMaskSoftmax (attention_softmax: megatron): the fused kernel
    where keys are over 16 and at most 2048, a multiple of 4, and micro-batch x heads / TP is a
    multiple of 4, else PyTorch's ops (the constraints of vTrain's copy of that module,
    VIA-Research/vTrain @ f8dda847 src/model/fused_softmax.py: fused_softmax_max_keys 2048), in
    fp32: Megatron-DeepSpeed's query-key layer scaling, on by default, forces
    attention_softmax_in_fp32 (megatron/model/transformer.py, CoreAttention).
    Megatron-DeepSpeed trains through DeepSpeed's engine, which accumulates the fp16 gradients of
    successive micro-batches in separate passes (no fused accumulation in that code base):
    grad_dtype fp16, grad_accumulation_fusion false; at ZeRO 0 its engine flattens the gradients
    into bucket buffers for the all-reduce and copies them back (engine.py allreduce_bucket,
    allreduce_and_copy): grad_flatten true.
  * training.host_profile: the host time of the eager Megatron GPT layer this code base runs,
    measured on a GPU host by tools/host/measure_eager_host.py --device cuda
    (data/host/megatron-deepspeed-gpt-eager-h200-gpuhost-nofr.yaml: real launches, waits and NCCL calls);
    the same profile serves the other Megatron-DeepSpeed rows (MT-NLG, BLOOM).
  * cluster.collective_table: the all-reduce times the vTrain authors measured with nccl-tests
    on their 8x A100 node (data/validation/measured/vtrain-a100-allreduce.yaml, written by
    tools/data/vtrain_allreduce_to_yaml.py); vTrain's own predictor reads the same tables for
    every A100 run. Only groups inside one node match them (2, 4 or 8 GPUs).
"""

import csv
import os
import sys
from decimal import Decimal

from atomic_write import write_text

GPT2_VOCAB = 50257
# The all-reduce table in data/validation/measured/, named relative to the output file's folder.
COLLECTIVE_TABLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "validation",
                                "measured", "vtrain-a100-allreduce.yaml")
HOST_PROFILE = "megatron-deepspeed-gpt-eager-h200-gpuhost-nofr"  # data/host/: measure_eager_host.py --device cuda, c10d flight recorder off, pooled runs

MULTI_COLS = [
    "Parameters (billion)", "# GPUs", "global batch", "micro batch", "hidden size",
    "attention heads", "# layers", "sequence length", "tensor parallelism",
    "data parallelism", "pipeline parallelism", "iteration time (ms)",
]
SINGLE_COLS = MULTI_COLS[1:]


class InputError(Exception):
    pass


def padded_vocab(tp):
    multiple = 128 * tp
    return -(-GPT2_VOCAB // multiple) * multiple


def vtrain_vocab(tp):
    """vTrain's simulator: each rank holds vocab_size // world_size rows of the unpadded vocabulary."""
    return (GPT2_VOCAB // tp) * tp


VOCABS = {"megatron": (padded_vocab, "padded to %d (multiple of 128*TP)"),
          "vtrain": (vtrain_vocab, "split as vTrain's simulator splits it, %d (vocab // TP per rank, unpadded)")}


def ms_to_s(text):
    value = Decimal(text) / Decimal(1000)
    if value <= 0:
        raise InputError("non-positive iteration time %r" % text)
    out = format(value.normalize(), "f")
    return out


def q(text):
    """Double-quoted YAML scalar."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise InputError("%s: empty file" % path)
    header = [c.strip() for c in rows[0]]
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    return header, body


def convert(kind, csv_path, vocab_kind, out_path):
    header, body = read_rows(csv_path)
    vocab_of, vocab_note = VOCABS[vocab_kind]
    table = os.path.relpath(os.path.normpath(COLLECTIVE_TABLE), os.path.dirname(os.path.abspath(out_path)))
    if kind is None:
        kind = "multi" if header and header[0] == MULTI_COLS[0] else "single"
    expected = MULTI_COLS if kind == "multi" else SINGLE_COLS
    if header != expected:
        raise InputError("%s: header %r, expected %r" % (csv_path, header, expected))
    csv_name = "ground_truth_%s.csv" % kind
    width = 3 if kind == "multi" else 4
    out = []
    out.append("# Generated by tools/data/vtrain_to_yaml.py from vTrain %s; do not edit by hand." % csv_name)
    out.append("# Measured Megatron-DeepSpeed GPT iteration times on A100 (Bang et al., MICRO 2024,")
    out.append("# repository VIA-Research/vTrain). Conversions: data/validation/README.md.")
    for n, row in enumerate(body, start=1):
        if len(row) != len(expected):
            raise InputError("%s row %d: %d fields, expected %d" % (csv_path, n, len(row), len(expected)))
        d = dict(zip(expected, (c.strip() for c in row)))
        try:
            gpus = int(d["# GPUs"])
            gb = int(d["global batch"])
            mb = int(d["micro batch"])
            h = int(d["hidden size"])
            heads = int(d["attention heads"])
            layers = int(d["# layers"])
            seq = int(d["sequence length"])
            tp = int(d["tensor parallelism"])
            dp = int(d["data parallelism"])
            pp = int(d["pipeline parallelism"])
        except ValueError as e:
            raise InputError("%s row %d: %s" % (csv_path, n, e))
        if tp * dp * pp != gpus:
            raise InputError("%s row %d: TP*DP*PP = %d != GPUs %d" % (csv_path, n, tp * dp * pp, gpus))
        if gb % (dp * mb):
            raise InputError("%s row %d: global batch %d not a multiple of DP*micro batch" % (csv_path, n, gb))
        step = ms_to_s(d["iteration time (ms)"])
        vocab = vocab_of(tp)
        if kind == "multi":
            params = d["Parameters (billion)"]
            name = "vtrain-multi-%0*d-%sb-%dgpu-tp%d-pp%d-mb%d" % (width, n, params, gpus, tp, pp, mb)
        else:
            params = None
            name = "vtrain-single-%0*d-h%d-l%d-%dgpu-tp%d-pp%d-dp%d-mb%d-gb%d" % (
                width, n, h, layers, gpus, tp, pp, dp, mb, gb)
        note = ("A100 memory size not stated by vTrain (80 GB assumed); vocab 50257 %s; iteration time %s ms"
                % (vocab_note % vocab, d["iteration time (ms)"]))
        if params is not None:
            note += "; vTrain lists %s B parameters" % params
        out.append("- name: %s" % name)
        out.append("  model: {model_type: gpt2, n_embd: %d, n_layer: %d, n_head: %d, n_positions: %d, "
                   "vocab_size: %d, activation_function: gelu}" % (h, layers, heads, seq, vocab))
        out.append("  hardware: a100-sxm-80gb")
        out.append("  cluster: {devices: %d, devices_per_node: 8, scale_out_gbits_per_s_per_device: 100, "
                   "collective_table: %s}" % (gpus, table))
        out.append("  parallel: {tp: %d, pp: %d, vpp: 1, dp: %d, cp: 1, ep: 1, sp: false, zero: 0, "
                   "schedule: 1f1b, recompute: full, overlap_grad_reduce: false, overlap_p2p_comm: false, "
                   "grad_flatten: true}" % (tp, pp, dp))
        out.append("  training: {seq_len: %d, global_batch: %d, micro_batch: %d, precision: fp16, "
                   "flash_attention: false, attention_softmax: megatron, attention_softmax_in_fp32: true, "
                   "fused_softmax_max_keys: 2048, "
                   "grad_dtype: fp16, grad_accumulation_fusion: false, host_profile: %s}"
                   % (seq, gb, mb, HOST_PROFILE))
        out.append("  measured: {step_time_s: %s}" % step)
        out.append("  source: %s" % q("vTrain %s row %d (Bang et al., MICRO 2024)" % (csv_name, n)))
        out.append("  note: %s" % q(note))
    return kind, len(body), "\n".join(out) + "\n"


def main(argv):
    args = argv[1:]
    kind = None
    vocab_kind = "megatron"
    if args and args[0] in ("multi", "single"):
        kind = args.pop(0)
    if len(args) >= 2 and args[0] == "--vocab":
        vocab_kind = args[1]
        del args[:2]
    if len(args) != 2 or vocab_kind not in VOCABS:
        sys.stderr.write("usage: vtrain_to_yaml.py [multi|single] [--vocab megatron|vtrain] INPUT.csv OUTPUT.yaml\n")
        return 2
    csv_path, out_path = args
    try:
        kind, count, text = convert(kind, csv_path, vocab_kind, out_path)
    except (OSError, InputError) as e:
        sys.stderr.write("vtrain_to_yaml: %s\n" % e)
        return 2
    write_text(out_path, text)
    sys.stderr.write("vtrain_to_yaml: %d %s rows -> %s\n" % (count, kind, out_path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
