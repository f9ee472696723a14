// The readers of each Hugging Face model_type (model/internal/config_reader.h's ReadByType): the
// keys each family's config class names, with its defaults.
#include <algorithm>
#include <string>
#include <vector>

#include "preflight/model/internal/config_reader.h"

namespace preflight::model_internal {

namespace {

StatusOr<MlpActivation> ParseActivation(const ConfigReader& r, const char* key,
                                        const std::string& fallback) {
  ASSIGN_OR_RETURN(std::string act, r.StringOr(key, fallback));
  if (act == "silu" || act == "swish") return MlpActivation::kSilu;
  if (act.rfind("gelu", 0) == 0) return MlpActivation::kGelu;
  if (act == "relu") return MlpActivation::kRelu;
  if (act == "relu2" || act == "squared_relu" || act == "squared-relu") {
    return MlpActivation::kSquaredRelu;
  }
  return r.Error(key, "one of silu, gelu*, relu, relu2");
}

// Fields shared by the llama-like family (llama, mistral, qwen*, mixtral, gemma2, nemotron).
Status ReadLlamaLike(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(a->hidden, r.Int("hidden_size"));
  ASSIGN_OR_RETURN(a->layers, r.Layers({"num_hidden_layers"}));
  ASSIGN_OR_RETURN(a->heads, r.Int("num_attention_heads"));
  ASSIGN_OR_RETURN(a->kv_heads, r.IntOr("num_key_value_heads", a->heads));
  if (a->heads <= 0) return r.Error("num_attention_heads", "a positive whole number");
  // Checked here as well as with the rest of the shape: MLA (DeepSeek) reads both keys and then
  // sets its own values, which would let a negative one through.
  if (a->kv_heads <= 0) return r.Error("num_key_value_heads", "a positive whole number");
  ASSIGN_OR_RETURN(a->head_dim, r.IntOr("head_dim", a->hidden / a->heads));
  if (r.Has("head_dim") && a->head_dim <= 0) return r.Error("head_dim", "a positive whole number");
  ASSIGN_OR_RETURN(a->ffn, r.Int("intermediate_size"));
  ASSIGN_OR_RETURN(a->vocab, r.Int("vocab_size"));
  ASSIGN_OR_RETURN(a->max_positions, r.IntOr("max_position_embeddings", 0));
  ASSIGN_OR_RETURN(a->tied_embeddings, r.BoolOr("tie_word_embeddings", false));
  ASSIGN_OR_RETURN(a->activation, ParseActivation(r, "hidden_act", "silu"));
  ASSIGN_OR_RETURN(a->qkv_bias, r.BoolOr("attention_bias", false));
  a->attn_out_bias = a->qkv_bias;
  ASSIGN_OR_RETURN(a->mlp_bias, r.BoolOr("mlp_bias", false));
  ASSIGN_OR_RETURN(a->dropout, r.DropoutOr("attention_dropout", 0.0));
  return Status::Ok();
}

// Marks MoE layers: every `step`-th layer (counting from 1, as qwen2_moe does) not in `dense`.
void MarkSparseSteps(Architecture* a, int64_t step, const std::vector<int64_t>& dense) {
  a->moe_layer.assign(a->layers, false);
  for (int64_t i = 0; i < a->layers; ++i) {
    bool forced_dense = std::find(dense.begin(), dense.end(), i) != dense.end();
    a->moe_layer[i] = !forced_dense && (i + 1) % step == 0;
  }
}

Status ReadQwenMoe(const ConfigReader& r, Architecture* a, bool shared) {
  ASSIGN_OR_RETURN(a->moe.experts, r.Int("num_experts"));
  ASSIGN_OR_RETURN(a->moe.top_k, r.Int("num_experts_per_tok"));
  ASSIGN_OR_RETURN(a->moe.expert_ffn, r.Int("moe_intermediate_size"));
  if (shared) {
    ASSIGN_OR_RETURN(a->moe.shared_ffn, r.IntOr("shared_expert_intermediate_size", 0));
    a->moe.shared_gate = a->moe.shared_ffn > 0;
  }
  ASSIGN_OR_RETURN(int64_t step, r.IntOr("decoder_sparse_step", 1));
  // transformers routes layer i when (i + 1) % step == 0: a step below 1 has no such layers (0
  // divides by zero there).
  if (step < 1 || step > a->layers) {
    return r.Error("decoder_sparse_step", "a whole number from 1 to the layer count (every step-th layer routes)");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> dense, r.IntListOr("mlp_only_layers"));
  MarkSparseSteps(a, step, dense);
  return Status::Ok();
}

// The layers a sliding window applies to from `layer_types` (one entry per layer, each
// "sliding_attention" or "full_attention"), where the config gives it: every layer, the even ones
// from layer 0, or every one from some layer on; another pattern is refused, and a list without a
// sliding layer leaves no window. Without the key `a->local_layers` stays as the caller set it.
Status ReadLayerTypes(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(std::vector<std::string> types, r.StringListOr("layer_types"));
  if (types.empty()) return Status::Ok();
  const char* expected =
      "one entry per layer, each sliding_attention or full_attention: all sliding, the even layers from layer 0, or "
      "every layer from some layer on";
  if (static_cast<int64_t>(types.size()) != a->layers) return r.Error("layer_types", expected);
  std::vector<bool> local;
  for (const std::string& t : types) {
    if (t != "sliding_attention" && t != "full_attention") return r.Error("layer_types", expected);
    local.push_back(t == "sliding_attention");
  }
  const int64_t first = std::find(local.begin(), local.end(), true) - local.begin();
  if (first == a->layers) {  // every layer attends to the whole sequence
    a->sliding_window = 0;
    return Status::Ok();
  }
  if (a->sliding_window <= 0) return r.Error("sliding_window", "a window of at least 1 token (layer_types names sliding layers)");
  bool even = true, from = true;
  for (int64_t i = 0; i < a->layers; ++i) {
    even = even && local[i] == (i % 2 == 0);
    from = from && local[i] == (i >= first);
  }
  if (from) {
    a->local_layers = first == 0 ? LocalLayers::kAll : LocalLayers::kFrom;
    a->local_from = first;
  } else if (even) {
    a->local_layers = LocalLayers::kEven;
  } else {
    return r.Error("layer_types", expected);
  }
  return Status::Ok();
}

// A window size at `key`: absent, `fallback` (the config class's default); null, none.
StatusOr<int64_t> WindowOr(const ConfigReader& r, const char* key, int64_t fallback) {
  if (r.IsNull(key)) return int64_t{0};
  if (!r.Has(key)) return fallback;
  ASSIGN_OR_RETURN(int64_t w, r.Int(key));
  if (w < 1) return r.Error(key, "a window of at least 1 token, or null for none");
  return w;
}

// Mistral and Mixtral: the window, where there is one, applies to every layer (transformers'
// MistralConfig defaults it to 4096, MixtralConfig to none).
Status ReadMistralWindow(const ConfigReader& r, Architecture* a, int64_t fallback) {
  ASSIGN_OR_RETURN(a->sliding_window, WindowOr(r, "sliding_window", fallback));
  a->local_layers = LocalLayers::kAll;
  return ReadLayerTypes(r, a);
}

// Qwen2 and Qwen3 (dense and MoE): with use_sliding_window, the layers from max_window_layers on
// attend within sliding_window (the config classes' defaults: off, 4096, 28).
Status ReadQwenWindow(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(bool use, r.BoolOr("use_sliding_window", false));
  ASSIGN_OR_RETURN(int64_t window, WindowOr(r, "sliding_window", 4096));
  ASSIGN_OR_RETURN(int64_t from, r.IntOr("max_window_layers", 28));
  if (from < 0) return r.Error("max_window_layers", "a whole number of layers, at least 0");
  a->sliding_window = use ? window : 0;
  a->local_layers = LocalLayers::kFrom;
  a->local_from = from;
  RETURN_IF_ERROR(ReadLayerTypes(r, a));
  if (a->local_layers == LocalLayers::kFrom && a->local_from >= a->layers) a->sliding_window = 0;  // no layer reaches it
  return Status::Ok();
}

// gpt-oss (transformers' GptOssConfig): every layer routes to `num_local_experts` experts whose
// projections carry biases, under a router with a bias; q, k, v and o carry biases; each head has
// a learned sink logit; `layer_types` alternates windowed and full attention from layer 0 by
// default (ReadLayerTypes reads another). The clamped SwiGLU is timed as SwiGLU. The class's
// defaults differ from the llama family's: head_dim 64, biases on q, k, v and o, a 128-token window.
Status ReadGptOss(const ConfigReader& r, Architecture* a) {
  RETURN_IF_ERROR(ReadLlamaLike(r, a));
  ASSIGN_OR_RETURN(a->head_dim, r.IntOr("head_dim", 64));
  if (a->head_dim <= 0) return r.Error("head_dim", "a positive whole number");
  ASSIGN_OR_RETURN(a->qkv_bias, r.BoolOr("attention_bias", true));
  a->attn_out_bias = a->qkv_bias;
  ASSIGN_OR_RETURN(a->moe.experts, r.Int("num_local_experts"));
  ASSIGN_OR_RETURN(a->moe.top_k, r.Int("num_experts_per_tok"));
  a->moe.expert_ffn = a->ffn;
  a->moe.router_bias = a->moe.expert_bias = true;
  a->moe_layer.assign(a->layers, true);
  a->attention_sinks = true;
  ASSIGN_OR_RETURN(a->sliding_window, WindowOr(r, "sliding_window", 128));
  a->local_layers = LocalLayers::kEven;
  return ReadLayerTypes(r, a);
}

// DeepSeek-V2 and V3 (MLA, routed and shared experts, dense first layers, MTP). transformers'
// DeepseekV3Config has no topk_method: its router always carries the score-correction bias and
// routes within groups (n_group 8, topk_group 4 by default), which `noaux_tc` names for V2's.
Status ReadDeepseek(const ConfigReader& r, Architecture* a, bool v3) {
  RETURN_IF_ERROR(ReadLlamaLike(r, a));
  a->attention = AttentionKind::kMla;
  ASSIGN_OR_RETURN(a->mla.q_lora_rank, r.IntOr("q_lora_rank", 0));
  ASSIGN_OR_RETURN(a->mla.kv_lora_rank, r.Int("kv_lora_rank"));
  ASSIGN_OR_RETURN(a->mla.rope_dim, r.Int("qk_rope_head_dim"));
  ASSIGN_OR_RETURN(a->mla.nope_dim, r.Int("qk_nope_head_dim"));
  ASSIGN_OR_RETURN(a->mla.v_dim, r.Int("v_head_dim"));
  a->head_dim = a->mla.nope_dim + a->mla.rope_dim;
  a->kv_heads = a->heads;
  ASSIGN_OR_RETURN(a->moe.experts, r.IntOr("n_routed_experts", 0));
  // Without the key (None in transformers) the layers are dense; given, it routes every layer
  // from first_k_dense_replace on, and 0 experts is nothing to route to.
  if (r.Has("n_routed_experts") && a->moe.experts == 0) {
    return r.Error("n_routed_experts", "at least one expert (leave the key out for dense layers)");
  }
  if (a->moe.experts > 0) {
    ASSIGN_OR_RETURN(a->moe.top_k, r.Int("num_experts_per_tok"));
    ASSIGN_OR_RETURN(a->moe.expert_ffn, r.Int("moe_intermediate_size"));
    ASSIGN_OR_RETURN(int64_t shared, r.IntOr("n_shared_experts", 0));
    a->moe.shared_ffn = shared * a->moe.expert_ffn;
    ASSIGN_OR_RETURN(std::string topk_method, r.StringOr("topk_method", v3 ? "noaux_tc" : "greedy"));
    if (topk_method != "greedy" && topk_method != "group_limited_greedy" && topk_method != "noaux_tc") {
      return r.Error("topk_method", "one of greedy, group_limited_greedy, noaux_tc");
    }
    a->moe.router_bias = topk_method == "noaux_tc";
    if (topk_method == "noaux_tc" || topk_method == "group_limited_greedy") {
      ASSIGN_OR_RETURN(a->moe.groups, r.IntOr("n_group", v3 ? 8 : 0));
      ASSIGN_OR_RETURN(a->moe.group_top_k, r.IntOr("topk_group", v3 ? 4 : 0));
      if (a->moe.groups < 0 || (a->moe.groups > 0 && a->moe.experts % a->moe.groups != 0)) {
        return r.Error("n_group", "a whole number that divides n_routed_experts");
      }
      if (a->moe.groups > 0 && (a->moe.group_top_k < 1 || a->moe.group_top_k > a->moe.groups)) {
        return r.Error("topk_group", "between 1 and n_group");
      }
    }
    ASSIGN_OR_RETURN(int64_t first_dense, r.IntOr("first_k_dense_replace", 0));
    if (first_dense < 0 || first_dense > a->layers) {
      return r.Error("first_k_dense_replace", "a whole number from 0 to the number of layers");
    }
    ASSIGN_OR_RETURN(int64_t freq, r.IntOr("moe_layer_freq", 1));
    if (freq <= 0) return r.Error("moe_layer_freq", "a positive whole number");
    a->moe_layer.assign(a->layers, false);
    for (int64_t i = first_dense; i < a->layers; ++i) a->moe_layer[i] = i % freq == 0;
  }
  ASSIGN_OR_RETURN(a->mtp_layers, r.IntOr("num_nextn_predict_layers", 0));
  return Status::Ok();
}

// The head dimension of a config type whose attention splits the hidden size evenly over the heads
// (Hugging Face refuses a config of these types where the heads do not divide it).
StatusOr<int64_t> EvenHeadDim(const ConfigReader& r, const Architecture& a, const char* heads_key) {
  if (a.hidden > 0 && a.hidden % a.heads != 0) {
    return r.Error(heads_key, ("a divisor of the hidden size (" + std::to_string(a.hidden) + ")").c_str());
  }
  return a.hidden / a.heads;
}

Status ReadGpt2(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(a->hidden, r.Int("n_embd"));
  ASSIGN_OR_RETURN(a->layers, r.Layers({"n_layer"}));
  ASSIGN_OR_RETURN(a->heads, r.Int("n_head"));
  a->kv_heads = a->heads;
  if (a->heads <= 0) return r.Error("n_head", "a positive whole number");
  ASSIGN_OR_RETURN(a->head_dim, EvenHeadDim(r, *a, "n_head"));
  ASSIGN_OR_RETURN(a->ffn, r.IntOr("n_inner", 4 * a->hidden));
  ASSIGN_OR_RETURN(a->vocab, r.Int("vocab_size"));
  ASSIGN_OR_RETURN(a->max_positions, r.IntOr("n_positions", 1024));
  if (a->max_positions <= 0) {
    return r.Error("n_positions", "a positive whole number (the learned position table's rows)");
  }
  a->position_rows = a->max_positions;
  ASSIGN_OR_RETURN(a->tied_embeddings, r.BoolOr("tie_word_embeddings", true));
  ASSIGN_OR_RETURN(a->activation, ParseActivation(r, "activation_function", "gelu_new"));
  a->gated_mlp = false;
  a->norm = NormKind::kLayerNorm;
  a->qkv_bias = a->attn_out_bias = a->mlp_bias = true;
  ASSIGN_OR_RETURN(a->dropout, r.DropoutOr("resid_pdrop", 0.1));
  return Status::Ok();
}

Status ReadGptNeox(const ConfigReader& r, Architecture* a) {
  RETURN_IF_ERROR(ReadLlamaLike(r, a));
  ASSIGN_OR_RETURN(a->head_dim, EvenHeadDim(r, *a, "num_attention_heads"));
  ASSIGN_OR_RETURN(a->activation, ParseActivation(r, "hidden_act", "gelu"));
  a->gated_mlp = false;
  a->norm = NormKind::kLayerNorm;
  ASSIGN_OR_RETURN(a->qkv_bias, r.BoolOr("attention_bias", true));
  a->attn_out_bias = a->qkv_bias;
  a->mlp_bias = true;
  ASSIGN_OR_RETURN(a->dropout, r.DropoutOr("hidden_dropout", 0.0));
  return Status::Ok();
}

Status ReadOpt(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(a->hidden, r.Int("hidden_size"));
  ASSIGN_OR_RETURN(a->layers, r.Layers({"num_hidden_layers"}));
  ASSIGN_OR_RETURN(a->heads, r.Int("num_attention_heads"));
  a->kv_heads = a->heads;
  if (a->heads <= 0) return r.Error("num_attention_heads", "a positive whole number");
  ASSIGN_OR_RETURN(a->head_dim, EvenHeadDim(r, *a, "num_attention_heads"));
  ASSIGN_OR_RETURN(a->ffn, r.Int("ffn_dim"));
  ASSIGN_OR_RETURN(a->vocab, r.Int("vocab_size"));
  ASSIGN_OR_RETURN(a->max_positions, r.IntOr("max_position_embeddings", 2048));
  if (a->max_positions <= 0) {
    return r.Error("max_position_embeddings", "a positive whole number (the learned position table's rows)");
  }
  a->position_rows = a->max_positions + 2;  // OPTLearnedPositionalEmbedding offset
  ASSIGN_OR_RETURN(a->tied_embeddings, r.BoolOr("tie_word_embeddings", true));
  ASSIGN_OR_RETURN(a->activation, ParseActivation(r, "activation_function", "relu"));
  a->gated_mlp = false;
  a->norm = NormKind::kLayerNorm;
  ASSIGN_OR_RETURN(bool bias, r.BoolOr("enable_bias", true));
  a->qkv_bias = a->attn_out_bias = a->mlp_bias = bias;
  ASSIGN_OR_RETURN(bool pre_norm, r.BoolOr("do_layer_norm_before", true));
  ASSIGN_OR_RETURN(bool removed, r.BoolOr("_remove_final_layer_norm", false));
  a->final_norm = pre_norm && !removed;
  ASSIGN_OR_RETURN(int64_t proj, r.IntOr("word_embed_proj_dim", a->hidden));
  if (proj <= 0) return r.Error("word_embed_proj_dim", "a positive whole number of at most 2^24");
  a->embed_proj_dim = proj == a->hidden ? 0 : proj;
  ASSIGN_OR_RETURN(a->dropout, r.DropoutOr("dropout", 0.1));
  return Status::Ok();
}

Status ReadBloom(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(a->hidden, r.FirstInt({"hidden_size", "n_embed"}));
  ASSIGN_OR_RETURN(a->layers, r.Layers({"n_layer", "num_hidden_layers"}));
  ASSIGN_OR_RETURN(a->heads, r.FirstInt({"n_head", "num_attention_heads"}));
  a->kv_heads = a->heads;
  if (a->heads <= 0) return r.Error("n_head", "a positive whole number");
  ASSIGN_OR_RETURN(a->head_dim, EvenHeadDim(r, *a, r.KeyOf({"n_head", "num_attention_heads"})));
  a->ffn = 4 * a->hidden;
  ASSIGN_OR_RETURN(a->vocab, r.Int("vocab_size"));
  ASSIGN_OR_RETURN(a->max_positions, r.IntOr("seq_length", 2048));
  ASSIGN_OR_RETURN(a->tied_embeddings, r.BoolOr("tie_word_embeddings", true));
  a->activation = MlpActivation::kGelu;
  a->gated_mlp = false;
  a->norm = NormKind::kLayerNorm;
  a->embedding_norm = true;
  a->alibi = true;
  a->qkv_bias = a->attn_out_bias = a->mlp_bias = true;
  ASSIGN_OR_RETURN(a->dropout, r.DropoutOr("hidden_dropout", 0.0));
  return Status::Ok();
}

Status ReadFalcon(const ConfigReader& r, Architecture* a) {
  ASSIGN_OR_RETURN(a->hidden, r.Int("hidden_size"));
  ASSIGN_OR_RETURN(a->layers, r.Layers({"num_hidden_layers", "n_layer"}));
  ASSIGN_OR_RETURN(a->heads, r.FirstInt({"num_attention_heads", "n_head"}));
  if (a->heads <= 0) return r.Error("num_attention_heads", "a positive whole number");
  ASSIGN_OR_RETURN(a->head_dim, EvenHeadDim(r, *a, r.KeyOf({"num_attention_heads", "n_head"})));
  ASSIGN_OR_RETURN(bool new_arch, r.BoolOr("new_decoder_architecture", false));
  ASSIGN_OR_RETURN(bool multi_query, r.BoolOr("multi_query", true));
  if (new_arch) {
    ASSIGN_OR_RETURN(a->kv_heads, r.FirstInt({"num_kv_heads", "n_head_kv"}));
  } else {
    a->kv_heads = multi_query ? 1 : a->heads;
  }
  ASSIGN_OR_RETURN(a->ffn, r.IntOr("ffn_hidden_size", 4 * a->hidden));
  ASSIGN_OR_RETURN(a->vocab, r.Int("vocab_size"));
  ASSIGN_OR_RETURN(a->max_positions, r.IntOr("max_position_embeddings", 2048));
  ASSIGN_OR_RETURN(a->tied_embeddings, r.BoolOr("tie_word_embeddings", true));
  a->activation = MlpActivation::kGelu;
  a->gated_mlp = false;
  a->norm = NormKind::kLayerNorm;
  ASSIGN_OR_RETURN(bool bias, r.BoolOr("bias", false));
  a->qkv_bias = a->attn_out_bias = a->mlp_bias = bias;
  ASSIGN_OR_RETURN(a->alibi, r.BoolOr("alibi", false));
  ASSIGN_OR_RETURN(bool parallel_attn, r.BoolOr("parallel_attn", true));
  ASSIGN_OR_RETURN(int64_t ln_parallel, r.IntOr("num_ln_in_parallel_attn", 2));
  if (new_arch && ln_parallel != 1 && ln_parallel != 2) return r.Error("num_ln_in_parallel_attn", "1 or 2");
  a->norms_per_layer = new_arch ? ln_parallel : (parallel_attn ? 1 : 2);
  return Status::Ok();
}

}  // namespace

Status ReadByType(const std::string& type, const ConfigReader& r, Architecture* a) {
  if (type == "llama") return ReadLlamaLike(r, a);
  if (type == "mistral") {
    RETURN_IF_ERROR(ReadLlamaLike(r, a));
    return ReadMistralWindow(r, a, 4096);
  }
  if (type == "qwen2" || type == "qwen3" || type == "qwen2_moe" || type == "qwen3_moe") {
    RETURN_IF_ERROR(ReadLlamaLike(r, a));
    bool qwen2 = type.rfind("qwen2", 0) == 0;
    if (qwen2) a->qkv_bias = true, a->attn_out_bias = false;  // Qwen2Attention hard-codes it
    a->qk_norm = !qwen2;
    if (!qwen2) {  // Qwen3Config's head_dim defaults to 128, not hidden / heads
      ASSIGN_OR_RETURN(a->head_dim, r.IntOr("head_dim", 128));
      if (a->head_dim <= 0) return r.Error("head_dim", "a positive whole number");
    }
    RETURN_IF_ERROR(ReadQwenWindow(r, a));
    if (type == "qwen2_moe") return ReadQwenMoe(r, a, /*shared=*/true);
    if (type == "qwen3_moe") return ReadQwenMoe(r, a, /*shared=*/false);
    return Status::Ok();
  }
  if (type == "mixtral") {
    RETURN_IF_ERROR(ReadLlamaLike(r, a));
    ASSIGN_OR_RETURN(a->moe.experts, r.Int("num_local_experts"));
    ASSIGN_OR_RETURN(a->moe.top_k, r.Int("num_experts_per_tok"));
    a->moe.expert_ffn = a->ffn;
    a->moe_layer.assign(a->layers, true);
    return ReadMistralWindow(r, a, 0);
  }
  if (type == "gpt_oss") return ReadGptOss(r, a);
  if (type == "gemma2") {
    RETURN_IF_ERROR(ReadLlamaLike(r, a));
    ASSIGN_OR_RETURN(a->activation, ParseActivation(r, "hidden_activation", "gelu_pytorch_tanh"));
    ASSIGN_OR_RETURN(a->tied_embeddings, r.BoolOr("tie_word_embeddings", true));
    a->norms_per_layer = 4;
    ASSIGN_OR_RETURN(a->head_dim, r.IntOr("head_dim", 256));  // Gemma2Config's default
    if (a->head_dim <= 0) return r.Error("head_dim", "a positive whole number");
    ASSIGN_OR_RETURN(a->sliding_window, WindowOr(r, "sliding_window", 4096));
    a->local_layers = LocalLayers::kEven;
    return ReadLayerTypes(r, a);
  }
  if (type == "nemotron") {
    RETURN_IF_ERROR(ReadLlamaLike(r, a));
    ASSIGN_OR_RETURN(a->activation, ParseActivation(r, "hidden_act", "relu2"));
    a->gated_mlp = false;
    a->norm = NormKind::kLayerNorm;
    return Status::Ok();
  }
  if (type == "deepseek_v2" || type == "deepseek_v3") return ReadDeepseek(r, a, type == "deepseek_v3");
  if (type == "gpt2") return ReadGpt2(r, a);
  if (type == "gpt_neox") return ReadGptNeox(r, a);
  if (type == "opt") return ReadOpt(r, a);
  if (type == "bloom") return ReadBloom(r, a);
  if (type == "falcon") return ReadFalcon(r, a);
  std::string list;
  for (auto t : SupportedModelTypes()) list += (list.empty() ? "" : ", ") + std::string(t);
  return r.Error("model_type", ("one of " + list).c_str());
}

}  // namespace preflight::model_internal
