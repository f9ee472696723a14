// Tests of ArchitectureFromHfConfig (model/hf_config.h): one inline config.json per supported
// model_type, the fields it yields, and parameter counts derived by hand (or published by the
// model's authors: GPT-2 small, OPT-125m/350m, BLOOM-560m, Pythia-70m, Falcon-7B, Gemma-2-2B,
// Qwen1.5-MoE-A2.7B, DeepSeek-V2-Lite). Error messages of bad fields: hf_config_error_test.cc.
#include "preflight/model/hf_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/model/model.h"

namespace preflight {
namespace {

using json = nlohmann::json;

Architecture Parse(const std::string& text) {
  StatusOr<Architecture> a = ArchitectureFromHfConfig(json::parse(text), "test-model", "test.json");
  EXPECT_TRUE(a.ok()) << a.status().message();
  return a.ok() ? *a : Architecture{};
}

// ---------------------------------------------------------------------------------------------
// llama / mistral / mixtral

constexpr const char* kLlama =
    R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 32,
  "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
  "vocab_size": 128256,
  "max_position_embeddings": 131072, "hidden_act": "silu", "tie_word_embeddings": false})";

TEST(HfConfigTest, Llama) {
  Architecture a = Parse(kLlama);
  EXPECT_EQ(a.name, "test-model");
  EXPECT_EQ(a.source, "test.json");
  EXPECT_EQ(a.model_type, "llama");
  EXPECT_EQ(a.hidden, 4096);
  EXPECT_EQ(a.layers, 32);
  EXPECT_EQ(a.heads, 32);
  EXPECT_EQ(a.kv_heads, 8);
  EXPECT_EQ(a.head_dim, 128);
  EXPECT_EQ(a.ffn, 14336);
  EXPECT_EQ(a.vocab, 128256);
  EXPECT_EQ(a.max_positions, 131072);
  EXPECT_EQ(a.activation, MlpActivation::kSilu);
  EXPECT_TRUE(a.gated_mlp);
  EXPECT_EQ(a.norm, NormKind::kRmsNorm);
  EXPECT_FALSE(a.tied_embeddings);
  EXPECT_FALSE(a.qkv_bias);
  EXPECT_FALSE(a.IsMoe());
  EXPECT_TRUE(a.moe_layer.empty());
  EXPECT_EQ(a.attention, AttentionKind::kStandard);
  EXPECT_EQ(a.position_rows, 0);
  EXPECT_FALSE(a.dropout);
  EXPECT_EQ(CountParameters(a).total, 8'030'261'248);
}

// The keys a config is read for: what a `--set model.KEY` what-if may change. A key of another
// model_type (MoE sizes on a dense Llama) or a misspelling is not among them.
TEST(HfConfigTest, KeysReadAreThoseOfTheModelType) {
  const json llama = json::parse(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
      "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "num_hiden_layers": 3})");
  const std::set<std::string> keys = HfConfigKeysRead(llama);
  for (const char* k : {"model_type", "hidden_size", "num_hidden_layers", "num_attention_heads",
                        "num_key_value_heads", "intermediate_size", "vocab_size", "tie_word_embeddings"}) {
    EXPECT_TRUE(keys.contains(k)) << k;
  }
  EXPECT_FALSE(keys.contains("num_hiden_layers"));
  EXPECT_FALSE(keys.contains("n_routed_experts"));
  EXPECT_FALSE(keys.contains("n_embd"));
  EXPECT_TRUE(HfConfigKeysRead(json::parse(R"({"model_type": "llama"})")).empty());  // does not read
}

TEST(HfConfigTest, LlamaDefaults) {
  // LlamaConfig: no kv heads → MHA; no head_dim → hidden/heads; ties nothing by default.
  Architecture a = Parse(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})");
  EXPECT_EQ(a.kv_heads, 4);
  EXPECT_EQ(a.head_dim, 16);
  EXPECT_FALSE(a.tied_embeddings);
  // 2 × (4·64² + 3·64·128 + 2·64) + 2·100·64 + 64
  EXPECT_EQ(CountParameters(a).total, 2 * (16384 + 24576 + 128) + 12800 + 64);
}

TEST(HfConfigTest, Mistral) {
  Architecture a = Parse(R"({"model_type": "mistral", "hidden_size": 4096, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
    "vocab_size": 32000,
    "sliding_window": 4096, "tie_word_embeddings": false})");
  EXPECT_EQ(a.model_type, "mistral");
  EXPECT_EQ(a.kv_heads, 8);
  EXPECT_EQ(CountParameters(a).total, 7'241'732'096);  // Mistral-7B
}

TEST(HfConfigTest, Mixtral) {
  Architecture a = Parse(R"({"model_type": "mixtral", "hidden_size": 4096, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "intermediate_size": 14336,
    "vocab_size": 32000,
    "num_local_experts": 8, "num_experts_per_tok": 2, "tie_word_embeddings": false})");
  EXPECT_TRUE(a.IsMoe());
  EXPECT_EQ(a.moe.experts, 8);
  EXPECT_EQ(a.moe.top_k, 2);
  EXPECT_EQ(a.moe.expert_ffn, 14336);
  EXPECT_EQ(a.moe.shared_ffn, 0);
  EXPECT_EQ(a.MoeLayerCount(), 32);
  EXPECT_EQ(CountParameters(a).total, 46'702'792'704);
}

// ---------------------------------------------------------------------------------------------
// qwen2 / qwen2_moe / qwen3 / qwen3_moe

TEST(HfConfigTest, Qwen2HasQkvBiasButNoOutputBias) {
  Architecture a = Parse(R"({"model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100,
    "tie_word_embeddings": true})");
  EXPECT_TRUE(a.qkv_bias);
  EXPECT_FALSE(a.attn_out_bias);
  EXPECT_FALSE(a.qk_norm);
  EXPECT_TRUE(a.tied_embeddings);
  // q 64, kv 32: attention 64·(64+64) + 64·64 + bias (64+32+32) = 12416; MLP 3·64·128 = 24576;
  // norms 128.
  EXPECT_EQ(CountParameters(a).total, 2 * (12416 + 24576 + 128) + 6400 + 64);
}

TEST(HfConfigTest, Qwen2MoeSmallHandCount) {
  Architecture a = Parse(R"({"model_type": "qwen2_moe", "hidden_size": 32, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 64, "vocab_size": 50,
    "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 16,
    "shared_expert_intermediate_size": 48, "decoder_sparse_step": 1,
    "tie_word_embeddings": false})");
  EXPECT_EQ(a.moe.experts, 4);
  EXPECT_EQ(a.moe.shared_ffn, 48);
  EXPECT_TRUE(a.moe.shared_gate);
  EXPECT_FALSE(a.moe.router_bias);
  EXPECT_EQ(a.MoeLayerCount(), 2);
  // Per layer: attention 32·64 + 32·32 + qkv bias 64 = 3136; norms 64; routed 4·3·32·16 = 6144;
  // router 4·32 = 128; shared expert 3·32·48 = 4608; shared gate 32. Total 14112.
  ParamCounts p = CountParameters(a);
  EXPECT_EQ(p.moe_layer, 14112);
  EXPECT_EQ(p.routed_experts_per_moe_layer, 6144);
  EXPECT_EQ(p.total, 2 * 14112 + 2 * 50 * 32 + 32);
  EXPECT_EQ(p.active, p.total - 2 * 2 * 1536);  // two idle experts of 3·32·16 per layer
}

TEST(HfConfigTest, Qwen2MoeDenseLayersAndPublishedTotal) {
  // Qwen1.5-MoE-A2.7B: 14.3B total.
  Architecture a =
      Parse(R"({"model_type": "qwen2_moe", "hidden_size": 2048, "num_hidden_layers": 24,
    "num_attention_heads": 16, "num_key_value_heads": 16, "intermediate_size": 5632,
    "vocab_size": 151936,
    "num_experts": 60, "num_experts_per_tok": 4, "moe_intermediate_size": 1408,
    "shared_expert_intermediate_size": 5632, "tie_word_embeddings": false})");
  EXPECT_EQ(CountParameters(a).total, 14'315'784'192);
  // mlp_only_layers forces dense layers; decoder_sparse_step counts from 1.
  Architecture b = Parse(R"({"model_type": "qwen2_moe", "hidden_size": 32, "num_hidden_layers": 6,
    "num_attention_heads": 4, "intermediate_size": 64, "vocab_size": 50, "num_experts": 4,
    "num_experts_per_tok": 2, "moe_intermediate_size": 16, "decoder_sparse_step": 2,
    "mlp_only_layers": [3]})");
  ASSERT_EQ(b.moe_layer.size(), 6u);
  EXPECT_EQ(b.moe_layer, (std::vector<bool>{false, true, false, false, false, true}));
}

TEST(HfConfigTest, Qwen3HasQkNorm) {
  Architecture a = Parse(R"({"model_type": "qwen3", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "intermediate_size": 128,
    "vocab_size": 100, "attention_bias": false, "tie_word_embeddings": true})");
  EXPECT_TRUE(a.qk_norm);
  EXPECT_FALSE(a.qkv_bias);
  EXPECT_EQ(a.head_dim, 32) << "explicit head_dim wins over hidden/heads";
  // q 128, kv 64: attention 64·256 + 128·64 = 24576; q/k norms 2·32; MLP 24576; norms 128.
  EXPECT_EQ(CountParameters(a).total, 2 * (24576 + 64 + 24576 + 128) + 6400 + 64);
}

TEST(HfConfigTest, Qwen3Moe) {
  Architecture a =
      Parse(R"({"model_type": "qwen3_moe", "hidden_size": 4096, "num_hidden_layers": 94,
    "num_attention_heads": 64, "num_key_value_heads": 4, "head_dim": 128,
    "intermediate_size": 12288,
    "moe_intermediate_size": 1536, "num_experts": 128, "num_experts_per_tok": 8,
    "vocab_size": 151936,
    "decoder_sparse_step": 1, "mlp_only_layers": [], "tie_word_embeddings": false,
    "shared_expert_intermediate_size": 999})");
  EXPECT_TRUE(a.qk_norm);
  EXPECT_EQ(a.moe.shared_ffn, 0) << "qwen3_moe has no shared expert";
  EXPECT_FALSE(a.moe.shared_gate);
  EXPECT_EQ(a.MoeLayerCount(), 94);
  // 94 × (attention 4096·(8192+1024)+8192·4096 + qk norms 256 + norms 8192 + router 128·4096
  //        + 128 experts of 3·4096·1536) + 2·151936·4096 + 4096
  const int64_t layer =
      4096LL * 9216 + 8192LL * 4096 + 256 + 8192 + 128LL * 4096 + 128LL * 3 * 4096 * 1536;
  EXPECT_EQ(CountParameters(a).total, 94 * layer + 2LL * 151936 * 4096 + 4096);
}

// ---------------------------------------------------------------------------------------------
// deepseek_v2 / deepseek_v3 (MLA)

TEST(HfConfigTest, DeepseekV2LiteWithoutQLora) {
  // DeepSeek-V2-Lite: q_lora_rank null (plain Q projection); 15.7B total.
  Architecture a =
      Parse(R"({"model_type": "deepseek_v2", "hidden_size": 2048, "num_hidden_layers": 27,
    "num_attention_heads": 16, "num_key_value_heads": 16, "intermediate_size": 10944,
    "moe_intermediate_size": 1408, "n_routed_experts": 64, "n_shared_experts": 2,
    "num_experts_per_tok": 6,
    "first_k_dense_replace": 1, "moe_layer_freq": 1, "kv_lora_rank": 512, "q_lora_rank": null,
    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "vocab_size": 102400,
    "topk_method": "greedy", "n_group": 1, "topk_group": 1, "tie_word_embeddings": false})");
  EXPECT_EQ(a.moe.groups, 0) << "greedy top-k routing ignores the groups";
  EXPECT_EQ(a.attention, AttentionKind::kMla);
  EXPECT_EQ(a.mla.q_lora_rank, 0);
  EXPECT_EQ(a.mla.kv_lora_rank, 512);
  EXPECT_EQ(a.head_dim, 192);
  EXPECT_EQ(a.kv_heads, 16);
  EXPECT_EQ(a.moe.shared_ffn, 2 * 1408);
  EXPECT_FALSE(a.moe.router_bias);
  EXPECT_FALSE(a.moe.shared_gate);
  EXPECT_EQ(a.MoeLayerCount(), 26);
  EXPECT_FALSE(a.IsMoeLayer(0));
  EXPECT_TRUE(a.IsMoeLayer(1));
  EXPECT_EQ(a.mtp_layers, 0);
  // MLA: q 2048·16·192 + kv 512·(2048 + 16·256 + 1) + 2048·64 + out 16·128·2048 = 13,763,072.
  ParamCounts p = CountParameters(a);
  EXPECT_EQ(p.dense_layer, 13'763'072 + 4096 + 3LL * 2048 * 10944);
  EXPECT_EQ(p.total, 15'706'484'224);
}

TEST(HfConfigTest, DeepseekV2WithQLoraAndLayerFrequency) {
  Architecture a = Parse(R"({"model_type": "deepseek_v2", "hidden_size": 64, "num_hidden_layers": 5,
    "num_attention_heads": 4, "intermediate_size": 128, "moe_intermediate_size": 16,
    "n_routed_experts": 8,
    "n_shared_experts": 1, "num_experts_per_tok": 2, "first_k_dense_replace": 1,
    "moe_layer_freq": 2,
    "kv_lora_rank": 16, "q_lora_rank": 24, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16,
    "v_head_dim": 16,
    "vocab_size": 100})");
  EXPECT_EQ(a.mla.q_lora_rank, 24);
  EXPECT_EQ(a.moe_layer, (std::vector<bool>{false, false, true, false, true}));
  // q: 24·(64 + 4·24 + 1) = 3864; kv: 16·(64 + 4·32 + 1) + 64·8 = 3600; out: 4·16·64 = 4096.
  ParamCounts p = CountParameters(a);
  const int64_t attention = 3864 + 3600 + 4096;
  EXPECT_EQ(p.dense_layer, attention + 128 + 3 * 64 * 128);
  EXPECT_EQ(p.moe_layer, attention + 128 + 8 * 3 * 64 * 16 + 64 * 8 + 3 * 64 * 16);
}

TEST(HfConfigTest, DeepseekV3) {
  Architecture a =
      Parse(R"({"model_type": "deepseek_v3", "hidden_size": 7168, "num_hidden_layers": 61,
    "num_attention_heads": 128, "num_key_value_heads": 128, "intermediate_size": 18432,
    "moe_intermediate_size": 2048, "n_routed_experts": 256, "n_shared_experts": 1,
    "num_experts_per_tok": 8,
    "first_k_dense_replace": 3, "moe_layer_freq": 1, "kv_lora_rank": 512, "q_lora_rank": 1536,
    "qk_rope_head_dim": 64, "qk_nope_head_dim": 128, "v_head_dim": 128, "vocab_size": 129280,
    "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4, "num_nextn_predict_layers": 1,
    "tie_word_embeddings": false})");
  EXPECT_TRUE(a.moe.router_bias);
  EXPECT_EQ(a.moe.groups, 8);
  EXPECT_EQ(a.moe.group_top_k, 4);
  EXPECT_EQ(a.mtp_layers, 1);
  EXPECT_EQ(a.MoeLayerCount(), 58);
  EXPECT_EQ(a.mla.q_lora_rank, 1536);
  EXPECT_EQ(a.moe.shared_ffn, 2048);
  EXPECT_EQ(CountParameters(a).total, 671'026'419'200);
}

// ---------------------------------------------------------------------------------------------
// gpt2 / gpt_neox / opt / bloom / falcon / nemotron / gemma2

TEST(HfConfigTest, Gpt2Small) {
  Architecture a = Parse(R"({"model_type": "gpt2", "n_embd": 768, "n_layer": 12, "n_head": 12,
    "n_positions": 1024, "vocab_size": 50257})");
  EXPECT_EQ(a.ffn, 3072);
  EXPECT_EQ(a.position_rows, 1024);
  EXPECT_TRUE(a.tied_embeddings);
  EXPECT_EQ(a.norm, NormKind::kLayerNorm);
  EXPECT_FALSE(a.gated_mlp);
  EXPECT_EQ(a.activation, MlpActivation::kGelu);
  EXPECT_TRUE(a.qkv_bias && a.attn_out_bias && a.mlp_bias);
  EXPECT_TRUE(a.dropout) << "GPT2Config resid_pdrop defaults to 0.1";
  EXPECT_EQ(CountParameters(a).total, 124'439'808);  // GPT-2 small
}

TEST(HfConfigTest, Gpt2ExplicitInnerAndNoDropout) {
  Architecture a =
      Parse(R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 1, "n_head": 4, "n_inner": 100,
    "n_positions": 8, "vocab_size": 10, "resid_pdrop": 0.0, "activation_function": "relu"})");
  EXPECT_EQ(a.ffn, 100);
  EXPECT_FALSE(a.dropout);
  EXPECT_EQ(a.activation, MlpActivation::kRelu);
  // attention 4·64² + 4·64; MLP 2·64·100 + 100 + 64; norms 4·64; embeddings (10 + 8)·64; final 128.
  EXPECT_EQ(CountParameters(a).total, (16384 + 256) + (12800 + 164) + 256 + 18 * 64 + 128);
}

TEST(HfConfigTest, GptNeoxPythia70m) {
  Architecture a = Parse(R"({"model_type": "gpt_neox", "hidden_size": 512, "num_hidden_layers": 6,
    "num_attention_heads": 8, "intermediate_size": 2048, "vocab_size": 50304,
    "max_position_embeddings": 2048,
    "hidden_act": "gelu", "tie_word_embeddings": false, "use_parallel_residual": true})");
  EXPECT_EQ(a.norm, NormKind::kLayerNorm);
  EXPECT_FALSE(a.gated_mlp);
  EXPECT_TRUE(a.qkv_bias);
  EXPECT_TRUE(a.mlp_bias);
  EXPECT_EQ(a.position_rows, 0) << "rotary";
  // Per layer 4h² + 4h + 2hF + F + h + 4h; untied 2Vh; final 2h.
  EXPECT_EQ(CountParameters(a).total, 70'426'624);
}

TEST(HfConfigTest, GptNeoxSmallHandCount) {
  Architecture a = Parse(R"({"model_type": "gpt_neox", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 256, "vocab_size": 100})");
  // attention 4·64² + 4·64 = 16640; MLP 2·64·256 + 256 + 64 = 33088; norms 256.
  EXPECT_EQ(CountParameters(a).total, 2 * (16640 + 33088 + 256) + 2 * 6400 + 128);
}

TEST(HfConfigTest, Opt125mAnd350m) {
  Architecture small = Parse(R"({"model_type": "opt", "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "ffn_dim": 3072, "vocab_size": 50272,
    "max_position_embeddings": 2048,
    "word_embed_proj_dim": 768, "do_layer_norm_before": true})");
  EXPECT_EQ(small.position_rows, 2050) << "OPT's learned positions carry an offset of 2";
  EXPECT_EQ(small.embed_proj_dim, 0);
  EXPECT_TRUE(small.final_norm);
  EXPECT_EQ(small.activation, MlpActivation::kRelu);
  EXPECT_EQ(CountParameters(small).total, 125'239'296);

  Architecture a350 = Parse(R"({"model_type": "opt", "hidden_size": 1024, "num_hidden_layers": 24,
    "num_attention_heads": 16, "ffn_dim": 4096, "vocab_size": 50272,
    "max_position_embeddings": 2048,
    "word_embed_proj_dim": 512, "do_layer_norm_before": false})");
  EXPECT_EQ(a350.embed_proj_dim, 512);
  EXPECT_FALSE(a350.final_norm);
  EXPECT_EQ(CountParameters(a350).total, 331'196'416);
}

TEST(HfConfigTest, Bloom560m) {
  Architecture a =
      Parse(R"({"model_type": "bloom", "hidden_size": 1024, "n_layer": 24, "n_head": 16,
    "vocab_size": 250880})");
  EXPECT_TRUE(a.embedding_norm);
  EXPECT_EQ(a.ffn, 4096);
  EXPECT_EQ(a.position_rows, 0) << "ALiBi";
  EXPECT_TRUE(a.alibi);
  EXPECT_FALSE(a.Rotary());
  EXPECT_TRUE(a.tied_embeddings);
  EXPECT_EQ(CountParameters(a).total, 559'214'592);
}

TEST(HfConfigTest, Falcon7bMultiQuery) {
  Architecture a = Parse(R"({"model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32,
    "num_attention_heads": 71, "multi_query": true, "parallel_attn": true, "bias": false,
    "new_decoder_architecture": false, "vocab_size": 65024})");
  EXPECT_EQ(a.kv_heads, 1);
  EXPECT_EQ(a.head_dim, 64);
  EXPECT_EQ(a.ffn, 4 * 4544);
  EXPECT_EQ(a.norms_per_layer, 1) << "parallel attention shares one LayerNorm";
  EXPECT_FALSE(a.qkv_bias);
  EXPECT_TRUE(a.tied_embeddings);
  // attention 4544·(4544 + 2·64) + 4544² = 41,877,504; MLP 2·4544·18176; one LayerNorm 9088.
  EXPECT_EQ(CountParameters(a).total, 6'921'720'704);
  EXPECT_TRUE(a.Rotary()) << "rotary unless the config says alibi";
  EXPECT_FALSE(Parse(R"({"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "alibi": true, "vocab_size": 100})").Rotary());
}

TEST(HfConfigTest, FalconSmallHandCount) {
  Architecture a = Parse(R"({"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "vocab_size": 100})");
  EXPECT_EQ(a.kv_heads, 1) << "FalconConfig multi_query defaults to true";
  // attention 64·(64 + 32) + 64·64 = 10240; MLP 2·64·256 = 32768; one LayerNorm 128.
  EXPECT_EQ(CountParameters(a).total, 2 * (10240 + 32768 + 128) + 6400 + 128);
}

TEST(HfConfigTest, Falcon40bNewDecoderArchitecture) {
  Architecture a = Parse(R"({"model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60,
    "num_attention_heads": 128, "num_kv_heads": 8, "new_decoder_architecture": true,
    "parallel_attn": true,
    "bias": false, "vocab_size": 65024})");
  EXPECT_EQ(a.kv_heads, 8);
  EXPECT_EQ(a.norms_per_layer, 2) << "ln_attn and ln_mlp";
  // attention 8192·(8192 + 1024) + 8192² ; MLP 2·8192·32768 ; norms 2·2·8192.
  const int64_t layer = 8192LL * 9216 + 8192LL * 8192 + 2LL * 8192 * 32768 + 4 * 8192;
  EXPECT_EQ(CountParameters(a).total, 60 * layer + 65024LL * 8192 + 2 * 8192);
}

// Falcon's new architecture has one or two norms per layer; a count beyond that once hung the
// tool (1e9 norms) or gave negative parameters (-100000).
TEST(HfConfigTest, FalconNormCountIsOneOrTwo) {
  for (const char* n : {"-100000", "0", "3", "1000000000"}) {
    StatusOr<Architecture> a = ArchitectureFromHfConfig(
        json::parse(std::string(R"({"model_type": "falcon", "hidden_size": 64, "num_hidden_layers": 2,
          "num_attention_heads": 4, "num_kv_heads": 1, "new_decoder_architecture": true, "vocab_size": 100,
          "num_ln_in_parallel_attn": )") + n + "}"),
        "m", "test.json");
    ASSERT_FALSE(a.ok()) << n;
    EXPECT_NE(a.status().message().find("test.json: num_ln_in_parallel_attn"), std::string::npos) << a.status().message();
  }
}

// Mixtral marks every layer MoE: with no experts it once ran at an MFU of 678%.
TEST(HfConfigTest, MoeLayersNeedExperts) {
  StatusOr<Architecture> a = ArchitectureFromHfConfig(
      json::parse(R"({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "intermediate_size": 256, "vocab_size": 100, "num_local_experts": 0,
        "num_experts_per_tok": 2})"),
      "m", "test.json");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("test.json: num_local_experts"), std::string::npos) << a.status().message();
  // DeepSeek routes from first_k_dense_replace on once n_routed_experts is given: 0 is refused,
  // where leaving the key out (None in transformers) makes the layers dense.
  const std::string mla = R"("model_type": "deepseek_v2", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "kv_lora_rank": 16, "qk_rope_head_dim": 8,
    "qk_nope_head_dim": 16, "v_head_dim": 16, "vocab_size": 100)";
  a = ArchitectureFromHfConfig(json::parse("{" + mla + R"(, "n_routed_experts": 0, "num_experts_per_tok": 2,
    "moe_intermediate_size": 16})"), "m", "test.json");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("test.json: n_routed_experts: expected at least one expert"), std::string::npos)
      << a.status().message();
  a = ArchitectureFromHfConfig(json::parse("{" + mla + "}"), "m", "test.json");
  ASSERT_TRUE(a.ok()) << a.status().message();
  EXPECT_FALSE(a->IsMoe());
}

TEST(HfConfigTest, Gemma2WindowIsPositive) {
  StatusOr<Architecture> a = ArchitectureFromHfConfig(
      json::parse(R"({"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 256, "vocab_size": 100, "sliding_window": 0})"),
      "m", "test.json");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("test.json: sliding_window"), std::string::npos) << a.status().message();
}

// Sizes within each field's limit can still make a model whose exact parameter count overflows
// int64 (2^24 wide and 5000 layers: -8.6e9 parameters once); past 1e15 parameters it is refused.
TEST(HfConfigTest, ModelsPastAQuadrillionParametersAreRefused) {
  StatusOr<Architecture> a = ArchitectureFromHfConfig(
      json::parse(R"({"model_type": "llama", "hidden_size": 16777216, "num_hidden_layers": 5000,
        "num_attention_heads": 1, "intermediate_size": 16777216, "vocab_size": 32000})"),
      "m", "test.json");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("at most 1e15 parameters"), std::string::npos) << a.status().message();
}

TEST(HfConfigTest, Nemotron) {
  Architecture a = Parse(R"({"model_type": "nemotron", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 256,
    "vocab_size": 100, "tie_word_embeddings": false})");
  EXPECT_EQ(a.activation, MlpActivation::kSquaredRelu);
  EXPECT_FALSE(a.gated_mlp);
  EXPECT_EQ(a.norm, NormKind::kLayerNorm);
  // attention 64·(64 + 64) + 64·64 = 12288; MLP 2·64·256 = 32768; norms 2·2·64.
  EXPECT_EQ(CountParameters(a).total, 2 * (12288 + 32768 + 256) + 2 * 6400 + 128);
}

TEST(HfConfigTest, Gemma2_2b) {
  Architecture a = Parse(R"({"model_type": "gemma2", "hidden_size": 2304, "num_hidden_layers": 26,
    "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "intermediate_size": 9216,
    "vocab_size": 256000, "hidden_activation": "gelu_pytorch_tanh", "sliding_window": 4096})");
  EXPECT_TRUE(a.tied_embeddings) << "Gemma2Config ties by default";
  EXPECT_EQ(a.norms_per_layer, 4);
  EXPECT_EQ(a.activation, MlpActivation::kGelu);
  EXPECT_TRUE(a.gated_mlp);
  EXPECT_EQ(a.sliding_window, 4096);
  EXPECT_EQ(CountParameters(a).total, 2'614'341'888);
}

TEST(HfConfigTest, Gemma2SmallHandCountAndWindow) {
  Architecture a = Parse(R"({"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "intermediate_size": 128,
    "vocab_size": 100, "sliding_window": 16})");
  // q 128, kv 64: attention 64·256 + 128·64 = 24576; MLP 3·64·128 = 24576; 4 RMSNorms 256.
  EXPECT_EQ(CountParameters(a).total, 2 * (24576 + 24576 + 256) + 6400 + 64);
  EXPECT_TRUE(a.IsLocalAttentionLayer(0));
  EXPECT_FALSE(a.IsLocalAttentionLayer(1));
  // Scores + values over a mean attended length of (16 + 64)/2 = 40 at seq 64.
  OpList ops = BuildOps(a, 64);
  EXPECT_DOUBLE_EQ(ops.attention_fwd_flops_per_token, 2 * 2 * 2.0 * 40 * 128);
}

// gpt-oss: biased attention with a sink per head, every layer MoE with biased experts and a
// biased router, windowed attention on even layers.
TEST(HfConfigTest, GptOssSmallHandCountAndWindow) {
  Architecture a = Parse(R"({"model_type": "gpt_oss", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "intermediate_size": 32,
    "num_local_experts": 4, "num_experts_per_tok": 2, "vocab_size": 100, "attention_bias": true,
    "sliding_window": 8, "layer_types": ["sliding_attention", "full_attention"]})");
  EXPECT_TRUE(a.attention_sinks);
  EXPECT_TRUE(a.moe.expert_bias);
  EXPECT_TRUE(a.moe.router_bias);
  EXPECT_TRUE(a.IsMoeLayer(0) && a.IsMoeLayer(1));
  EXPECT_TRUE(a.IsLocalAttentionLayer(0));
  EXPECT_FALSE(a.IsLocalAttentionLayer(1));
  // q 64, kv 32: attention 64·128 + 64·64 = 12288, biases 128 + 64, sinks 4; router 64·4 + 4;
  // experts 4 · (3·64·32 + 2·32 + 64) = 4 · 6272; 2 RMSNorms 128.
  const int64_t layer = 12288 + 192 + 4 + 260 + 4 * 6272 + 128;
  ParamCounts c = CountParameters(a);
  EXPECT_EQ(c.total, 2 * layer + 2 * 6400 + 64);
  EXPECT_EQ(c.active, c.total - 2 * 2 * 6272);  // two of the four experts idle per layer
}

TEST(HfConfigTest, GptOssRefusesAnotherLayerPattern) {
  StatusOr<Architecture> a = ArchitectureFromHfConfig(
      json::parse(R"({"model_type": "gpt_oss", "hidden_size": 64, "num_hidden_layers": 4,
    "num_attention_heads": 4, "intermediate_size": 32, "num_local_experts": 4,
    "num_experts_per_tok": 2, "vocab_size": 100, "sliding_window": 8,
    "layer_types": ["full_attention", "sliding_attention", "full_attention", "sliding_attention"]})"),
      "test-model", "test.json");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("test.json: layer_types: expected"), std::string::npos) << a.status().message();
}

// Which layers a sliding window applies to: every one (mistral, where MistralConfig defaults it to
// 4096 and null means none; mixtral, where none is the default), those from max_window_layers on
// (qwen2/qwen3 with use_sliding_window), or what layer_types lists (all, the even ones from layer 0,
// or every one from some layer on). The attended length, and the FLOPs, follow.
TEST(HfConfigTest, SlidingWindowLayersFollowTheConfigClass) {
  const std::string mistral = R"("model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 4,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100)";
  Architecture a = Parse("{" + mistral + "}");
  EXPECT_EQ(a.sliding_window, 4096);
  EXPECT_EQ(a.LocalLayerShare(), 1.0);
  EXPECT_TRUE(a.IsLocalAttentionLayer(1) && a.IsLocalAttentionLayer(3));
  EXPECT_EQ(Parse("{" + mistral + R"(, "sliding_window": null})").sliding_window, 0);
  const Architecture windowed = Parse("{" + mistral + R"(, "sliding_window": 512})");
  const Architecture full = Parse("{" + mistral + R"(, "sliding_window": null})");
  EXPECT_LT(BuildOps(windowed, 4096).model_flops_per_token, BuildOps(full, 4096).model_flops_per_token);
  EXPECT_EQ(BuildOps(windowed, 512).model_flops_per_token, BuildOps(full, 512).model_flops_per_token);

  EXPECT_EQ(Parse(R"({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "num_local_experts": 4,
    "num_experts_per_tok": 2})").sliding_window, 0);

  const std::string qwen = R"("model_type": "qwen2", "hidden_size": 64, "num_hidden_layers": 4,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100)";
  EXPECT_EQ(Parse("{" + qwen + R"(, "sliding_window": 32})").sliding_window, 0) << "use_sliding_window is off";
  Architecture q = Parse("{" + qwen + R"(, "use_sliding_window": true, "sliding_window": 32, "max_window_layers": 3})");
  EXPECT_EQ(q.sliding_window, 32);
  EXPECT_FALSE(q.IsLocalAttentionLayer(2));
  EXPECT_TRUE(q.IsLocalAttentionLayer(3));
  EXPECT_EQ(q.LocalLayerShare(), 0.25);

  Architecture from = Parse("{" + qwen + R"(, "use_sliding_window": true, "sliding_window": 32,
    "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention"]})");
  EXPECT_EQ(from.local_layers, LocalLayers::kFrom);
  EXPECT_EQ(from.LocalLayerShare(), 0.75);
  Architecture none = Parse("{" + mistral + R"(, "layer_types": ["full_attention", "full_attention",
    "full_attention", "full_attention"]})");
  EXPECT_EQ(none.sliding_window, 0) << "no sliding layer: no window";
}

// Defaults of config classes that differ from the llama family's: gpt-oss's head_dim 64, biased
// attention and 128-token window on even layers; Qwen3's head_dim 128 and Gemma 2's 256; DeepSeek-V3's
// router with the score-correction bias and group-limited routing (n_group 8, topk_group 4).
TEST(HfConfigTest, ClassDefaultsWhereAKeyIsLeftOut) {
  Architecture oss = Parse(R"({"model_type": "gpt_oss", "hidden_size": 256, "num_hidden_layers": 2,
    "num_attention_heads": 8, "intermediate_size": 32, "num_local_experts": 4, "num_experts_per_tok": 2,
    "vocab_size": 100})");
  EXPECT_EQ(oss.head_dim, 64);
  EXPECT_TRUE(oss.qkv_bias && oss.attn_out_bias);
  EXPECT_EQ(oss.sliding_window, 128);
  EXPECT_TRUE(oss.IsLocalAttentionLayer(0) && !oss.IsLocalAttentionLayer(1));
  EXPECT_EQ(Parse(R"({"model_type": "qwen3", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})").head_dim, 128);
  EXPECT_EQ(Parse(R"({"model_type": "gemma2", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})").head_dim, 256);
  Architecture v3 = Parse(R"({"model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "kv_lora_rank": 16,
    "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8, "n_routed_experts": 16,
    "num_experts_per_tok": 2, "moe_intermediate_size": 32})");
  EXPECT_TRUE(v3.moe.router_bias);
  EXPECT_EQ(v3.moe.groups, 8);
  EXPECT_EQ(v3.moe.group_top_k, 4);
}

// attention_bias on MLA: transformers' DeepSeek attention biases q_a_proj, kv_a_proj_with_mqa and
// o_proj.
TEST(HfConfigTest, MlaAttentionBiases) {
  const std::string v2 = R"("model_type": "deepseek_v2", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "q_lora_rank": 24,
    "kv_lora_rank": 16, "qk_rope_head_dim": 8, "qk_nope_head_dim": 8, "v_head_dim": 8)";
  const int64_t without = CountParameters(Parse("{" + v2 + "}")).total;
  const int64_t with = CountParameters(Parse("{" + v2 + R"(, "attention_bias": true})")).total;
  EXPECT_EQ(with - without, 2 * (24 + 16 + 8 + 64));
}

TEST(HfConfigTest, SupportedModelTypesAllParse) {
  EXPECT_EQ(SupportedModelTypes().size(), 17u);
  for (std::string_view t :
       {"llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3", "qwen3_moe", "deepseek_v2",
        "deepseek_v3", "gpt2", "gpt_neox", "opt", "bloom", "falcon", "nemotron", "gemma2", "gpt_oss"}) {
    EXPECT_NE(std::find(SupportedModelTypes().begin(), SupportedModelTypes().end(), t),
              SupportedModelTypes().end())
        << t;
  }
}

// A key within two edits of one the reader looks up is named with the key it resembles; a key
// far from every one (real configs carry many: architectures, torch_dtype, bos_token_id) and a key
// shorter than six characters are not.
TEST(HfConfigTest, NearMissesNameTheKeyTheyResemble) {
  nlohmann::json c = {{"model_type", "llama"},       {"hidden_size", 4096},        {"intermediate_size", 14336},
                      {"num_attention_heads", 32},   {"num_hidden_layers", 32},    {"num_key_value_head", 8},
                      {"vocab_size", 128256},        {"tie_word_embedings", true}, {"torch_dtype", "bfloat16"},
                      {"architectures", {"LlamaForCausalLM"}}, {"tpp", 1}};
  const std::vector<ConfigNearMiss> m = HfConfigNearMisses(c);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].key, "num_key_value_head");
  EXPECT_EQ(m[0].read, "num_key_value_heads");
  EXPECT_EQ(m[1].key, "tie_word_embedings");
  EXPECT_EQ(m[1].read, "tie_word_embeddings");
  c.erase("num_key_value_head");
  c.erase("tie_word_embedings");
  c["num_key_value_heads"] = 8;
  c["tie_word_emebddings"] = true;  // a swap of neighbours: one edit
  ASSERT_EQ(HfConfigNearMisses(c).size(), 1u);
  EXPECT_TRUE(HfConfigNearMisses(nlohmann::json::array()).empty());
}

// No config of the catalog has one: the check names typos, not the keys Hugging Face writes.
TEST(HfConfigTest, NoCatalogModelHasANearMiss) {
  const Catalog catalog = Catalog::Default();
  for (const std::string& id : catalog.ModelIds()) {
    std::string source;
    auto config = catalog.ModelConfig(id, &source);
    ASSERT_TRUE(config.ok()) << id;
    for (const ConfigNearMiss& m : HfConfigNearMisses(*config)) ADD_FAILURE() << id << ": " << m.key << " ~ " << m.read;
  }
}

}  // namespace
}  // namespace preflight
