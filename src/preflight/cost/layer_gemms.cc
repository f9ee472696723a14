// The weight GEMMs of one layer on one rank (cost/internal/layer_gemms.h).

#include "preflight/cost/internal/layer_gemms.h"

namespace preflight::cost_internal {
namespace {

// MLA (DeepSeek-V2/V3): q through its latent (or straight from the input), the shared kv latent
// with its RoPE key, kv's up-projection and the output projection. The down-projections are
// replicated over TP and run on the rank's sequence shard with SP; the latents are kept
// sequence-sharded for the up-projections' weight gradients.
void AddMla(const Architecture& a, double t, double rep, LayerGemms* g) {
  const MlaSpec& m = a.mla;
  const double h = static_cast<double>(a.hidden), heads = static_cast<double>(a.heads);
  const double qk = static_cast<double>(m.nope_dim + m.rope_dim);
  if (m.q_lora_rank > 0) {
    g->Add({.rows = 1 / rep, .k = h, .n = static_cast<double>(m.q_lora_rank)});
    g->Add({.k = static_cast<double>(m.q_lora_rank), .n = heads * qk / t, .sharded_input = true});
  } else {
    g->Add({.k = h, .n = heads * qk / t, .sharded_input = true});
  }
  g->Add({.rows = 1 / rep, .k = h, .n = static_cast<double>(m.kv_lora_rank + m.rope_dim)});
  g->Add({.k = static_cast<double>(m.kv_lora_rank), .n = heads * static_cast<double>(m.nope_dim + m.v_dim) / t,
          .sharded_input = true});
  g->Add({.k = heads * static_cast<double>(m.v_dim) / t, .n = h});
}

// A column-parallel first GEMM (its h-wide input sequence-sharded with SP) and a row-parallel
// second one, `width` wide, gated or not.
void AddMlp(const Architecture& a, double width, double t, LayerGemms* g) {
  const double h = static_cast<double>(a.hidden);
  g->Add({.k = h, .n = (a.gated_mlp ? 2.0 : 1.0) * width / t, .sharded_input = true});
  g->Add({.k = width / t, .n = h});
}

}  // namespace

LayerGemms WeightGemmsOf(const Architecture& a, const Plan& p, const TrainingJob& j, bool moe) {
  LayerGemms g;
  const double t = static_cast<double>(p.tp), rep = p.sp ? t : 1.0, h = static_cast<double>(a.hidden);
  if (a.attention == AttentionKind::kMla) {
    AddMla(a, t, rep, &g);
  } else {
    const double q = static_cast<double>(a.heads * a.head_dim);
    const double kv = static_cast<double>(a.KvHeadsAcrossTp(p.tp) * a.head_dim);
    g.Add({.k = h, .n = (q + 2 * kv) / t, .sharded_input = true});
    g.Add({.k = q / t, .n = h});
  }
  if (!moe || !a.IsMoe()) {
    AddMlp(a, static_cast<double>(a.ffn), t, &g);
    return g;
  }
  const MoeSpec& e = a.moe;
  g.Add({.rows = 1 / rep, .k = h, .n = static_cast<double>(e.experts), .sixteen_bit = true});
  // The busiest rank's routed copies, each at 1/ETP of the expert width (the step model's tokens
  // per expert, k·ETP·EP/(TP·E) per token over its E/EP experts, times the load).
  const double routed = j.MoeExpertLoad() * static_cast<double>(e.top_k) * static_cast<double>(p.etp) / t;
  const double fe = static_cast<double>(e.expert_ffn) / static_cast<double>(p.etp);
  g.Add({.rows = routed, .k = h, .n = (a.gated_mlp ? 2.0 : 1.0) * fe});
  g.Add({.rows = routed, .k = fe, .n = h});
  if (e.shared_ffn > 0) AddMlp(a, static_cast<double>(e.shared_ffn), t, &g);
  return g;
}

}  // namespace preflight::cost_internal
