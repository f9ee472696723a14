#include "preflight/model/hf_config.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include "preflight/model/internal/config_reader.h"

namespace preflight {
using model_internal::ConfigReader;
using model_internal::ReadByType;

namespace {

// Upper bounds far above any published model (the largest have about 200 layers, hidden 25,600,
// 256k-token vocabularies, a few hundred experts and one or two MTP layers) that keep per-layer
// and per-expert tables allocatable and products of sizes in range, so that a mistyped size is an
// input error rather than an out-of-memory abort or an overflow.
constexpr int64_t kMaxWidth = int64_t{1} << 24;  // hidden, FFN, head, expert and latent sizes
constexpr int64_t kMaxVocab = int64_t{1} << 31;
constexpr int64_t kMaxExperts = int64_t{1} << 20;
constexpr int64_t kMaxMtpLayers = 64;
// A thousand times the largest published model: far from the int64 limit of the exact counts.
constexpr double kMaxParameters = 1e15;

// The widths, heads, positions and vocabulary every model has.
Status CheckCommonSizes(const ConfigReader& r, const Architecture& a) {
  if (a.hidden <= 0 || a.hidden > kMaxWidth) {
    return r.Error(r.KeyOf({"hidden_size", "n_embd", "n_embed"}),
                   "a positive whole number of at most 2^24");
  }
  if (a.heads <= 0 || a.heads > kMaxWidth) {
    return r.Error(r.KeyOf({"num_attention_heads", "n_head"}),
                   "a positive whole number of at most 2^24");
  }
  if (a.kv_heads <= 0 || a.heads % a.kv_heads != 0) {
    return r.Error(r.KeyOf({"num_key_value_heads", "num_kv_heads", "n_head_kv"}),
                   "a positive divisor of the attention heads");
  }
  if (a.head_dim <= 0 || a.head_dim > kMaxWidth) {
    // Without head_dim (or MLA's head dimensions), the hidden size over the heads.
    return r.Error(r.KeyOf({"head_dim", "qk_nope_head_dim", "num_attention_heads", "n_head"}),
                   "a head dimension (head_dim, or hidden size over heads) from 1 to 2^24");
  }
  if (a.max_positions < 0 || a.position_rows < 0) {
    return r.Error(r.KeyOf({"max_position_embeddings", "n_positions", "n_ctx"}),
                   "a whole number from 0 to 2^31");
  }
  if (a.embed_proj_dim < 0 || a.embed_proj_dim > kMaxWidth) {
    return r.Error("word_embed_proj_dim", "a positive whole number of at most 2^24");
  }
  if (a.vocab <= 0 || a.vocab > kMaxVocab) {
    return r.Error("vocab_size", "a positive whole number of at most 2^31");
  }
  if (a.ffn <= 0 || a.ffn > kMaxWidth) {
    return r.Error(r.KeyOf({"intermediate_size", "n_inner", "ffn_dim", "ffn_hidden_size", "n_embd",
                            "hidden_size"}),
                   "a positive whole number of at most 2^24");
  }
  return Status::Ok();
}

// The experts, their widths and the MTP layers.
Status CheckMoeSizes(const ConfigReader& r, const Architecture& a) {
  if (a.moe.experts < 0 || a.moe.experts > kMaxExperts) {
    return r.Error(r.KeyOf({"num_experts", "n_routed_experts", "num_local_experts"}),
                   "a whole number of experts from 0 to 2^20");
  }
  // Layers marked as MoE (mixtral's all, Qwen's sparse steps) need experts to route to.
  if (!a.IsMoe() && std::find(a.moe_layer.begin(), a.moe_layer.end(), true) != a.moe_layer.end()) {
    return r.Error(r.KeyOf({"num_experts", "n_routed_experts", "num_local_experts"}),
                   "at least one expert (the config marks MoE layers)");
  }
  if (a.IsMoe() && (a.moe.top_k <= 0 || a.moe.top_k > a.moe.experts)) {
    return r.Error("num_experts_per_tok", "between 1 and the number of experts");
  }
  if (a.IsMoe() && (a.moe.expert_ffn <= 0 || a.moe.expert_ffn > kMaxWidth)) {
    return r.Error("moe_intermediate_size", "a positive whole number of at most 2^24");
  }
  if (a.moe.shared_ffn < 0 || a.moe.shared_ffn > kMaxWidth) {
    return r.Error(r.KeyOf({"n_shared_experts", "shared_expert_intermediate_size"}),
                   "shared experts of at most 2^24 columns in all");
  }
  if (a.mtp_layers < 0 || a.mtp_layers > kMaxMtpLayers) {
    return r.Error("num_nextn_predict_layers", "a whole number from 0 to 64");
  }
  return Status::Ok();
}

// MLA's latent ranks and head dimensions.
Status CheckMlaSizes(const ConfigReader& r, const MlaSpec& m) {
  const std::pair<const char*, int64_t> dims[] = {{"q_lora_rank", m.q_lora_rank},
                                                  {"kv_lora_rank", m.kv_lora_rank},
                                                  {"qk_rope_head_dim", m.rope_dim},
                                                  {"qk_nope_head_dim", m.nope_dim},
                                                  {"v_head_dim", m.v_dim}};
  for (const auto& [key, v] : dims) {
    if (v < 0 || v > kMaxWidth) return r.Error(key, "a whole number from 0 to 2^24");
  }
  if (m.kv_lora_rank == 0 || m.v_dim == 0) {
    return r.Error(m.kv_lora_rank == 0 ? "kv_lora_rank" : "v_head_dim",
                   "a positive whole number");
  }
  return Status::Ok();
}

Status CheckSizes(const ConfigReader& r, const Architecture& a) {
  RETURN_IF_ERROR(CheckCommonSizes(r, a));
  RETURN_IF_ERROR(CheckMoeSizes(r, a));
  return a.attention == AttentionKind::kMla ? CheckMlaSizes(r, a.mla) : Status::Ok();
}

// An upper estimate of the weights, in floating point: every matrix of a layer at its full size
// (MTP layers as layers), the embedding and an untied head. Keeps the exact integer counts
// (model/params.h) far from overflow.
double ApproxParameters(const Architecture& a) {
  const double h = static_cast<double>(a.hidden), hd = static_cast<double>(a.head_dim);
  const double heads = static_cast<double>(a.heads), kv = static_cast<double>(a.kv_heads);
  double layer = 2 * h * heads * hd + 2 * h * kv * hd + 3 * h * static_cast<double>(a.ffn);
  layer += 3 * h * static_cast<double>(a.moe.experts) * static_cast<double>(a.moe.expert_ffn);
  layer += 3 * h * static_cast<double>(a.moe.shared_ffn);
  if (a.attention == AttentionKind::kMla) {
    const MlaSpec& m = a.mla;
    const double q = static_cast<double>(m.q_lora_rank), c = static_cast<double>(m.kv_lora_rank);
    const double nope = static_cast<double>(m.nope_dim), rope = static_cast<double>(m.rope_dim);
    layer += h * (q + c + rope) + std::max(q, h) * heads * (nope + rope) + c * heads * (nope + static_cast<double>(m.v_dim)) +
             heads * static_cast<double>(m.v_dim) * h;
  }
  return layer * static_cast<double>(a.layers + a.mtp_layers) + 2 * static_cast<double>(a.vocab) * h;
}

}  // namespace

const std::vector<std::string_view>& SupportedModelTypes() {
  static const std::vector<std::string_view> kTypes = {
      "llama",     "mistral",     "mixtral",     "qwen2", "qwen2_moe", "qwen3",
      "qwen3_moe", "deepseek_v2", "deepseek_v3", "gpt2",  "gpt_neox",  "opt",
      "bloom",     "falcon",      "nemotron",    "gemma2", "gpt_oss"};
  return kTypes;
}

namespace {

StatusOr<Architecture> ReadConfig(const ConfigReader& r, const nlohmann::json& config, const std::string& name,
                                  const std::string& source) {
  if (!config.is_object()) return InvalidArgument(source + ": expected a JSON object");
  Architecture a;
  a.name = name;
  a.source = source;
  ASSIGN_OR_RETURN(a.model_type, r.StringOr("model_type", ""));
  if (a.model_type.empty()) return r.Error("model_type", "a model_type string");
  RETURN_IF_ERROR(ReadByType(a.model_type, r, &a));
  RETURN_IF_ERROR(CheckSizes(r, a));
  if (ApproxParameters(a) > kMaxParameters) {
    std::ostringstream about;
    about.precision(3);
    about << ApproxParameters(a);
    return InvalidArgument(source + ": expected a model of at most 1e15 parameters (its sizes give about " +
                           about.str() + ")");
  }
  a.FinalizeLayers();
  return a;
}

}  // namespace

StatusOr<Architecture> ArchitectureFromHfConfig(const nlohmann::json& config,
                                                const std::string& name,
                                                const std::string& source) {
  return ReadConfig(ConfigReader(config, source), config, name, source);
}

std::set<std::string> HfConfigKeysRead(const nlohmann::json& config) {
  std::set<std::string> keys;
  if (!ReadConfig(ConfigReader(config, "", &keys), config, "", "").ok()) keys.clear();
  return keys;
}

namespace {

// The optimal-string-alignment distance of `a` and `b` (edits and swaps of neighbours), or
// `limit` + 1 once it passes `limit`.
size_t EditDistanceWithin(const std::string& a, const std::string& b, size_t limit) {
  if ((a.size() > b.size() ? a.size() - b.size() : b.size() - a.size()) > limit) return limit + 1;
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return std::min(d[a.size()][b.size()], limit + 1);
}

}  // namespace

std::vector<ConfigNearMiss> HfConfigNearMisses(const nlohmann::json& config) {
  constexpr size_t kMinLength = 6, kMaxEdits = 2;
  std::vector<ConfigNearMiss> out;
  if (!config.is_object()) return out;
  const std::set<std::string> read = HfConfigKeysRead(config);
  for (const auto& [key, value] : config.items()) {
    if (read.contains(key) || key.size() < kMinLength) continue;
    for (const std::string& r : read) {
      if (r.size() >= kMinLength && EditDistanceWithin(key, r, kMaxEdits) <= kMaxEdits) {
        out.push_back({key, r});
        break;
      }
    }
  }
  return out;
}

}  // namespace preflight
