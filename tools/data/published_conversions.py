#!/usr/bin/env python3
"""Recompute every derived number used in the hand-written validation files
(megatron-2021.yaml, korthikanti-2022.yaml, public-other.yaml, memory.yaml, flash-attention.yaml).

Python 3 standard library only; prints one line per derived value with the inputs,
so that a reviewer can check the YAML against the published figures.
Formulas and sources: data/validation/README.md.
"""

A100_PEAK = 312e12  # A100 16-bit dense peak, Narayanan 2021 section 5


def narayanan_eq3(B, s, l, h, V):
    """Iteration FLOPs with full recompute (Narayanan 2021 Eq. 3)."""
    return 96 * B * s * l * h * h * (1 + s / (6 * h) + V / (16 * l * h))


def korthikanti_model(B, s, L, h, V):
    """Model FLOPs per iteration (Korthikanti 2022 App. A Eq. 7)."""
    return 72 * B * L * s * h * h * (1 + s / (6 * h) + V / (12 * h * L))


def maxtext_scales(scale):
    """MaxText get_individual_scales: (emb, heads, mlp, layers) exponents of 2 for a global scale."""
    log2 = scale.bit_length() - 1
    base, rem = divmod(log2, 3)
    heads = base + int(rem > 0)
    return base + int(rem > 1), heads, heads, base


def maxtext_tflops(B, S, E, M, H, KV, hd, V, L, activations=2):
    """MaxText calculate_tflops_training_per_device (non-causal attention, LM head counted)."""
    ffn = 2 * B * S * M * E * activations + 2 * B * S * M * E
    qkv = 2 * B * S * E * (H + 2 * KV) * hd
    proj = 2 * B * S * E * H * hd
    attention = 4 * B * S * S * H * hd
    embedding = 2 * B * S * E * V
    return (((ffn + qkv + proj) * L + embedding) * 3 + attention * L * 3) / 1e12


def flash_attn_gpt_params(d, L, s, V=50264):
    """flash_attn's GPT-2-shaped GPT3 (learned positions, biases, LayerNorm, tied embeddings)."""
    return V * d + s * d + L * (12 * d * d + 13 * d) + 2 * d


def main():
    print("# Narayanan 2021 Table 1: step = Eq.3 FLOPs / (GPUs * TF/s)")
    V, s = 51200, 2048
    table1 = [  # name, l, h, GPUs, B, TF/s
        ("1.7b", 24, 2304, 32, 512, 137), ("3.6b", 30, 3072, 64, 512, 138),
        ("7.5b", 36, 4096, 128, 512, 142), ("18.4b", 40, 6144, 256, 1024, 135),
        ("39.1b", 48, 8192, 512, 1536, 138), ("76.1b", 60, 10240, 1024, 1792, 140),
        ("145.6b", 80, 12288, 1536, 2304, 148), ("310.1b", 96, 16384, 1920, 2160, 155),
        ("529.6b", 105, 20480, 2520, 2520, 163), ("1t", 128, 25600, 3072, 3072, 163),
    ]
    for name, l, h, n, B, x in table1:
        F = narayanan_eq3(B, s, l, h, V)
        print("T1 %-7s F=%.6e  step=%.4f s" % (name, F, F / (n * x * 1e12)))
    print("# Narayanan 2021 Table 2 (same Eq. 3 conversion)")
    table2 = [  # label, l, h, GPUs, B, TF/s
        ("zero3-175b-384", 96, 12288, 384, 1536, 144), ("zero3-175b-768", 96, 12288, 768, 1536, 88),
        ("zero3-175b-1536", 96, 12288, 1536, 1536, 44),
        ("zero3-530b-640", 105, 20480, 640, 2560, 138), ("zero3-530b-1120", 105, 20480, 1120, 2240, 98),
        ("zero3-530b-2240", 105, 20480, 2240, 2240, 48),
        ("ptdp-175b-384", 96, 12288, 384, 1536, 153), ("ptdp-175b-768", 96, 12288, 768, 1536, 149),
        ("ptdp-175b-1536", 96, 12288, 1536, 1536, 141),
        ("ptdp-530b-560", 105, 20480, 560, 2240, 171), ("ptdp-530b-1120", 105, 20480, 1120, 2240, 167),
        ("ptdp-530b-2240", 105, 20480, 2240, 2240, 159),
    ]
    for name, l, h, n, B, x in table2:
        F = narayanan_eq3(B, s, l, h, V)
        print("T2 %-16s F=%.6e  step=%.4f s" % (name, F, F / (n * x * 1e12)))

    print("# Korthikanti 2022: 530B DP8 full recompute from abstract MFU 42.1%")
    F = korthikanti_model(2240, 2048, 105, 20480, 51200)
    print("KOR 530b-dp8 full: model F=%.6e step=%.4f s (check present: MFU at 39.15 s = %.4f)"
          % (F, F / (2240 * A100_PEAK * 0.421), F / 39.15 / 2240 / A100_PEAK))

    print("# Throughput -> step time: step = global_batch * seq / (tok/s/device * devices)")
    tps = [  # label, GBS, seq, devices, tok/s/device
        ("nemo-gpt3-175b-512-fp8", 2048, 2048, 512, 782),
        ("nemo-llama2-70b-64-fp8", 128, 4096, 64, 1707),
        ("nemo-gpt3-5b-64-fp8", 2048, 2048, 64, 22521),
        ("nemo-gpt3-20b-64-fp8", 256, 2048, 64, 5851),
        ("nemo-gpt3-175b-128-fp8", 256, 2048, 128, 726),
        ("nemo-llama2-7b-8-fp8", 128, 4096, 8, 16847),
        ("nemo-llama2-13b-16-fp8", 128, 4096, 16, 8646),
        ("nemo-nemotron-8b-64-fp8", 256, 4096, 64, 12701),
        ("nemo-nemotron-22b-64-fp8", 256, 4096, 64, 4256),
        ("nemo-nemotron-340b-128-fp8", 32, 4096, 128, 322),
        ("nemo-llama3-8b-8-fp8", 128, 8192, 8, 12036),
        ("nemo-llama3-70b-64-fp8", 128, 8192, 64, 1533),
        ("mbridge-llama3-8b-8xb200-fp8cs", 128, 8192, 8, 30624),
        ("mbridge-llama31-405b-128xb200-fp8cs", 64, 8192, 128, 661),
        ("mbridge-llama3-8b-8xgb200-fp8cs", 128, 8192, 8, 31508),
        ("mbridge-llama3-70b-64xgb200-fp8cs", 256, 8192, 64, 4312),
        ("mbridge-llama31-405b-256xgb200-fp8cs", 1536, 8192, 256, 813),
        ("mbridge-llama3-8b-8xgb300-fp8cs", 128, 8192, 8, 37556),
        ("mbridge-llama3-70b-64xgb300-fp8cs", 256, 8192, 64, 4520),
        ("mbridge-llama3-70b-64xh100-fp8cs", 128, 8192, 64, 1602),
        ("mbridge-llama3-8b-8xh100-fp8cs", 128, 8192, 8, 14451),
        ("mbridge-llama31-405b-1024xh100-fp8cs", 512, 8192, 1024, 292),
        ("mbridge-qwen3-30b-a3b-8xgb300-fp8mx", 512, 4096, 8, 28934),
        ("mbridge-dsv3-1024-fp8", 8192, 4096, 1024, 1297),
        ("mbridge-dsv3-1024-fp8-blockwise", 8192, 4096, 1024, 1297 * 330 / 338),
        ("ibm-fsdp-llama2-7b-a100-128", 256, 4096, 128, 3700),
        ("ibm-fsdp-llama2-70b-a100-128", 256, 4096, 128, 370),
        ("ibm-fsdp-llama2-70b-h100-96", 192, 4096, 96, 800),
        ("mosaic-mpt70b-h100-64", 2048, 2048, 64, 1039),
        ("mtnlg-530b-2240", 1920, 2048, 2240, 65430 / 2240),
    ]
    for name, gb, sq, n, t in tps:
        print("TPS %-32s tok/s/dev=%.4f step=%.4f s" % (name, t, gb * sq / (t * n)))

    print("# MaxText v5p README: step = MaxText TFLOP per chip per step / (MFU * 459 TF/s)")
    for scale, pdb, mfu in ((32, 7, 0.7147), (64, 3, 0.7031), (128, 1, 0.6868), (256, 1, 0.6709), (512, 2, 0.6399)):
        e, h, m, l = maxtext_scales(scale)  # over base.yml: emb 2048, 16 heads, MLP 7168, 16 layers
        E, H, M, L = 2048 << e, 16 << h, 7168 << m, 16 << l
        F = maxtext_tflops(pdb, 2048, E, M, H, H, 128, 32000, L)
        params = L * (4 * E * H * 128 + 3 * E * M) + 2 * 32000 * E
        print("maxtext-%db: emb %d heads %d mlp %d layers %d  %.1fB params  F=%.2f TFLOP/chip  step=%.4f s"
              % (scale, E, H, M, L, params / 1e9, F, F / (mfu * 459)))
    print("# MaxText v5e README (one v5e-256 slice, FSDP 256): step = TFLOP per chip per step / (MFU * 197 TF/s)")
    for scale, pdb, mfu in ((16, 6, 0.6110), (32, 4, 0.6686), (64, 2, 0.5990)):
        e, h, m, l = maxtext_scales(scale)
        E, H, M, L = 2048 << e, 16 << h, 7168 << m, 16 << l
        F = maxtext_tflops(pdb, 2048, E, M, H, H, 128, 32000, L)
        params = L * (4 * E * H * 128 + 3 * E * M) + 2 * 32000 * E
        print("maxtext-v5e-%db: emb %d heads %d mlp %d layers %d  %.1fB params  F=%.2f TFLOP/chip  step=%.4f s"
              % (scale, E, H, M, L, params / 1e9, F, F / (mfu * 197)))
    print("# FlashAttention-2 paper Table 1 (8 A100 80GB): tok/s/dev = TFLOP/s / (6 N + 12 L d s),")
    print("# the paper's FLOPs per token, N = V d + s d + L (12 d^2 + 13 d) + 2 d (GPT-2 shape, V 50,264)")
    for model, d, L, s, fa1, fa2 in (("gpt3-1.3b", 2048, 24, 2048, 189, 196), ("gpt3-1.3b", 2048, 24, 8192, 170, 220),
                                     ("gpt3-2.7b", 2560, 32, 2048, 189, 205), ("gpt3-2.7b", 2560, 32, 8192, 175, 225)):
        N = flash_attn_gpt_params(d, L, s)
        per_token = 6 * N + 12 * L * d * s
        for kernel, tf in (("fa1", fa1), ("fa2", fa2)):
            print("fa2paper-%s-8xa100-s%d-%s: N=%d  %.4e FLOP/token  tok/s/dev=%.0f" % (model, s, kernel, N, per_token, tf * 1e12 / per_token))
    print("# flash-attention training/README.md speed table: tokens/s over 8 A100s -> per device")
    for model, tps in (("gpt3-125m", 1310e3), ("gpt3-355m", 503e3), ("gpt3-760m", 245e3)):
        print("flashattn-readme-%s-8xa100-s2048: tok/s/dev=%.0f" % (model, tps / 8))
    print("# GPU-hours -> device_hours_per_trillion_tokens")
    print("bloom-176b: 1082990 h / 0.366 T tokens = %.0f" % (1082990 / 0.366))
    print("deepseek-v3: 180000 (stated per trillion tokens)")

    print("# Memory: decimal GB -> GiB")
    print("bloom 60 GB = %.3f GiB" % (60e9 / 2**30))


if __name__ == "__main__":
    main()
