// Tests of ArchitectureFromHfConfig's error messages (model/hf_config.h): a bad field yields
// InvalidArgument naming the source and the key, an unknown model_type lists the supported ones,
// and a document that is not an object is refused. The configs it reads, and the refusals tied to
// one model type (Falcon's norms, MoE without experts, Gemma 2's window, gpt-oss's layer pattern,
// sizes past a quadrillion parameters): hf_config_test.cc.
#include "preflight/model/hf_config.h"

#include <gtest/gtest.h>

#include <string>

#include "preflight/model/model.h"

namespace preflight {
namespace {

using json = nlohmann::json;

struct BadCase {
  const char* what;
  const char* config;
  const char* key;  // the message must contain "test.json: <key>:"
};

TEST(HfConfigTest, ErrorsNameSourceAndKey) {
  const std::string v3 = R"({"model_type": "deepseek_v3", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "moe_intermediate_size": 16, "n_routed_experts": 8,
    "num_experts_per_tok": 2, "kv_lora_rank": 16, "qk_rope_head_dim": 8, "qk_nope_head_dim": 16,
    "v_head_dim": 16, "vocab_size": 100, "topk_method": "noaux_tc", )";
  const std::string bad_groups = v3 + R"("n_group": 3, "topk_group": 1})";
  const std::string bad_topk_group = v3 + R"("n_group": 4, "topk_group": 5})";
  std::string v3_minus_layers = v3 + R"("n_group": 4, "topk_group": 2})";
  v3_minus_layers.replace(v3_minus_layers.find(R"("num_hidden_layers": 2)"), 22, R"("num_hidden_layers": -1)");
  const std::string v3_bad_first_dense = v3 + R"("first_k_dense_replace": -5})";
  const std::string v3_huge_mtp = v3 + R"("num_nextn_predict_layers": 2147483648})";
  const std::string v3_negative_mtp = v3 + R"("num_nextn_predict_layers": -3})";
  const std::string v3_ok = v3 + R"("n_group": 4, "topk_group": 2)";
  const std::string v3_negative_kv_heads = v3_ok + R"(, "num_key_value_heads": -1})";
  const std::string v3_negative_head_dim = v3_ok + R"(, "head_dim": -1})";
  std::string v3_bad_topk_method = v3_ok + "}";
  v3_bad_topk_method.replace(v3_bad_topk_method.find("noaux_tc"), 8, "abc");
  const std::string qwen_moe = R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 4,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "num_experts": 8,
    "num_experts_per_tok": 2, "moe_intermediate_size": 16, )";
  const std::string qwen_step_0 = qwen_moe + R"("decoder_sparse_step": 0})";
  const std::string qwen_step_negative = qwen_moe + R"("decoder_sparse_step": -1})";
  const std::string qwen_step_past_layers = qwen_moe + R"("decoder_sparse_step": 5})";
  const BadCase cases[] = {
      {"MLA with a negative num_key_value_heads (read, then replaced)", v3_negative_kv_heads.c_str(),
       "num_key_value_heads"},
      {"MLA with a negative head_dim (read, then replaced)", v3_negative_head_dim.c_str(), "head_dim"},
      {"decoder_sparse_step 0 (no layer routes; transformers divides by it)", qwen_step_0.c_str(),
       "decoder_sparse_step"},
      {"negative decoder_sparse_step", qwen_step_negative.c_str(), "decoder_sparse_step"},
      {"decoder_sparse_step past the layers (no layer routes)", qwen_step_past_layers.c_str(),
       "decoder_sparse_step"},
      {"negative attention_dropout", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "attention_dropout": -1})",
       "attention_dropout"},
      {"resid_pdrop above 1", R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
        "vocab_size": 100, "resid_pdrop": 1e9})",
       "resid_pdrop"},
      {"n_group not dividing the experts", bad_groups.c_str(), "n_group"},
      {"topk_group above n_group", bad_topk_group.c_str(), "topk_group"},
      {"unknown model_type", R"({"model_type": "gpt5", "hidden_size": 64})", "model_type"},
      {"missing model_type", R"({"hidden_size": 64})", "model_type"},
      {"model_type not a string", R"({"model_type": 7})", "model_type"},
      {"missing hidden_size",
       R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 100})",
       "hidden_size"},
      {"string hidden_size", R"({"model_type": "llama", "hidden_size": "64", "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
       "hidden_size"},
      {"fractional layers", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2.5,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
       "num_hidden_layers"},
      {"missing vocab", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128})",
       "vocab_size"},
      {"tie not a bool", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
        "tie_word_embeddings": "yes"})",
       "tie_word_embeddings"},
      {"unknown activation", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
        "hidden_act": "tanhshrink"})",
       "hidden_act"},
      {"kv heads not dividing heads",
       R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 3, "intermediate_size": 128,
        "vocab_size": 100})",
       "num_key_value_heads"},
      {"zero heads", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 0, "intermediate_size": 128, "vocab_size": 100})",
       "num_attention_heads"},
      {"negative layers", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": -2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100})",
       "num_hidden_layers"},
      {"top-k above experts",
       R"({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
        "num_local_experts": 2,
        "num_experts_per_tok": 3})",
       "num_experts_per_tok"},
      {"mixtral without experts",
       R"({"model_type": "mixtral", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
        "num_experts_per_tok": 2})",
       "num_local_experts"},
      {"mlp_only_layers not a list",
       R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "num_experts": 4,
        "num_experts_per_tok": 2, "moe_intermediate_size": 16, "mlp_only_layers": 3})",
       "mlp_only_layers"},
      {"deepseek without kv_lora_rank", R"({"model_type": "deepseek_v3", "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
        "vocab_size": 100,
        "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16})",
       "kv_lora_rank"},
      {"deepseek moe_layer_freq 0",
       R"({"model_type": "deepseek_v2", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "kv_lora_rank": 16,
        "qk_rope_head_dim": 8, "qk_nope_head_dim": 16, "v_head_dim": 16, "n_routed_experts": 4,
        "num_experts_per_tok": 2, "moe_intermediate_size": 16, "moe_layer_freq": 0})",
       "moe_layer_freq"},
      {"gpt2 without n_embd",
       R"({"model_type": "gpt2", "n_layer": 2, "n_head": 4, "vocab_size": 100})", "n_embd"},
      {"falcon new arch without kv heads", R"({"model_type": "falcon", "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "vocab_size": 100,
        "new_decoder_architecture": true})",
       "num_kv_heads"},
      {"opt without ffn_dim", R"({"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "vocab_size": 100})",
       "ffn_dim"},
      {"bloom without heads",
       R"({"model_type": "bloom", "hidden_size": 64, "n_layer": 2, "vocab_size": 100})", "n_head"},
      {"gpt2 layers beyond any model (an allocation, not a size)",
       R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 1099511627776, "n_head": 4,
        "vocab_size": 100})",
       "n_layer"},
      {"gpt2 zero layers named by its own key",
       R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 0, "n_head": 4, "vocab_size": 100})",
       "n_layer"},
      {"hidden size beyond 32 bits", R"({"model_type": "llama", "hidden_size": 1e30,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
        "vocab_size": 100})",
       "hidden_size"},
      {"unsigned size beyond int64", R"({"model_type": "llama", "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
        "vocab_size": 18446744073709551615})",
       "vocab_size"},
      {"deepseek negative layers, before the MoE layer table is sized", v3_minus_layers.c_str(),
       "num_hidden_layers"},
      {"deepseek negative first_k_dense_replace", v3_bad_first_dense.c_str(), "first_k_dense_replace"},
      {"MTP layers beyond any model", v3_huge_mtp.c_str(), "num_nextn_predict_layers"},
      {"negative MTP layers", v3_negative_mtp.c_str(), "num_nextn_predict_layers"},
      {"gpt2's derived FFN width named by n_embd",
       R"({"model_type": "gpt2", "n_embd": 8388608, "n_layer": 2, "n_head": 4, "vocab_size": 100})",
       "n_embd"},
      {"gpt2's derived head dimension named by n_head",
       R"({"model_type": "gpt2", "n_embd": 4, "n_layer": 2, "n_head": 8, "vocab_size": 100})", "n_head"},
      {"negative positions", R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
        "vocab_size": 100, "n_positions": -2147483648})",
       "n_positions"},
      {"negative OPT projection", R"({"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "ffn_dim": 128, "vocab_size": 100, "word_embed_proj_dim": -8})",
       "word_embed_proj_dim"},
      {"negative experts", R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100, "num_experts": -1,
        "num_experts_per_tok": 2, "moe_intermediate_size": 16})",
       "num_experts"},
      // Hugging Face refuses these types' configs where the heads do not divide the hidden size.
      {"heads not dividing GPT-2's width", R"({"model_type": "gpt2", "n_embd": 768, "n_layer": 2, "n_head": 7,
        "vocab_size": 100})",
       "n_head"},
      {"heads not dividing OPT's width", R"({"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 5, "ffn_dim": 128, "vocab_size": 100})",
       "num_attention_heads"},
      {"heads not dividing BLOOM's width", R"({"model_type": "bloom", "hidden_size": 64, "n_layer": 2,
        "n_head": 6, "vocab_size": 100})",
       "n_head"},
      {"heads not dividing Falcon's width", R"({"model_type": "falcon", "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 6, "vocab_size": 100})",
       "num_attention_heads"},
      {"heads not dividing GPT-NeoX's width", R"({"model_type": "gpt_neox", "hidden_size": 64,
        "num_hidden_layers": 2, "num_attention_heads": 6, "intermediate_size": 128, "vocab_size": 100})",
       "num_attention_heads"},
      // A learned position table of no rows, and an OPT projection of no width.
      {"GPT-2 without positions", R"({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
        "vocab_size": 100, "n_positions": 0})",
       "n_positions"},
      {"OPT without positions", R"({"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "ffn_dim": 128, "vocab_size": 100, "max_position_embeddings": 0})",
       "max_position_embeddings"},
      {"OPT projection of width 0", R"({"model_type": "opt", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "ffn_dim": 128, "vocab_size": 100, "word_embed_proj_dim": 0})",
       "word_embed_proj_dim"},
      {"an unknown routing method", v3_bad_topk_method.c_str(), "topk_method"},
      {"dropout not a number", R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100,
        "attention_dropout": "x"})",
       "attention_dropout"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.what);
    StatusOr<Architecture> a = ArchitectureFromHfConfig(json::parse(c.config), "m", "test.json");
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(a.status().message().find(std::string("test.json: ") + c.key + ":"),
              std::string::npos)
        << a.status().message();
  }
}

TEST(HfConfigTest, UnknownModelTypeListsTheSupportedOnes) {
  StatusOr<Architecture> a =
      ArchitectureFromHfConfig(json::parse(R"({"model_type": "gpt5"})"), "m", "x.json");
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find("\"gpt5\""), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("deepseek_v3"), std::string::npos) << a.status().message();
}

TEST(HfConfigTest, NonObjectIsInvalidArgument) {
  for (const char* text : {"[1, 2]", "42", "\"llama\"", "null"}) {
    StatusOr<Architecture> a = ArchitectureFromHfConfig(json::parse(text), "m", "x.json");
    ASSERT_FALSE(a.ok()) << text;
    EXPECT_EQ(a.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_NE(a.status().message().find("x.json"), std::string::npos) << text;
  }
}

}  // namespace
}  // namespace preflight
