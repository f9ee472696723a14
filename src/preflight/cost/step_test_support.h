// File: cost/step_test_support.h
//
// For the step-time unit tests only (includes GoogleTest): a job on a catalog cluster (Job8b) and
// the builders and probes the step_*_test.cc files share.
//
//   namespace preflight::test_support {  // the step_*_test.cc files define their tests here
//   const auto [t, ctx] = StepWith(Llama8bOnH100(), [](Job8b& v) { v.plan.tp = 2; });
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "preflight/catalog/catalog.h"
#include "preflight/cost/step_time.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/load.h"
#include "preflight/model/model.h"
#include "preflight/model/test_support.h"

namespace preflight::test_support {

struct Job8b {
  Architecture arch;
  ParamCounts params;
  TrainingJob job;
  Cluster cluster;
  Plan plan;
};

// A cluster of `devices` catalog devices with the catalog's defaults (or the given NIC rate).
inline Cluster CatalogCluster(const std::string& hardware, int64_t devices,
                              std::optional<double> scale_out_gbits_per_s = std::nullopt) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware(hardware);
  EXPECT_TRUE(h.ok()) << h.status().message();
  ClusterOverrides o;
  o.devices = devices;
  o.scale_out_gbits_per_s_per_device = scale_out_gbits_per_s;
  StatusOr<Cluster> c = BuildCluster(h.ok() ? *h : HardwareSpec{}, o, "test");
  EXPECT_TRUE(c.ok()) << c.status().message();
  return c.ok() ? *c : Cluster{};
}

// A measured host profile with these times in µs: the checkpointed layer, the forward and the
// backward without recompute, and the work around the layers.
inline std::shared_ptr<HostProfile> Profile(double checkpointed_us, double forward_us,
                                            double backward_us, double micro_batch_us) {
  auto h = std::make_shared<HostProfile>();
  h->layer_checkpointed = Seconds(checkpointed_us * 1e-6);
  h->layer_forward = Seconds(forward_us * 1e-6);
  h->layer_backward = Seconds(backward_us * 1e-6);
  h->micro_batch = Seconds(micro_batch_us * 1e-6);
  return h;
}

// The catalog model `model` on one 8-GPU H100 node, pure data parallel, one sequence of `seq_len`
// tokens per GPU.
inline Job8b DataParallelOnH100(const std::string& model, int64_t seq_len) {
  Job8b s;
  s.arch = LoadArch(model);
  s.params = CountParameters(s.arch);
  s.job.seq_len = seq_len;
  s.job.global_batch = 8;
  s.cluster = CatalogCluster("h100-sxm-80gb", 8);
  s.plan.dp = 8;
  return s;
}

// Llama 3.1 8B on one 8-GPU H100 node, pure data parallel, one micro-batch of 8k tokens each.
inline Job8b Llama8bOnH100() { return DataParallelOnH100("llama-3.1-8b", 8192); }

// Llama 3.1 8B on one 8-GPU H100 node at TP `tp` (DP the rest), one sequence of `seq_len` tokens
// per data-parallel rank.
inline Job8b TensorParallelLlama8b(int64_t seq_len, int64_t tp) {
  Job8b s = Llama8bOnH100();
  s.job.seq_len = seq_len;
  s.plan.tp = tp;
  s.plan.dp = 8 / tp;
  return s;
}

// A GPT-2-style model (LayerNorm, GeLU MLP, dropout, 51,200 tokens) given inline.
inline Architecture InlineGpt(int hidden, int layers, int heads, int positions) {
  StatusOr<Architecture> a = ArchitectureFromHfConfig({{"model_type", "gpt2"},
                                                       {"n_embd", hidden},
                                                       {"n_layer", layers},
                                                       {"n_head", heads},
                                                       {"n_positions", positions},
                                                       {"vocab_size", 51200},
                                                       {"activation_function", "gelu"}},
                                                      "gpt-inline", "test");
  EXPECT_TRUE(a.ok()) << a.status().message();
  return a.ok() ? *a : Architecture{};
}

// An fp16 job of the eager Megatron era: unfused attention.
inline TrainingJob EagerFp16Job(int64_t seq_len, int64_t global_batch) {
  TrainingJob job;
  job.seq_len = seq_len;
  job.global_batch = global_batch;
  job.precision = Dtype::kFp16;
  job.flash_attention = false;
  return job;
}

// DeepSeek-V3 on `devices` H800s, data and expert parallel over all of them, `global_batch`
// sequences of `seq_len` tokens (optionally a NIC of `gbits` Gb/s per GPU).
inline Job8b DeepSeekV3OnH800(int64_t devices, int64_t seq_len, int64_t global_batch,
                              std::optional<double> gbits = std::nullopt) {
  Job8b s;
  s.arch = LoadArch("deepseek-v3");
  s.params = CountParameters(s.arch);
  s.job.seq_len = seq_len;
  s.job.global_batch = global_batch;
  s.cluster = CatalogCluster("h800-sxm-80gb", devices, gbits);
  s.plan.dp = devices, s.plan.ep = devices;
  return s;
}

// The step of `s` after `change`, with the context it ran in.
template <typename Change>
std::pair<StepTime, CostContext> StepWith(Job8b s, Change change) {
  change(s);
  CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  StepTime t = EstimateStep(ctx, s.plan);
  return {t, ctx};
}

// The device's default attention kernel at the rates `at` for every sequence length and head
// dimension.
inline void FlatAttention(Job8b* s, const AttentionCurve::Point& at) {
  AttentionCurve flat;
  flat.points = {{512, at.forward, at.backward}, {1e6, at.forward, at.backward}};
  s->cluster.spec.attention_curves.by_head_dim = {flat};
}

inline double Compute(const Job8b& s) {
  const CostContext ctx = MakeCostContext(s.arch, s.params, s.job, s.cluster);
  return EstimateStep(ctx, s.plan).compute.value();
}

inline bool HasWarning(const CostContext& ctx, const std::string& text) {
  return std::any_of(ctx.warnings.begin(), ctx.warnings.end(),
                     [&](const std::string& w) { return w.find(text) != std::string::npos; });
}

}  // namespace preflight::test_support
