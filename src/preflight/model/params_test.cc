// Tests of CountParameters (model/model.h) against published and hand-derived parameter counts.
// Exact figures: data/models/README.md and cost-model-notes §2.2; closed form: Narayanan 2021
// Eq. 2.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/model/load.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight {
namespace {

using test_support::LoadArch;

TEST(ParamsTest, ExactTotals) {
  struct Case {
    const char* id;
    int64_t total;
  };
  const Case cases[] = {
      {"llama-3.1-8b", 8'030'261'248},     {"llama-3.1-70b", 70'553'706'496},
      {"llama-3.1-405b", 405'853'388'800}, {"mixtral-8x7b", 46'702'792'704},
      {"deepseek-v3", 671'026'419'200},    {"bloom-176b", 176'247'271'424},
      {"llama-2-7b", 6'738'415'616},       {"llama-2-70b", 68'976'648'192},
      {"gpt3-175b", 174'615'846'912},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(CountParameters(LoadArch(c.id)).total, c.total) << c.id;
  }
}

// The tensors of a layer, in Megatron's layout, add up to the layer's count, for every kind of
// layer the catalog has (LayerNorm with biases, RMSNorm, GQA, QK-norm, MLA, MoE with shared
// experts and router bias).
TEST(ParamsTest, LayerParameterTensorsSumToTheLayer) {
  for (const char* id : {"gpt3-175b", "llama-3.1-8b", "bloom-176b", "qwen3-235b-a22b", "mixtral-8x7b", "deepseek-v3"}) {
    const Architecture a = LoadArch(id);
    const ParamCounts c = CountParameters(a);
    for (bool moe : {false, true}) {
      if (moe && !a.IsMoe()) continue;
      int64_t sum = 0, experts = 0;
      for (const ParamTensor& t : LayerParameterTensors(a, moe)) {
        sum += t.elements * t.count;
        if (t.expert) experts += t.elements * t.count;
      }
      EXPECT_EQ(sum, moe ? c.moe_layer : c.dense_layer) << id << (moe ? " MoE layer" : " dense layer");
      EXPECT_EQ(experts, moe ? c.routed_experts_per_moe_layer : 0) << id;
    }
  }
  // GPT-3: fused QKV weight and bias, projection weight and bias, two LayerNorms' weights and
  // biases, FC1 and FC2 weights and biases.
  EXPECT_EQ(LayerParameterTensors(LoadArch("gpt3-175b"), false).size(), 12u);
}

// cost-model-notes §2.2: Llama-3.1-8B layer by layer.
TEST(ParamsTest, Llama31_8bComponents) {
  ParamCounts p = CountParameters(LoadArch("llama-3.1-8b"));
  EXPECT_EQ(p.dense_layer, 218'112'000);  // attention 41,943,040 + MLP 176,160,768 + norms 8,192
  EXPECT_EQ(p.embedding, 128256LL * 4096);
  EXPECT_EQ(p.lm_head, 128256LL * 4096);
  EXPECT_EQ(p.final_norm, 4096);
  EXPECT_EQ(p.moe_layer, 0);
  EXPECT_EQ(p.mtp, 0);
  EXPECT_EQ(p.CheckpointTotal(), p.total);
}

// cost-model-notes §2.2: DeepSeek-V3 main model, MTP module and activated parameters.
TEST(ParamsTest, DeepSeekV3) {
  ParamCounts p = CountParameters(LoadArch("deepseek-v3"));
  EXPECT_EQ(p.total, 671'026'419'200);
  EXPECT_EQ(p.dense_layer, 583'483'392);
  EXPECT_EQ(p.moe_layer, 11'507'286'272);
  EXPECT_EQ(p.routed_experts_per_moe_layer, 256LL * 44'040'192);
  EXPECT_EQ(p.mtp, 11'610'068'224);
  EXPECT_EQ(p.TotalWithMtp(), 671'026'419'200 + 11'610'068'224);
  EXPECT_NEAR(static_cast<double>(p.active), 37.55e9, 0.01e9);
  // The checkpoint (README_WEIGHTS.md: 685B) also stores an embedding and head per MTP module.
  EXPECT_NEAR(static_cast<double>(p.CheckpointTotal()), 685e9, 685e9 * 0.005);
  EXPECT_EQ(p.mtp_stored_copies, 2LL * 129280 * 7168);
}

// Narayanan et al. 2021 Eq. 2: P = 12lh²(1 + 13/12h + (V + s)/12lh).
double NarayananEq2(double l, double h, double V, double s) {
  return 12 * l * h * h * (1 + 13 / (12 * h) + (V + s) / (12 * l * h));
}

TEST(ParamsTest, MegatronMatchesNarayananEq2) {
  struct Case {
    const char* id;
    double l, h;
  };
  const Case cases[] = {
      {"megatron-145.6b", 80, 12288},  {"megatron-1.7b", 24, 2304}, {"megatron-18.4b", 40, 6144},
      {"megatron-529.6b", 105, 20480}, {"megatron-1t", 128, 25600}, {"gpt3-175b", 96, 12288},
  };
  for (const Case& c : cases) {
    double want = NarayananEq2(c.l, c.h, 51200, 2048);
    double got = static_cast<double>(CountParameters(LoadArch(c.id)).total);
    EXPECT_NEAR(got, want, want * 1e-4) << c.id;
  }
  EXPECT_NEAR(NarayananEq2(80, 12288, 51200, 2048), 145.62e9, 0.01e9);  // the paper's own check
}

// Nominal sizes: the size in the id, or the publisher's precise figure where the id rounds it.
TEST(ParamsTest, EveryCatalogModelIsNearItsNominalSize) {
  struct Nominal {
    double billions;
    double tolerance;
    const char* why;
  };
  const std::map<std::string, Nominal> nominal = {
      {"bloom-176b", {176, 0.02, "id"}},
      {"deepseek-v2", {236, 0.02, "DeepSeek-V2 paper: 236B total"}},
      {"deepseek-v3", {671, 0.02, "id"}},
      {"gpt3-175b", {175, 0.02, "id"}},
      {"llama-2-70b", {70, 0.02, "id"}},
      {"llama-2-7b", {6.74, 0.02, "HF model card: 6.74B (the 7B in the id is rounded)"}},
      {"llama-3.1-405b", {405, 0.02, "id"}},
      {"llama-3.1-70b", {70, 0.02, "id"}},
      {"llama-3.1-8b", {8, 0.02, "id"}},
      // Narayanan Table 1 prints 1.7B; its own Eq. 2 gives 1.652B, so the table rounds by 2.8%.
      {"megatron-1.7b", {1.7, 0.03, "Narayanan Table 1 (rounded)"}},
      {"megatron-145.6b", {145.6, 0.02, "id"}},
      {"megatron-18.4b", {18.4, 0.02, "id"}},
      {"megatron-1t", {1000, 0.02, "id"}},
      {"megatron-3.6b", {3.6, 0.02, "id"}},
      {"megatron-310.1b", {310.1, 0.02, "id"}},
      {"megatron-39.1b", {39.1, 0.02, "id"}},
      {"megatron-529.6b", {529.6, 0.02, "id"}},
      {"megatron-7.5b", {7.5, 0.02, "id"}},
      {"megatron-76.1b", {76.1, 0.02, "id"}},
      {"mixtral-8x22b", {141, 0.02, "Mistral: 141B total"}},
      {"mixtral-8x7b", {46.7, 0.02, "Mistral: 46.7B total"}},
      {"nemotron-4-15b", {15.7, 0.02, "Nemotron-4 report: 12.5B non-embedding + 3.2B embedding"}},
      {"opt-175b", {175, 0.02, "id"}},
      {"qwen3-235b-a22b", {235, 0.02, "id"}},
      {"qwen3-30b-a3b", {30.5, 0.02, "Qwen model card: 30.5B total"}},
      {"gpt-oss-120b", {116.83, 0.001, "OpenAI gpt-oss model card: 116.83B total"}},
  };
  for (const std::string& id : Catalog::Default().ModelIds()) {
    auto it = nominal.find(id);
    ASSERT_NE(it, nominal.end()) << "add " << id << " to the nominal-size table";
    double got = static_cast<double>(CountParameters(LoadArch(id)).total) / 1e9;
    EXPECT_NEAR(got, it->second.billions, it->second.billions * it->second.tolerance)
        << id << " (" << it->second.why << ")";
  }
}

TEST(ParamsTest, ActiveVersusTotal) {
  for (const std::string& id : Catalog::Default().ModelIds()) {
    Architecture a = LoadArch(id);
    ParamCounts p = CountParameters(a);
    ASSERT_GT(p.total, 0) << id;
    if (a.IsMoe()) {
      EXPECT_LT(p.active, p.total) << id;
      EXPECT_GT(p.routed_experts_per_moe_layer, 0) << id;
      EXPECT_GT(a.MoeLayerCount(), 0) << id;
    } else {
      EXPECT_EQ(p.active, p.total) << id;
      EXPECT_EQ(p.moe_layer, 0) << id;
    }
  }
}

TEST(ParamsTest, MoeActiveHandDerived) {
  // Mixtral-8x7B: total minus 32 layers × 6 idle experts of 3·4096·14336.
  ParamCounts m = CountParameters(LoadArch("mixtral-8x7b"));
  EXPECT_EQ(m.active, 46'702'792'704 - 32LL * 6 * 3 * 4096 * 14336);
  // Qwen3-235B-A22B: the id's "A22B".
  ParamCounts q = CountParameters(LoadArch("qwen3-235b-a22b"));
  EXPECT_NEAR(static_cast<double>(q.active), 22e9, 22e9 * 0.02);
  // Qwen3-30B-A3B: the model card's 3.3B activated.
  ParamCounts q30 = CountParameters(LoadArch("qwen3-30b-a3b"));
  EXPECT_NEAR(static_cast<double>(q30.active), 3.3e9, 3.3e9 * 0.02);
  // gpt-oss-120b: the model card's 5.13B active, which leaves out the input embedding table.
  ParamCounts g = CountParameters(LoadArch("gpt-oss-120b"));
  EXPECT_NEAR(static_cast<double>(g.active - 201088LL * 2880), 5.13e9, 5.13e9 * 0.002);
}

TEST(ParamsTest, TiedEmbeddingsHaveNoHead) {
  ParamCounts g = CountParameters(LoadArch("gpt3-175b"));
  EXPECT_EQ(g.lm_head, 0);
  EXPECT_EQ(g.embedding, 51200LL * 12288 + 2048LL * 12288);  // tokens + learned positions
  ParamCounts b = CountParameters(LoadArch("bloom-176b"));
  EXPECT_EQ(b.lm_head, 0);
  EXPECT_EQ(b.embedding, 250880LL * 14336 + 2 * 14336);  // + the embedding LayerNorm
}

}  // namespace
}  // namespace preflight
