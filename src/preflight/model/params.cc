#include "preflight/model/model.h"

#include <vector>

namespace preflight {
namespace {

int64_t NormParams(const Architecture& a, int64_t width) {
  return a.norm == NormKind::kLayerNorm ? 2 * width : width;
}

int64_t AttentionParams(const Architecture& a) {
  const int64_t h = a.hidden;
  if (a.attention == AttentionKind::kMla) {
    const MlaSpec& m = a.mla;
    const int64_t qk = m.nope_dim + m.rope_dim;
    int64_t q = m.q_lora_rank > 0 ? m.q_lora_rank * (h + a.heads * qk + 1) : h * a.heads * qk;
    int64_t kv = m.kv_lora_rank * (h + a.heads * (m.nope_dim + m.v_dim) + 1) + h * m.rope_dim;
    // attention_bias: transformers' DeepSeek attention biases q_a_proj, kv_a_proj_with_mqa and o_proj.
    const int64_t bias = a.qkv_bias ? m.q_lora_rank + m.kv_lora_rank + m.rope_dim + h : 0;
    return q + kv + a.heads * m.v_dim * h + bias;
  }
  const int64_t q = a.heads * a.head_dim;
  const int64_t kv = a.kv_heads * a.head_dim;
  int64_t p = h * (q + 2 * kv) + q * h;
  if (a.qkv_bias) p += q + 2 * kv;
  if (a.attn_out_bias) p += h;
  if (a.qk_norm) p += 2 * a.head_dim;
  if (a.attention_sinks) p += a.heads;
  return p;
}

int64_t MlpParams(const Architecture& a, int64_t width, bool bias) {
  const int64_t h = a.hidden;
  int64_t p = (a.gated_mlp ? 3 : 2) * h * width;
  if (bias) p += (a.gated_mlp ? 2 : 1) * width + h;
  return p;
}

int64_t RoutedExpertParams(const Architecture& a) {
  return a.moe.experts * MlpParams(a, a.moe.expert_ffn, a.moe.expert_bias);
}

// Router, its bias, shared experts and their gate: the dense part of an MoE block.
int64_t MoeDenseParams(const Architecture& a) {
  int64_t p = a.hidden * a.moe.experts;
  if (a.moe.router_bias) p += a.moe.experts;
  if (a.moe.shared_ffn > 0) p += MlpParams(a, a.moe.shared_ffn, false);
  if (a.moe.shared_gate) p += a.hidden;
  return p;
}

int64_t EmbeddingParams(const Architecture& a) {
  const int64_t width = a.embed_proj_dim > 0 ? a.embed_proj_dim : a.hidden;
  int64_t p = a.vocab * width + a.position_rows * a.hidden;
  if (a.embed_proj_dim > 0) p += 2 * a.hidden * a.embed_proj_dim;  // project_in and project_out
  if (a.embedding_norm) p += NormParams(a, a.hidden);
  return p;
}

}  // namespace

std::vector<ParamTensor> LayerParameterTensors(const Architecture& a, bool moe) {
  std::vector<ParamTensor> t;
  const int64_t h = a.hidden;
  auto replicated = [&](int64_t elements) { t.push_back({elements, false, false}); };
  auto split = [&](int64_t elements) { t.push_back({elements, false, true}); };
  for (int64_t i = 0; i < a.norms_per_layer; ++i) {
    replicated(h);
    if (a.norm == NormKind::kLayerNorm) replicated(h);
  }
  if (a.attention == AttentionKind::kMla) {
    const MlaSpec& m = a.mla;
    const int64_t qk = m.nope_dim + m.rope_dim;
    if (m.q_lora_rank > 0) {
      replicated(h * m.q_lora_rank);  // down-projections are not split by TP in Megatron
      if (a.qkv_bias) replicated(m.q_lora_rank);
      replicated(m.q_lora_rank);
      split(m.q_lora_rank * a.heads * qk);
    } else {
      split(h * a.heads * qk);
    }
    replicated(h * (m.kv_lora_rank + m.rope_dim));
    if (a.qkv_bias) replicated(m.kv_lora_rank + m.rope_dim);
    replicated(m.kv_lora_rank);
    split(m.kv_lora_rank * a.heads * (m.nope_dim + m.v_dim));
    split(a.heads * m.v_dim * h);
    if (a.qkv_bias) replicated(h);  // o_proj's, a row-parallel layer's bias
  } else {
    const int64_t q = a.heads * a.head_dim, kv = a.kv_heads * a.head_dim;
    split(h * (q + 2 * kv));
    if (a.qkv_bias) split(q + 2 * kv);
    split(q * h);
    if (a.attn_out_bias) replicated(h);  // a row-parallel layer's bias
    if (a.qk_norm) {
      replicated(a.head_dim);
      replicated(a.head_dim);
    }
    if (a.attention_sinks) split(a.heads);  // one per head, with the heads
  }
  auto mlp = [&](int64_t width, bool bias, bool expert, int64_t count) {
    const int64_t up = width * (a.gated_mlp ? 2 : 1);
    t.push_back({h * up, expert, true, count});
    if (bias) t.push_back({up, expert, true, count});
    t.push_back({width * h, expert, true, count});
    if (bias) t.push_back({h, expert, false, count});
  };
  if (!moe) {
    mlp(a.ffn, a.mlp_bias, false, 1);
    return t;
  }
  replicated(h * a.moe.experts);  // the router
  if (a.moe.router_bias) replicated(a.moe.experts);
  mlp(a.moe.expert_ffn, a.moe.expert_bias, true, a.moe.experts);
  if (a.moe.shared_ffn > 0) mlp(a.moe.shared_ffn, false, false, 1);
  if (a.moe.shared_gate) replicated(h);
  return t;
}

ParamCounts CountParameters(const Architecture& a) {
  ParamCounts c;
  const int64_t norms = a.norms_per_layer * NormParams(a, a.hidden);
  const int64_t attention = AttentionParams(a);
  c.dense_layer = attention + norms + MlpParams(a, a.ffn, a.mlp_bias);
  c.routed_experts_per_moe_layer = a.IsMoe() ? RoutedExpertParams(a) : 0;
  c.moe_layer = a.IsMoe() ? attention + norms + c.routed_experts_per_moe_layer + MoeDenseParams(a) : 0;
  auto replicated = [&](bool moe) {
    int64_t n = 0;
    for (const ParamTensor& t : LayerParameterTensors(a, moe)) {
      if (!t.expert && !t.tp_split) n += t.elements * t.count;
    }
    return n;
  };
  c.dense_layer_replicated = replicated(false);
  c.moe_layer_replicated = a.IsMoe() ? replicated(true) : 0;
  c.embedding = EmbeddingParams(a);
  c.lm_head = a.tied_embeddings ? 0 : a.vocab * (a.embed_proj_dim > 0 ? a.embed_proj_dim : a.hidden);
  c.final_norm = a.final_norm ? NormParams(a, a.hidden) : 0;

  const int64_t moe_layers = a.MoeLayerCount();
  const int64_t dense_layers = a.layers - moe_layers;
  c.total = dense_layers * c.dense_layer + moe_layers * c.moe_layer + c.embedding + c.lm_head +
            c.final_norm;
  const int64_t active_experts =
      a.IsMoe() ? a.moe.top_k * MlpParams(a, a.moe.expert_ffn, a.moe.expert_bias) : 0;
  c.active = c.total - moe_layers * (c.routed_experts_per_moe_layer - active_experts);

  if (a.mtp_layers > 0) {
    const bool last_is_moe = a.IsMoeLayer(a.layers - 1);
    const int64_t block = last_is_moe ? c.moe_layer : c.dense_layer;
    const int64_t h = a.hidden;
    // enorm + hnorm + eh_proj (2h → h) + block + shared_head.norm (DeepSeek-V3 §2.2).
    c.mtp = a.mtp_layers * (3 * NormParams(a, h) + 2 * h * h + block);
    c.mtp_stored_copies = a.mtp_layers * 2 * a.vocab * h;
  }
  return c;
}

}  // namespace preflight
