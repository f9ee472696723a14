// File: model/architecture.h
//
// The shape of a transformer language model, independent of where it came from (a
// HuggingFace config.json, a catalog id, or keys inline in a scenario). Everything the
// parameter, FLOP and memory models need, and nothing about how it is trained.
//
//   ASSIGN_OR_RETURN(Architecture a, ArchitectureFromHfConfig(json, "llama-3.1-8b", path));
//   a.hidden == 4096; a.kv_heads == 8; a.IsMoeLayer(0) == false;
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace preflight {

enum class MlpActivation { kGelu, kRelu, kSquaredRelu, kSilu };
enum class NormKind { kLayerNorm, kRmsNorm };
enum class AttentionKind { kStandard, kMla };

// Multi-head latent attention (DeepSeek-V2/V3). Zero q_lora_rank means a plain Q projection.
struct MlaSpec {
  int64_t q_lora_rank = 0;
  int64_t kv_lora_rank = 0;
  int64_t rope_dim = 0;  // qk_rope_head_dim
  int64_t nope_dim = 0;  // qk_nope_head_dim
  int64_t v_dim = 0;     // v_head_dim
};

// Mixture of experts. experts == 0 means a dense model.
struct MoeSpec {
  int64_t experts = 0;     // routed experts E
  int64_t top_k = 0;       // experts each token is routed to
  int64_t expert_ffn = 0;  // F_e, width of one routed expert
  int64_t shared_ffn = 0;  // total width of all shared experts (N_s · F_s)
  bool shared_gate = false;  // a learned h→1 gate on the shared expert (qwen2_moe)
  bool router_bias = false;  // per-expert bias on the router's scores (DeepSeek-V3 noaux_tc, gpt-oss)
  bool expert_bias = false;  // each routed expert's projections carry biases (gpt-oss)
  // Group-limited routing (DeepSeek-V2/V3 n_group, topk_group): the experts fall into `groups`
  // contiguous groups and each token picks its top_k among the `group_top_k` best groups. 0: none.
  int64_t groups = 0;
  int64_t group_top_k = 0;
};

// Which layers a sliding window applies to: even-indexed ones from layer 0 (gemma2, gpt-oss),
// every layer (mistral), or those from `local_from` on (qwen2/qwen3's max_window_layers).
enum class LocalLayers { kEven, kAll, kFrom };

struct Architecture {
  std::string name;        // catalog id or file stem
  std::string model_type;  // HF model_type
  std::string source;      // file (or "inline") it was read from

  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;     // query heads
  int64_t kv_heads = 0;  // == heads for MHA, 1 for MQA
  int64_t head_dim = 0;
  int64_t ffn = 0;  // dense MLP width F
  int64_t vocab = 0;
  int64_t max_positions = 0;

  MlpActivation activation = MlpActivation::kSilu;
  bool gated_mlp = true;  // SwiGLU/GeGLU: three matrices instead of two
  NormKind norm = NormKind::kRmsNorm;
  int64_t norms_per_layer = 2;
  bool qk_norm = false;        // per-head RMSNorm on Q and K (qwen3)
  bool qkv_bias = false;
  bool attn_out_bias = false;
  bool mlp_bias = false;
  bool attention_sinks = false;  // one learned softmax logit per query head and layer (gpt-oss)
  int64_t position_rows = 0;   // learned absolute position embeddings (0 for RoPE/ALiBi)
  bool alibi = false;          // ALiBi biases in place of rotary embeddings (bloom; falcon with alibi)
  bool tied_embeddings = false;
  bool embedding_norm = false;  // LayerNorm right after the embedding (bloom)
  bool final_norm = true;
  int64_t embed_proj_dim = 0;  // OPT word_embed_proj_dim when it differs from hidden, else 0
  bool dropout = false;        // training-time dropout masks are stored
  int64_t sliding_window = 0;  // local attention window of the layers `local_layers` names, 0 = none
  LocalLayers local_layers = LocalLayers::kEven;
  int64_t local_from = 0;      // kFrom: the first windowed layer

  AttentionKind attention = AttentionKind::kStandard;
  MlaSpec mla;
  MoeSpec moe;
  std::vector<bool> moe_layer;  // size == layers; empty for dense models
  int64_t mtp_layers = 0;       // DeepSeek multi-token-prediction depth

  bool IsMoeLayer(int64_t i) const { return !moe_layer.empty() && moe_layer[i]; }
  int64_t MoeLayerCount() const;
  // MoE layers among [first, first + n). O(1) once FinalizeLayers() ran, else O(n).
  int64_t MoeLayersIn(int64_t first, int64_t n) const;
  // Builds the prefix counts MoeLayersIn uses. Call after setting moe_layer.
  void FinalizeLayers();
  // First layer of the MoE suffix when the MoE layers are exactly layers [k, layers) (dense
  // models: layers); -1 when they are interleaved with dense layers.
  int64_t MoeSuffixStart() const { return moe_suffix_start_; }

 private:
  std::vector<int32_t> moe_prefix_;  // moe_prefix_[i] = MoE layers among [0, i)
  int64_t moe_suffix_start_ = -1;

 public:
  bool IsMoe() const { return moe.experts > 0; }
  // Rotary position embeddings on q and k: neither learned positions nor ALiBi.
  bool Rotary() const { return position_rows == 0 && !alibi; }
  // KV heads summed over `tp` tensor-parallel ranks: with fewer KV heads than ranks each rank
  // holds one whole head (replicated; the plan check allows tp a multiple of kv_heads).
  int64_t KvHeadsAcrossTp(int64_t tp) const { return kv_heads < tp ? tp : kv_heads; }
  // Whether layer i attends within the sliding window (none without one).
  bool IsLocalAttentionLayer(int64_t i) const {
    if (sliding_window <= 0) return false;
    switch (local_layers) {
      case LocalLayers::kEven: return i % 2 == 0;
      case LocalLayers::kAll: return true;
      case LocalLayers::kFrom: return i >= local_from;
    }
    return false;
  }
  // The share of the layers that attend within the window (0 without one).
  double LocalLayerShare() const;
};

}  // namespace preflight
