// File: cost/memory_test_support.h
//
// For the memory unit tests only (memory*_test.cc): the GPT models, jobs and
// plans of Korthikanti et al. 2022 and ZeRO that the closed forms are stated for.
//
//   using test_support::Gpt3;
//   LayerActivationBytes b = ActivationBytesPerLayer(Gpt3(), Tp8Pp8(true, r), KorthikantiJob());
#pragma once

#include <cstdint>

#include "preflight/model/architecture.h"
#include "preflight/parallel/plan.h"

namespace preflight::test_support {

// A GPT-2-style model as Korthikanti and ZeRO describe it: MHA, GeLU MLP of 4h, LayerNorm,
// biases, learned positions, tied embeddings, dropout.
inline Architecture Gpt(int64_t h, int64_t heads, int64_t layers, int64_t vocab,
                        int64_t positions) {
  Architecture a;
  a.name = "gpt";
  a.model_type = "gpt2";
  a.hidden = h;
  a.heads = heads;
  a.kv_heads = heads;
  a.head_dim = h / heads;
  a.ffn = 4 * h;
  a.layers = layers;
  a.vocab = vocab;
  a.max_positions = positions;
  a.position_rows = positions;
  a.activation = MlpActivation::kGelu;
  a.gated_mlp = false;
  a.norm = NormKind::kLayerNorm;
  a.qkv_bias = a.attn_out_bias = a.mlp_bias = true;
  a.tied_embeddings = true;
  a.dropout = true;
  return a;
}

// GPT-3 175B as in Korthikanti's worked example.
inline Architecture Gpt3() { return Gpt(12288, 96, 96, 51200, 2048); }

inline TrainingJob Job(int64_t seq_len, int64_t global_batch) {
  TrainingJob j;
  j.seq_len = seq_len;
  j.global_batch = global_batch;
  return j;
}

// Korthikanti's setting: unfused attention (the score matrix and its dropout mask are stored).
inline TrainingJob KorthikantiJob() {
  TrainingJob j = Job(2048, 64);
  j.flash_attention = false;
  return j;
}

inline Plan Tp8Pp8(bool sp, Recompute r) {
  Plan p;
  p.tp = 8;
  p.pp = 8;
  p.sp = sp;
  p.recompute = r;
  return p;
}

inline constexpr double kSbh = 2048.0 * 1 * 12288;  // s·b·h

}  // namespace preflight::test_support
