// Tests of BuildOps (model/model.h): FLOPs per token against the worked examples of
// cost-model-notes §1.7 and the closed forms of Korthikanti et al. 2022 App. A.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/model/load.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight {
namespace {

using test_support::LoadArch;

// Sum of TotalFwdFlopsPerToken over the ops of `kind`.
double FwdOf(const OpList& ops, OpKind kind) {
  double sum = 0;
  for (const Op& op : ops.ops) {
    if (op.kind == kind) sum += op.TotalFwdFlopsPerToken();
  }
  return sum;
}

const Op* Find(const OpList& ops, OpKind kind) {
  for (const Op& op : ops.ops) {
    if (op.kind == kind) return &op;
  }
  return nullptr;
}

// cost-model-notes §1.7: Llama-3.1-8B, s = 8192, full counting.
TEST(OpsTest, Llama31_8bWorkedExample) {
  OpList ops = BuildOps(LoadArch("llama-3.1-8b"), 8192);
  EXPECT_NEAR(ops.model_flops_per_token, 5.791e10, 5.791e10 * 1e-3);
  EXPECT_NEAR(ops.fwd_flops_per_token, 19.30e9, 0.01e9);
  EXPECT_DOUBLE_EQ(ops.model_flops_per_token, 3 * ops.fwd_flops_per_token);
  EXPECT_NEAR(FwdOf(ops, OpKind::kLmHead), 1050.67e6, 0.01e6);
  // Per layer: Q 33.55M + KV 16.78M + O 33.55M + MLP 352.32M = 436.21M linear; core 134.22M.
  const double linear = FwdOf(ops, OpKind::kQkvProjection) +
                        FwdOf(ops, OpKind::kAttnOutProjection) + FwdOf(ops, OpKind::kMlp);
  EXPECT_NEAR(linear / 32, 436.21e6, 0.01e6);
  EXPECT_NEAR(ops.attention_fwd_flops_per_token / 32, 134.22e6, 0.01e6);
  EXPECT_NEAR(FwdOf(ops, OpKind::kMlp) / 32, 352.32e6, 0.01e6);
  // No MoE pieces in a dense model.
  EXPECT_EQ(Find(ops, OpKind::kRouter), nullptr);
  EXPECT_EQ(Find(ops, OpKind::kRoutedExperts), nullptr);
  EXPECT_EQ(Find(ops, OpKind::kMtpProjection), nullptr);
}

// Korthikanti 2022 App. A Eq. 7: model FLOPs per iteration = 72·B·L·s·h²(1 + s/6h + V/12hL).
TEST(OpsTest, Gpt3ClosedForm) {
  const double B = 64, L = 96, s = 2048, h = 12288, V = 51200;
  const double per_iteration = 72 * B * L * s * h * h * (1 + s / (6 * h) + V / (12 * h * L));
  OpList ops = BuildOps(LoadArch("gpt3-175b"), 2048);
  EXPECT_NEAR(ops.model_flops_per_token * B * s, per_iteration, per_iteration * 0.005);
}

// The MFU convention of ARCHITECTURE.md: 6·(non-embedding matmul params) + attention over the full
// sequence. A tied head is the embedding matrix doing a GEMM, so it counts once.
TEST(OpsTest, DenseModelsFollowSixNPlusAttention) {
  int dense = 0;
  for (const std::string& id : Catalog::Default().ModelIds()) {
    Architecture a = LoadArch(id);
    if (a.IsMoe()) continue;
    ++dense;
    for (int64_t seq : {2048, 8192}) {
      ParamCounts p = CountParameters(a);
      OpList ops = BuildOps(a, seq);
      const double head = a.tied_embeddings ? static_cast<double>(a.vocab) * a.hidden : 0;
      const double want = 6 * (static_cast<double>(p.active - p.embedding) + head) +
                          3 * ops.attention_fwd_flops_per_token;
      EXPECT_NEAR(ops.model_flops_per_token, want, want * 0.005) << id << " seq " << seq;
      EXPECT_NEAR(ops.attention_fwd_flops_per_token, 4.0 * a.layers * a.heads * a.head_dim * seq,
                  1.0)
          << id << ": full (non-causal) score and value products";
    }
  }
  EXPECT_GE(dense, 19);
}

TEST(OpsTest, MoeModelsFollowSixNActivePlusAttention) {
  for (const char* id : {"mixtral-8x7b", "mixtral-8x22b", "qwen3-235b-a22b", "deepseek-v2"}) {
    Architecture a = LoadArch(id);
    ParamCounts p = CountParameters(a);
    OpList ops = BuildOps(a, 4096);
    const double want =
        6 * static_cast<double>(p.active - p.embedding) + 3 * ops.attention_fwd_flops_per_token;
    EXPECT_NEAR(ops.model_flops_per_token, want, want * 0.005) << id;
  }
}

// cost-model-notes §1.7: DeepSeek-V3 at s = 4096 is 2.600e11 per token in Megatron's causal count,
// which leaves out the router and half of the core attention (3.121e10 causal).
TEST(OpsTest, DeepSeekV3Structure) {
  Architecture a = LoadArch("deepseek-v3");
  ASSERT_EQ(a.mtp_layers, 1);
  OpList ops = BuildOps(a, 4096);
  const double h = 7168, E = 256, moe_layers_with_mtp = 58 + 1;
  const double router = 6 * h * E * moe_layers_with_mtp;
  const double want = 2.600e11 + 3.121e10 + router;
  EXPECT_NEAR(ops.model_flops_per_token, want, want * 0.003);

  const Op* router_op = Find(ops, OpKind::kRouter);
  ASSERT_NE(router_op, nullptr);
  EXPECT_EQ(router_op->layers, 59);
  EXPECT_FALSE(router_op->is_expert);
  const Op* experts = Find(ops, OpKind::kRoutedExperts);
  ASSERT_NE(experts, nullptr);
  EXPECT_TRUE(experts->is_expert);
  EXPECT_EQ(experts->layers, 59);
  EXPECT_DOUBLE_EQ(experts->fwd_flops_per_token, 2 * h * 3 * 2048 * 8);
  const Op* shared = Find(ops, OpKind::kSharedExperts);
  ASSERT_NE(shared, nullptr);
  EXPECT_FALSE(shared->is_expert);
  EXPECT_DOUBLE_EQ(shared->fwd_flops_per_token, 2 * h * 3 * 2048);
  const Op* mlp = Find(ops, OpKind::kMlp);
  ASSERT_NE(mlp, nullptr);
  EXPECT_EQ(mlp->layers, 3) << "first_k_dense_replace = 3";
  const Op* head = Find(ops, OpKind::kLmHead);
  ASSERT_NE(head, nullptr);
  EXPECT_EQ(head->layers, 2) << "main head + one MTP head";
  const Op* eh = Find(ops, OpKind::kMtpProjection);
  ASSERT_NE(eh, nullptr);
  EXPECT_DOUBLE_EQ(eh->TotalFwdFlopsPerToken(), 2 * 2 * h * h);
  for (const Op& op : ops.ops) {
    EXPECT_EQ(op.is_expert, op.kind == OpKind::kRoutedExperts) << OpKindName(op.kind);
  }
  // Attention over 61 + 1 layers: MLA scores over qk = 192, values over v = 128 per head.
  EXPECT_DOUBLE_EQ(ops.attention_fwd_flops_per_token, 62 * 2.0 * 4096 * 128 * (192 + 128));

  // MTP adds work: the same model without its MTP module is cheaper by about 4% (notes §1.7).
  Architecture no_mtp = a;
  no_mtp.mtp_layers = 0;
  OpList base = BuildOps(no_mtp, 4096);
  EXPECT_LT(base.model_flops_per_token, ops.model_flops_per_token);
  EXPECT_EQ(Find(base, OpKind::kMtpProjection), nullptr);
  EXPECT_NEAR(ops.model_flops_per_token / base.model_flops_per_token, 1.04, 0.02);
}

TEST(OpsTest, SumsAreConsistent) {
  for (const std::string& id : Catalog::Default().ModelIds()) {
    OpList ops = BuildOps(LoadArch(id), 4096);
    double fwd = 0, attention = 0;
    for (const Op& op : ops.ops) {
      EXPECT_GT(op.layers, 0) << id;
      EXPECT_GT(op.fwd_flops_per_token, 0) << id << " " << OpKindName(op.kind);
      fwd += op.TotalFwdFlopsPerToken();
      if (op.kind == OpKind::kAttnScores || op.kind == OpKind::kAttnValues)
        attention += op.TotalFwdFlopsPerToken();
    }
    EXPECT_NEAR(ops.fwd_flops_per_token, fwd, fwd * 1e-12) << id;
    EXPECT_NEAR(ops.attention_fwd_flops_per_token, attention, attention * 1e-12) << id;
    EXPECT_DOUBLE_EQ(ops.model_flops_per_token, 3 * ops.fwd_flops_per_token) << id;
  }
}

// model.h: "For weight GEMMs ... summed so that 2·k·n == fwd_flops_per_token (k = 0 for the
// attention products)".
TEST(OpsTest, GemmShapeMatchesFlops) {
  for (const std::string& id : Catalog::Default().ModelIds()) {
    OpList ops = BuildOps(LoadArch(id), 4096);
    for (const Op& op : ops.ops) {
      const bool product = op.kind == OpKind::kAttnScores || op.kind == OpKind::kAttnValues;
      if (product) {
        EXPECT_EQ(op.gemm_k, 0) << id;
        continue;
      }
      EXPECT_GT(op.gemm_k, 0) << id << " " << OpKindName(op.kind);
      EXPECT_EQ(2.0 * static_cast<double>(op.gemm_k) * static_cast<double>(op.gemm_n),
                op.fwd_flops_per_token)
          << id << " " << OpKindName(op.kind) << ": k " << op.gemm_k << " n " << op.gemm_n;
    }
  }
}

TEST(OpsTest, AttentionGrowsWithSequenceOnlyThere) {
  Architecture a = LoadArch("llama-3.1-70b");
  OpList s1 = BuildOps(a, 4096);
  OpList s2 = BuildOps(a, 8192);
  EXPECT_DOUBLE_EQ(s2.attention_fwd_flops_per_token, 2 * s1.attention_fwd_flops_per_token);
  EXPECT_DOUBLE_EQ(s2.fwd_flops_per_token - s2.attention_fwd_flops_per_token,
                   s1.fwd_flops_per_token - s1.attention_fwd_flops_per_token);
}

// Nodes a token's experts fall in under balanced routing (cost-model-notes §4.6).
TEST(OpsTest, ExpectedDomainsPerToken) {
  MoeSpec v3;
  v3.experts = 256, v3.top_k = 8, v3.groups = 8, v3.group_top_k = 4;
  // Eight nodes, one group each: the 4 groups chosen, each taken to receive one of the token's
  // experts (DeepSeek-V3's node-limited routing: at most 4 nodes).
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(v3, 8), 4.0);
  // Two nodes of four groups each: a node holds none of the 4 groups with chance C(4,4)/C(8,4).
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(v3, 2), 2 * (1 - 1.0 / 70));
  // Groups that do not nest in the domains: the experts themselves, 8 of 256 over 3 domains.
  double none = 1;
  for (int i = 0; i < 8; ++i) none *= (256 - 256.0 / 3 - i) / (256.0 - i);
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(v3, 3), 3 * (1 - none));
  MoeSpec qwen3;
  qwen3.experts = 128, qwen3.top_k = 8;
  none = 1;
  for (int i = 0; i < 8; ++i) none *= (96.0 - i) / (128.0 - i);
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(qwen3, 4), 4 * (1 - none));
  EXPECT_NEAR(ExpectedDomainsPerToken(qwen3, 4), 3.63, 0.01);
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(qwen3, 1), 1.0);
  MoeSpec all;
  all.experts = 8, all.top_k = 8;
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(all, 2), 2.0) << "every expert, so every domain";
  MoeSpec few = v3;
  few.top_k = 2;  // fewer experts than groups: at most 2 groups can receive one
  EXPECT_DOUBLE_EQ(ExpectedDomainsPerToken(few, 8), 2.0);
}

TEST(OpsTest, OpKindNamesAreDistinct) {
  const OpKind kinds[] = {OpKind::kQkvProjection, OpKind::kAttnOutProjection,
                          OpKind::kAttnScores,    OpKind::kAttnValues,
                          OpKind::kMlp,           OpKind::kRouter,
                          OpKind::kRoutedExperts, OpKind::kSharedExperts,
                          OpKind::kLmHead,        OpKind::kMtpProjection};
  std::set<std::string> names;
  for (OpKind k : kinds) {
    std::string n(OpKindName(k));
    EXPECT_NE(n, "unknown");
    EXPECT_TRUE(names.insert(n).second) << n;
  }
}

TEST(OpsDeathTest, NonPositiveSequenceAborts) {
  Architecture a = LoadArch("llama-2-7b");
  EXPECT_DEATH((void)BuildOps(a, 0), "seq_len");
}

}  // namespace
}  // namespace preflight
