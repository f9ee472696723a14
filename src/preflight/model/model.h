// File: model/model.h
//
// Parameter counts and the per-token op list of an Architecture.
//
//   ParamCounts p = CountParameters(arch);      // p.total == 8'030'261'248 for Llama-3.1-8B
//   OpList ops = BuildOps(arch, /*seq_len=*/8192);
//   ops.model_flops_per_token;                   // MFU convention, training (3 × forward)
//
// FLOP convention (docs/conventions.md, ARCHITECTURE.md): a multiply-add is 2 FLOPs; model
// FLOPs per token = 3 × forward, where forward counts every weight GEMM (including the LM head
// and the router, excluding the embedding lookup) and the attention score and value products
// over the full, non-causal sequence, as PaLM and Megatron (2021-2025) count them.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "preflight/model/architecture.h"

namespace preflight {

struct ParamCounts {
  int64_t total = 0;      // the main model, without MTP modules
  int64_t active = 0;     // used per token: all dense params + top-k routed experts
  int64_t embedding = 0;  // input embedding, positions, embedding norm and projections
  int64_t lm_head = 0;    // untied output projection; 0 when tied
  int64_t final_norm = 0;
  int64_t dense_layer = 0;  // one dense transformer layer
  int64_t moe_layer = 0;    // one MoE layer, all experts
  int64_t routed_experts_per_moe_layer = 0;  // the part sharded by expert parallelism
  // Of a layer's non-expert parameters, those tensor parallelism replicates (norms, MLA's
  // down-projections and latent norms, the router, row-parallel biases: LayerParameterTensors).
  int64_t dense_layer_replicated = 0;
  int64_t moe_layer_replicated = 0;
  int64_t mtp = 0;              // unique MTP-module params (embedding and head are shared)
  int64_t mtp_stored_copies = 0;  // embedding + head copies the checkpoint stores per MTP module
  int64_t TotalWithMtp() const { return total + mtp; }
  int64_t CheckpointTotal() const { return total + mtp + mtp_stored_copies; }
};

ParamCounts CountParameters(const Architecture& arch);

// Element counts of one layer's parameter tensors in Megatron's layout (fused QKV and, when gated,
// fused gate and up projections; each bias and norm weight its own tensor): norms, attention
// (MLA: its down- and up-projections, latent norms and output), then the dense MLP, or for an MoE
// layer the router (and its bias), the routed experts' matrices (one entry each, counted once per
// expert) and the shared experts'. Elements times count sum to ParamCounts::dense_layer or
// moe_layer.
struct ParamTensor {
  int64_t elements = 0;
  bool expert = false;    // a routed expert's (sharded by expert parallelism, split by expert TP)
  bool tp_split = true;   // split by tensor parallelism (Megatron's column- and row-parallel weights,
                          // column-parallel biases, vocab-parallel embedding); else replicated
  int64_t count = 1;      // identical tensors it stands for (one per routed expert)
};
std::vector<ParamTensor> LayerParameterTensors(const Architecture& arch, bool moe);

enum class OpKind {
  kQkvProjection,     // Q, K, V (or MLA down/up) projections
  kAttnOutProjection,
  kAttnScores,        // Q·Kᵀ
  kAttnValues,        // softmax · V
  kMlp,               // dense MLP (all its matrices)
  kRouter,
  kRoutedExperts,     // top-k routed experts per token
  kSharedExperts,
  kLmHead,
  kMtpProjection,     // DeepSeek MTP eh_proj
};

std::string_view OpKindName(OpKind kind);

// One kind of work, repeated over `layers` layers; FLOPs are per token per layer, forward.
struct Op {
  OpKind kind;
  int64_t layers = 1;
  double fwd_flops_per_token = 0;
  // For weight GEMMs: per token, y[n] = x[k]·W, summed so that 2·k·n == fwd_flops_per_token
  // (k = 0 for the attention products, whose shape depends on the sequence).
  int64_t gemm_k = 0;
  int64_t gemm_n = 0;
  bool is_expert = false;  // lives on expert-parallel ranks
  double TotalFwdFlopsPerToken() const { return fwd_flops_per_token * static_cast<double>(layers); }
};

struct OpList {
  std::vector<Op> ops;
  double fwd_flops_per_token = 0;    // sum over ops
  double model_flops_per_token = 0;  // training: 3 × forward
  double attention_fwd_flops_per_token = 0;  // the score + value part of the forward
  double head_fwd_flops_per_token = 0;       // the output head(s) part of the forward
};

// REQUIRES: seq_len > 0.
OpList BuildOps(const Architecture& arch, int64_t seq_len);

// Expected number of `domains` (nodes) a token's routed experts fall in, when the experts are
// spread evenly and contiguously over the domains and routing is balanced (each token's top-k
// experts, or with group-limited routing its group_top_k groups, drawn uniformly without
// replacement). Group-limited routing counts groups when they nest inside domains (n_group a
// multiple of the domain count), as DeepSeek-V3's node-limited routing does (at most 4 of 8).
double ExpectedDomainsPerToken(const MoeSpec& moe, int64_t domains);

}  // namespace preflight
