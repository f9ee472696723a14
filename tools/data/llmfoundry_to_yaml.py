#!/usr/bin/env python3
"""Convert MosaicML's MPT throughput tables into preflight validation scenarios (YAML).

Usage:
  llmfoundry_to_yaml.py data/validation/sources/llm-foundry-mpt-throughput.csv data/validation/llm-foundry.yaml

The CSV holds the rows of the four tables of mosaicml/llm-foundry
scripts/train/benchmarking/README.md @ 061f2c7c (H100 80GB BF16 and FP8, A100 80GB, A100 40GB), as
transcribed there. Before writing anything, every row is checked against itself, so that a
transcription error stops the conversion (exit 2, one line naming the row):
  * global batch = GPUs x micro-batch x accumulation;
  * NumParams = the MPT shape's count for its sequence length (below);
  * MFU = the README's formula, (6 N + 12 L d s) x tokens/s/GPU / peak, within 1% of itself
    (peaks: A100 312, H100 989 dense BF16 TFLOP/s; the FP8 table's MFU is over 1,979).

Conversions (data/validation/README.md):
  * model: the MPT shapes of llm-foundry's mpt-*.yaml (d_model, n_layers, n_heads; vocabulary 50,368,
    expansion 4), as inline gpt2 keys. The benchmark's MPT has biases, LayerNorm with bias, a learned
    position embedding of max_seq_len rows and tied embeddings: NumParams is
    V d + s d + L (12 d^2 + 13 d) + 2 d for every row, which the check above confirms. No dropout
    (MPTConfig's resid_pdrop, emb_pdrop and attn_pdrop default to 0 and the yamls set none):
    resid_pdrop 0.
  * measured: the README's Throughput (T/s/GPU) as tokens_per_s_per_device.
  * parallel: FSDP FULL_SHARD over every GPU (zero 3, dp = GPUs), activation checkpointing as
    recompute: full, else none. The FSDP is PyTorch's first (FullyShardedDataParallel, a
    FlatParameter per wrapped block; the image's PyTorch 1.13-2.x has no other): zero3_gather:
    fsdp1, whose backward concatenates each block's gradients into its flat gradient, a copy on
    the compute stream every micro-batch (added 2026-12-08, from PyTorch's code, for every FSDP1
    row alike).
  * training: Composer's FSDP mixed precision keeps fp32 parameters and gathers bf16 copies
    (weight_dtype: fp32); its sharded gradients are fp32; they are reduced in fp32 under
    MP Mode DEFAULT and in bf16 under PURE (grad_reduce_dtype). Eager PyTorch (the benchmark image
    is PyTorch 1.13.1, no torch.compile): elementwise_fusion false. The loss is llm-foundry's default
    loss_fn, fused_crossentropy (flash_attn's CrossEntropyLoss, ComposerMPTCausalLM): one kernel on
    the 16-bit logits, as the scenario default (cross_entropy: megatron) counts it. amp_fp8 rows run fp8.
  * attention: the benchmark script's is Triton FlashAttention (submit_benchmarks.py --attn_impl triton:
    llmfoundry/models/layers/flash_attn_triton.py, Dao-AILab's flash_attn_triton.py of 2022), whose
    docstring states its forward + backward slightly slower than FlashAttention's CUDA kernel. On the A100
    the catalog holds that CUDA kernel's rates (attention_kernel: fa1, the FlashAttention-2 paper's
    figures for it), the nearest measured kernel, by that docstring a little faster than the runs'. On
    the H100 no FlashAttention (first version) rate is published: the rows read the catalog's derived
    fa1 (attention_kernel: fa1), the H100's measured FlashAttention-2 rates times the A100's
    first-version / FlashAttention-2 ratios, a labelled proxy (both kernels are Ampere-era code; until
    2026-12-07 the rows read FlashAttention-2's own H100 rates, a kernel about twice as fast).
  * cluster: 8 GPUs per node; the A100 tables name 1,600 Gb/s per node of RoCE (200 Gb/s a GPU),
    the H100 tables no network (the catalog's).

The first H100 BF16 row (70B on 64 GPUs) is left out: it is public-other.yaml's mosaic-mpt70b-64xh100-fsdp
(published-runs.md), as a step time.

Python 3 standard library only; the output depends only on the input bytes.
"""

import csv
import sys

from atomic_write import write_text

VOCAB = 50368
# MPT shapes: d_model, n_layers, n_heads (llm-foundry scripts/train/yamls/pretrain/mpt-*.yaml).
SHAPES = {
    "125m": (768, 12, 12),
    "350m": (1024, 24, 16),
    "760m": (1536, 24, 12),
    "1b": (2048, 24, 16),
    "3b": (2560, 32, 20),
    "7b": (4096, 32, 32),
    "13b": (5120, 40, 40),
    "30b": (7168, 48, 56),
    "70b": (8192, 80, 64),
}
TABLES = {
    # table: (hardware, the dense peak TFLOP/s the README's MFU divides by (its GPU_AVAILABLE_FLOPS:
    # the datasheet figures of data/hardware/, A100 312 BF16, H100 989 BF16 and 1,979 FP8), precision,
    # extra training keys, cluster)
    "h100_80gb_bf16": ("h100-sxm-80gb", 989, "bf16", "attention_kernel: fa1, ", ""),
    "h100_80gb_fp8": ("h100-sxm-80gb", 1979, "fp8", "attention_kernel: fa1, ", ""),
    "a100_80gb": ("a100-sxm-80gb", 312, "bf16", "attention_kernel: fa1, ", ", scale_out_gbits_per_s_per_device: 200"),
    "a100_40gb": ("a100-sxm-40gb", 312, "bf16", "attention_kernel: fa1, ", ", scale_out_gbits_per_s_per_device: 200"),
}
# What each table's rows say of the attention rates they read (the docstring's attention bullet).
KERNEL_NOTE = {
    "a100-sxm-80gb": "FlashAttention's (CUDA, first version) published rates here",
    "a100-sxm-40gb": "FlashAttention's (CUDA, first version) published rates here",
    "h100-sxm-80gb": ("the first FlashAttention's rates derived here (its H100 FlashAttention-2 rates times the A100's "
                      "first-version / FlashAttention-2 ratios: no first-version H100 rate is published)"),
}
README = "mosaicml/llm-foundry scripts/train/benchmarking/README.md @ 061f2c7c"
LEFT_OUT = ("h100_80gb_bf16", "70b", "2048", "64")
COLUMNS = ("table", "model", "seq_len", "gpus", "mfu", "hfu", "micro_batch", "grad_accum", "global_batch",
           "tokens_per_s_per_gpu", "precision", "mp_mode", "act_ckpt", "num_params")


class RowError(Exception):
    pass


def mpt_params(d, layers, seq):
    return VOCAB * d + seq * d + layers * (12 * d * d + 13 * d) + 2 * d


def check(row, n):
    model = row["model"]
    if row["table"] not in TABLES:
        raise RowError(f"row {n}: table '{row['table']}' is not one of {', '.join(TABLES)}")
    if model not in SHAPES:
        raise RowError(f"row {n}: model '{model}' is not one of {', '.join(SHAPES)}")
    d, layers, _ = SHAPES[model]
    seq, gpus = int(row["seq_len"]), int(row["gpus"])
    mb, ga, gb = int(row["micro_batch"]), int(row["grad_accum"]), int(row["global_batch"])
    if gpus * mb * ga != gb:
        raise RowError(f"row {n}: global_batch {gb} is not gpus x micro_batch x grad_accum = {gpus * mb * ga}")
    params = mpt_params(d, layers, seq)
    if params != int(row["num_params"]):
        raise RowError(f"row {n}: num_params {row['num_params']} is not the MPT-{model} count {params} at seq {seq}")
    peak = TABLES[row["table"]][1] * 1e12
    mfu = (6 * params + 12 * layers * d * seq) * int(row["tokens_per_s_per_gpu"]) / peak * 100
    if abs(mfu / float(row["mfu"]) - 1) > 0.01:
        raise RowError(f"row {n}: mfu {row['mfu']} is not the README's formula's {mfu:.2f} from its throughput")
    if row["act_ckpt"] not in ("True", "False"):
        raise RowError(f"row {n}: act_ckpt '{row['act_ckpt']}' is not True or False")
    if row["mp_mode"] not in ("DEFAULT", "PURE"):
        raise RowError(f"row {n}: mp_mode '{row['mp_mode']}' is not DEFAULT or PURE")


def scenario(row, n):
    hardware, _, precision, extra, cluster = TABLES[row["table"]]
    d, layers, heads = SHAPES[row["model"]]
    seq, gpus = row["seq_len"], row["gpus"]
    recompute = "full" if row["act_ckpt"] == "True" else "none"
    reduce_dtype = "fp32" if row["mp_mode"] == "DEFAULT" else "bf16"
    name = (f"llmfoundry-{row['table'].replace('_', '-')}-mpt-{row['model']}-{gpus}gpu-s{seq}"
            f"-mb{row['micro_batch']}-gb{row['global_batch']}")
    tokens = int(row["global_batch"]) * int(seq)
    return "\n".join([
        f"- name: {name}",
        f"  model: {{model_type: gpt2, n_embd: {d}, n_layer: {layers}, n_head: {heads}, n_positions: {seq}, "
        f"vocab_size: {VOCAB}, activation_function: gelu, resid_pdrop: 0.0}}",
        f"  hardware: {hardware}",
        f"  cluster: {{devices: {gpus}, devices_per_node: 8{cluster}}}",
        f"  parallel: {{tp: 1, pp: 1, vpp: 1, dp: {gpus}, cp: 1, ep: 1, sp: false, zero: 3, zero3_gather: fsdp1, "
        f"schedule: 1f1b, recompute: {recompute}}}",
        f"  training: {{seq_len: {seq}, global_batch: {row['global_batch']}, micro_batch: {row['micro_batch']}, "
        f"precision: {precision}, {extra}elementwise_fusion: false, weight_dtype: fp32, "
        f"grad_dtype: fp32, grad_reduce_dtype: {reduce_dtype}}}",
        f"  measured: {{tokens_per_s_per_device: {row['tokens_per_s_per_gpu']}}}",
        f"  source: \"{README}, table {row['table']}, row {n}\"",
        f"  note: \"Composer FSDP FULL_SHARD, {row['precision']}, MP Mode {row['mp_mode']}, activation checkpointing "
        f"{row['act_ckpt']}, {row['grad_accum']} micro-batches a step ({tokens} tokens); published MFU {row['mfu']}%, "
        f"HFU {row['hfu']}%, {row['num_params']} parameters (the MPT count for this shape and sequence). "
        f"Triton FlashAttention in the run, {KERNEL_NOTE[hardware]}.\"",
    ])


def convert(text):
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    reader = csv.DictReader(lines)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise RowError(f"header: expected the columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    rows = list(reader)
    out = [
        "# Generated by tools/data/llmfoundry_to_yaml.py from data/validation/sources/llm-foundry-mpt-throughput.csv;",
        "# do not edit by hand. MPT training throughput measured by MosaicML (Composer, PyTorch FSDP), from",
        f"# {README}. Conversions: the tool's docstring and data/validation/README.md.",
    ]
    counts = {}
    for n, row in enumerate(rows, start=1):
        check(row, n)
        counts[row["table"]] = counts.get(row["table"], 0) + 1
        if (row["table"], row["model"], row["seq_len"], row["gpus"]) == LEFT_OUT:
            continue
        out.append(scenario(row, counts[row["table"]]))
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    try:
        with open(argv[1], encoding="utf-8") as f:
            text = convert(f.read())
    except (OSError, RowError, KeyError, ValueError) as e:
        print(f"{argv[1]}: {e}", file=sys.stderr)
        return 2
    write_text(argv[2], text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
