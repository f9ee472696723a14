// Tests of cost/internal/layer_gemms.h: the weight GEMMs of a layer on one rank agree with the
// model's op list (the same FLOPs at TP 1) and split as tensor, sequence and expert parallelism
// split them.
#include "preflight/cost/internal/layer_gemms.h"

#include <gtest/gtest.h>

#include <string>

#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight::cost_internal {
namespace {

using test_support::LoadArch;

double ForwardFlopsPerToken(const LayerGemms& g) {
  double flops = 0;
  for (int i = 0; i < g.size; ++i) {
    const WeightGemm& w = g.at[static_cast<size_t>(i)];
    flops += 2 * w.rows * w.k * w.n;
  }
  return flops;
}

// The op list's weight-GEMM FLOPs per token of one layer of each kind: the attention's
// projections run on every layer, the dense MLP on the dense ones, the router and the experts on
// the MoE ones.
double OpListFlops(const Architecture& a, bool moe) {
  double flops = 0;
  for (const Op& op : BuildOps(a, 4096).ops) {
    switch (op.kind) {
      case OpKind::kQkvProjection:
      case OpKind::kAttnOutProjection: flops += op.fwd_flops_per_token; break;
      case OpKind::kMlp: flops += moe ? 0 : op.fwd_flops_per_token; break;
      case OpKind::kRouter:
      case OpKind::kRoutedExperts:
      case OpKind::kSharedExperts: flops += moe ? op.fwd_flops_per_token : 0; break;
      default: break;
    }
  }
  return flops;
}

// At TP 1, with the experts' load at 1, each layer's GEMMs are the op list's: MHA with GeLU (GPT-3),
// GQA with SwiGLU (Llama 3.1 8B), MLA with shared experts (DeepSeek-V3), routed experts alone
// (Qwen3-30B-A3B, Mixtral).
TEST(LayerGemmsTest, AtTp1TheyAreTheOpListsGemms) {
  const Plan p;
  TrainingJob j;
  j.seq_len = 4096;
  for (const std::string id : {"gpt3-175b", "llama-3.1-8b", "deepseek-v3", "qwen3-30b-a3b", "mixtral-8x7b"}) {
    SCOPED_TRACE(id);
    const Architecture a = LoadArch(id);
    for (bool moe : {false, true}) {
      if (moe && !a.IsMoe()) continue;
      if (!moe && a.IsMoe() && a.MoeLayersIn(0, a.layers) == a.layers) continue;  // no dense layer
      EXPECT_NEAR(ForwardFlopsPerToken(WeightGemmsOf(a, p, j, moe)), OpListFlops(a, moe), 1e-9 * OpListFlops(a, moe));
    }
  }
}

// Tensor parallelism splits every GEMM but MLA's down-projections and the router, which SP runs on
// the rank's sequence shard; the routed experts take top-k·ETP·load/TP copies a token at 1/ETP of
// the expert width. So at TP t with SP a layer's FLOPs a token are the TP-1 figure over t, and with
// a load of 1.25 the experts' share grows by 1.25.
TEST(LayerGemmsTest, ParallelismSplitsThem) {
  const Architecture a = LoadArch("deepseek-v3");
  Plan p;
  TrainingJob j;
  j.seq_len = 4096;
  const double one = ForwardFlopsPerToken(WeightGemmsOf(a, p, j, true));
  p.tp = 8, p.sp = true, p.etp = 2;
  EXPECT_NEAR(ForwardFlopsPerToken(WeightGemmsOf(a, p, j, true)), one / 8, 1e-9 * one);
  j.moe_imbalance = 1.25;
  const double experts = 2.0 * 3 * 7168 * 2048 * 8;  // top-8 copies of a SwiGLU expert of 2,048
  EXPECT_NEAR(ForwardFlopsPerToken(WeightGemmsOf(a, p, j, true)), (one + 0.25 * experts) / 8, 1e-9 * one);
}

}  // namespace
}  // namespace preflight::cost_internal
