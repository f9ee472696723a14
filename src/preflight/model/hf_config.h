// File: model/hf_config.h
//
// Reads a HuggingFace config.json (as JSON) into an Architecture. Supported model_type:
// llama, mistral, mixtral, qwen2, qwen2_moe, qwen3, qwen3_moe, deepseek_v2, deepseek_v3,
// gpt2, gpt_neox, opt, bloom, falcon, nemotron, gemma2.
//
//   ASSIGN_OR_RETURN(nlohmann::json cfg, LoadJsonFile("config.json"));
//   ASSIGN_OR_RETURN(Architecture a, ArchitectureFromHfConfig(cfg, "my-model", "config.json"));
//
// Defaults follow the transformers config classes (e.g. LlamaConfig ties no embeddings,
// GPT2Config does). Errors name `source`, the key, and what was expected.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "preflight/base/status.h"
#include "preflight/model/architecture.h"

namespace preflight {

// The most layers a model config may give: far above any published model (about 200), so that a
// mistyped count is an input error rather than an out-of-memory abort.
inline constexpr int64_t kMaxModelLayers = 100'000;

// InvalidArgument for an unknown model_type, a missing or ill-typed key, or inconsistent
// sizes (heads not dividing hidden, etc.).
StatusOr<Architecture> ArchitectureFromHfConfig(const nlohmann::json& config,
                                                const std::string& name,
                                                const std::string& source);

// The keys ArchitectureFromHfConfig looks up in `config` (given or not) for its model_type and
// sizes: a key outside them changes nothing. Empty when `config` does not read.
std::set<std::string> HfConfigKeysRead(const nlohmann::json& config);

// A key of `config` that its reader does not look up (HfConfigKeysRead) but that is within two
// edits (insertions, deletions, substitutions or swaps of neighbours) of one it does: most likely a
// misspelling, which would otherwise change nothing without a word (`num_key_value_head` for
// `num_key_value_heads`). Keys shorter than 6 characters are not matched (`n_ctx`, `n_head`).
struct ConfigNearMiss {
  std::string key;      // as given
  std::string read;     // the key read that it resembles
};
std::vector<ConfigNearMiss> HfConfigNearMisses(const nlohmann::json& config);

// The model_type values understood.
const std::vector<std::string_view>& SupportedModelTypes();

}  // namespace preflight
