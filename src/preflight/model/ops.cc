#include <algorithm>

#include "preflight/base/check.h"
#include "preflight/model/model.h"

namespace preflight {

std::string_view OpKindName(OpKind kind) {
  switch (kind) {
    case OpKind::kQkvProjection: return "qkv_projection";
    case OpKind::kAttnOutProjection: return "attn_out_projection";
    case OpKind::kAttnScores: return "attn_scores";
    case OpKind::kAttnValues: return "attn_values";
    case OpKind::kMlp: return "mlp";
    case OpKind::kRouter: return "router";
    case OpKind::kRoutedExperts: return "routed_experts";
    case OpKind::kSharedExperts: return "shared_experts";
    case OpKind::kLmHead: return "lm_head";
    case OpKind::kMtpProjection: return "mtp_projection";
  }
  return "unknown";
}

namespace {

Op Gemm(OpKind kind, int64_t layers, int64_t k, int64_t n, bool expert = false) {
  Op op{kind};
  op.layers = layers;
  op.gemm_k = k;
  op.gemm_n = n;
  op.fwd_flops_per_token = 2.0 * static_cast<double>(k) * static_cast<double>(n);
  op.is_expert = expert;
  return op;
}

Op AttentionProduct(OpKind kind, int64_t layers, double flops) {
  Op op{kind};
  op.layers = layers;
  op.fwd_flops_per_token = flops;
  return op;
}

// Mean attended length per layer: the full sequence, or the window on local layers.
double MeanAttendedLength(const Architecture& a, int64_t seq_len) {
  if (a.sliding_window <= 0) return static_cast<double>(seq_len);
  double sum = 0;
  for (int64_t i = 0; i < a.layers; ++i) {
    sum += static_cast<double>(a.IsLocalAttentionLayer(i) ? std::min(seq_len, a.sliding_window)
                                                          : seq_len);
  }
  return sum / static_cast<double>(a.layers);
}

void AddAttention(const Architecture& a, int64_t layers, int64_t seq_len, std::vector<Op>* ops) {
  const int64_t h = a.hidden;
  const double s = MeanAttendedLength(a, seq_len);
  if (a.attention == AttentionKind::kMla) {
    const MlaSpec& m = a.mla;
    const int64_t qk = m.nope_dim + m.rope_dim;
    // Q path (through the q latent when there is one), KV down-projection to the latent and
    // the decoupled RoPE key, KV up-projection of all heads (the non-absorbed training path).
    if (m.q_lora_rank > 0) {
      ops->push_back(Gemm(OpKind::kQkvProjection, layers, h, m.q_lora_rank));
      ops->push_back(Gemm(OpKind::kQkvProjection, layers, m.q_lora_rank, a.heads * qk));
    } else {
      ops->push_back(Gemm(OpKind::kQkvProjection, layers, h, a.heads * qk));
    }
    ops->push_back(Gemm(OpKind::kQkvProjection, layers, h, m.kv_lora_rank + m.rope_dim));
    ops->push_back(Gemm(OpKind::kQkvProjection, layers, m.kv_lora_rank, a.heads * (m.nope_dim + m.v_dim)));
    ops->push_back(Gemm(OpKind::kAttnOutProjection, layers, a.heads * m.v_dim, h));
    ops->push_back(AttentionProduct(OpKind::kAttnScores, layers, 2.0 * s * a.heads * qk));
    ops->push_back(AttentionProduct(OpKind::kAttnValues, layers, 2.0 * s * a.heads * m.v_dim));
    return;
  }
  const int64_t q = a.heads * a.head_dim;
  const int64_t kv = a.kv_heads * a.head_dim;
  ops->push_back(Gemm(OpKind::kQkvProjection, layers, h, q + 2 * kv));
  ops->push_back(Gemm(OpKind::kAttnOutProjection, layers, q, h));
  ops->push_back(AttentionProduct(OpKind::kAttnScores, layers, 2.0 * s * q));
  ops->push_back(AttentionProduct(OpKind::kAttnValues, layers, 2.0 * s * q));
}

int64_t MlpMatrices(const Architecture& a) { return a.gated_mlp ? 3 : 2; }

}  // namespace

OpList BuildOps(const Architecture& a, int64_t seq_len) {
  CHECK(seq_len > 0) << "seq_len must be positive";
  OpList list;
  const int64_t h = a.hidden;
  const int64_t moe_layers = a.MoeLayerCount() + (a.IsMoeLayer(a.layers - 1) ? a.mtp_layers : 0);
  const int64_t all_layers = a.layers + a.mtp_layers;
  const int64_t dense_layers = all_layers - moe_layers;

  AddAttention(a, all_layers, seq_len, &list.ops);
  if (dense_layers > 0) list.ops.push_back(Gemm(OpKind::kMlp, dense_layers, h, MlpMatrices(a) * a.ffn));
  if (moe_layers > 0) {
    list.ops.push_back(Gemm(OpKind::kRouter, moe_layers, h, a.moe.experts));
    list.ops.push_back(Gemm(OpKind::kRoutedExperts, moe_layers, h,
                            MlpMatrices(a) * a.moe.expert_ffn * a.moe.top_k, /*expert=*/true));
    if (a.moe.shared_ffn > 0) {
      list.ops.push_back(Gemm(OpKind::kSharedExperts, moe_layers, h, MlpMatrices(a) * a.moe.shared_ffn));
    }
  }
  const int64_t head_width = a.embed_proj_dim > 0 ? a.embed_proj_dim : h;
  list.ops.push_back(Gemm(OpKind::kLmHead, 1 + a.mtp_layers, head_width, a.vocab));
  if (a.mtp_layers > 0) list.ops.push_back(Gemm(OpKind::kMtpProjection, a.mtp_layers, 2 * h, h));

  for (const Op& op : list.ops) {
    list.fwd_flops_per_token += op.TotalFwdFlopsPerToken();
    if (op.kind == OpKind::kAttnScores || op.kind == OpKind::kAttnValues) {
      list.attention_fwd_flops_per_token += op.TotalFwdFlopsPerToken();
    }
    if (op.kind == OpKind::kLmHead) list.head_fwd_flops_per_token += op.TotalFwdFlopsPerToken();
  }
  list.model_flops_per_token = 3.0 * list.fwd_flops_per_token;
  return list;
}

double ExpectedDomainsPerToken(const MoeSpec& moe, int64_t domains) {
  if (domains <= 1 || moe.experts <= 0 || moe.top_k <= 0) return 1;
  const bool by_group = moe.groups > 0 && moe.group_top_k > 0 && moe.groups % domains == 0;
  const double units = static_cast<double>(by_group ? moe.groups : moe.experts);
  const int64_t picks = by_group ? std::min(moe.group_top_k, moe.top_k) : moe.top_k;
  const double per_domain = units / static_cast<double>(domains);
  // Chance that a given domain holds none of the picks.
  double none = 1;
  for (int64_t i = 0; i < picks; ++i) {
    const double left = units - per_domain - static_cast<double>(i);
    none *= left > 0 ? left / (units - static_cast<double>(i)) : 0;
  }
  return static_cast<double>(domains) * (1 - none);
}

}  // namespace preflight
