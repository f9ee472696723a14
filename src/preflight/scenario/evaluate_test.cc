// Tests of scenario/evaluate.h: a valid plan has its memory and fits, one that does not fit exits
// with 1, and the plan's warnings (TP without SP, FP8 without support, recompute modules the model
// has nothing for, kernels short enough to be host-bound).
#include "preflight/scenario/evaluate.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/scenario/scenario.h"
#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

using test_support::Contains;
using test_support::kScenario;
using test_support::LoadText;
using test_support::Replace;
using test_support::SourceDir;
using test_support::Warns;

// A PP that does not divide the layers, with no layer_split stated, spreads them as balanced does
// (the search's plans do the same) and says so; an explicit even split keeps the rule.
TEST(EvaluateTest, LayersThatPpDoesNotDivideAreSpreadUnlessEvenIsAsked) {
  const std::string three = Replace(Replace(kScenario, "devices: 8,", "devices: 6,"), "tp: 2, pp: 1, dp: 4",
                                    "tp: 2, pp: 3, dp: 1");
  StatusOr<Scenario> spread = LoadText(three);
  ASSERT_TRUE(spread.ok()) << spread.status().message();
  EXPECT_TRUE(spread->plan.balanced_layers);
  PlanResult r = Evaluate(*spread, {});
  EXPECT_TRUE(r.check.ok()) << r.check.message;
  EXPECT_TRUE(Warns(r, "does not divide the 32 layers"));
  StatusOr<Scenario> even = LoadText(Replace(three, "pp: 3,", "pp: 3, layer_split: even,"));
  ASSERT_TRUE(even.ok()) << even.status().message();
  EXPECT_FALSE(even->plan.balanced_layers);
  EXPECT_EQ(Evaluate(*even, {}).check.issue, PlanIssue::kPpLayers);
  StatusOr<Scenario> divides = LoadText(kScenario);
  ASSERT_TRUE(divides.ok()) << divides.status().message();
  EXPECT_FALSE(Warns(Evaluate(*divides, {}), "does not divide"));
}

TEST(EvaluateTest, ValidPlanHasMemoryAndFits) {
  StatusOr<Scenario> s = LoadText(kScenario);
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  EXPECT_TRUE(r.check.ok()) << r.check.message;
  EXPECT_TRUE(r.has_memory);
  EXPECT_EQ(r.params.total, 8'030'261'248);
  EXPECT_DOUBLE_EQ(r.memory.capacity.gib(), 80);
  EXPECT_TRUE(r.memory.fits);
  EXPECT_EQ(r.ExitCode(), 0);
}

TEST(EvaluateTest, DoesNotFitIsExitOne) {
  StatusOr<Scenario> s =
      LoadText(kScenario, nullptr,
               {{"model", "llama-3.1-405b"}, {"parallel.tp", "8"}, {"parallel.dp", "1"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  EXPECT_TRUE(r.check.ok()) << r.check.message;
  EXPECT_FALSE(r.memory.fits);
  EXPECT_EQ(r.ExitCode(), 1);
}

TEST(EvaluateTest, Warnings) {
  // TP without SP, and FP8 on a device without it.
  StatusOr<Scenario> s = LoadText(
      kScenario, nullptr,
      {{"parallel.sp", "false"}, {"hardware", "a100-sxm-80gb"}, {"training.precision", "fp8"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  bool sp = false;
  int fp8 = 0;
  for (const std::string& w : r.warnings) {
    sp = sp || Contains(w, "sequence parallelism");
    fp8 += Contains(w, "FP8") ? 1 : 0;
  }
  EXPECT_TRUE(sp);
  EXPECT_EQ(fp8, 1);  // said once, by the cost model
  // An invalid plan has no step time: the missing FP8 is still said, once.
  s = LoadText(kScenario, nullptr,
               {{"parallel.tp", "3"}, {"hardware", "a100-sxm-80gb"}, {"training.precision", "fp8"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  r = Evaluate(*s, {});
  ASSERT_FALSE(r.has_time);
  fp8 = 0;
  for (const std::string& w : r.warnings) fp8 += Contains(w, "FP8") ? 1 : 0;
  EXPECT_EQ(fp8, 1);
  // Recompute modules the model has nothing for: Llama has no MLA, no MoE layers and no norm of
  // its own (fused in Megatron-Core's Transformer Engine spec).
  s = LoadText(kScenario, nullptr,
               {{"parallel.recompute_modules", "core_attn,mla_up_proj,moe_act,layernorm"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  r = Evaluate(*s, {});
  EXPECT_TRUE(Warns(r, "mla_up_proj (no MLA) recomputes nothing"));
  EXPECT_TRUE(Warns(r, "moe_act/moe (no MoE layers) recomputes nothing"));
  EXPECT_TRUE(Warns(r, "layernorm (both norms fused"));
  EXPECT_EQ(RecomputeLabel(s->plan), "selective(core_attn,layernorm,moe_act,mla_up_proj)");
  s->plan.recompute_modules = kModuleCoreAttn;
  EXPECT_EQ(RecomputeLabel(s->plan), "selective");
  // The shared-expert overlap needs shared experts and an all-to-all to hide.
  s = LoadText(kScenario, nullptr, {{"parallel.shared_expert_overlap", "true"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->plan.shared_expert_overlap);
  EXPECT_TRUE(Warns(Evaluate(*s, {}), "shared_expert_overlap hides nothing: the model has no shared experts"));
  s = LoadText(kScenario, nullptr,
               {{"model", "deepseek-v3"}, {"parallel.shared_expert_overlap", "true"}, {"parallel.tp", "1"},
                {"parallel.dp", "8"}, {"parallel.sp", "false"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(Warns(Evaluate(*s, {}), "shared_expert_overlap hides nothing: ep 1 has no all-to-all"));
  s->plan.ep = 8, s->plan.ep_comm_overlap = true;
  EXPECT_TRUE(Warns(Evaluate(*s, {}), "Megatron-Core refuses the pair"));
  // Megatron-Core runs the 1F1B all-to-all overlap without a pipeline or interleaved, and not
  // beside full recompute.
  EXPECT_FALSE(Warns(Evaluate(*s, {}), "ep_comm_overlap with pp > 1"));
  s->plan.recompute = Recompute::kFull;
  EXPECT_TRUE(Warns(Evaluate(*s, {}), "ep_comm_overlap: Megatron-Core refuses it beside full recompute"));
  s->plan.recompute = Recompute::kNone, s->plan.pp = 2, s->plan.dp = 4, s->plan.schedule = Schedule::k1F1B;
  EXPECT_TRUE(Warns(Evaluate(*s, {}), "ep_comm_overlap with pp > 1 needs the interleaved schedule"));
  s->plan.schedule = Schedule::kInterleaved, s->plan.vpp = 2;
  EXPECT_FALSE(Warns(Evaluate(*s, {}), "ep_comm_overlap with pp > 1"));
  // A capacity factor below the busiest expert rank's load drops copies, and says how many.
  s->job.moe_imbalance = 1.5, s->job.moe_capacity_factor = 1.2;
  EXPECT_TRUE(Warns(Evaluate(*s, {}), "training.moe_capacity_factor 1.2 drops at least 20.0% of the routed token copies"));
  s->job.moe_capacity_factor = 1.5;
  EXPECT_FALSE(Warns(Evaluate(*s, {}), "moe_capacity_factor"));
}

// An MoE layout with TP that leaves etp out is told the format's default (1) is not Megatron-LM's
// (tp); stating etp, a dense model or TP 1 says nothing.
TEST(EvaluateTest, AnUnstatedEtpBesideTpIsNamed) {
  const auto warns = [](const std::vector<Override>& o) {
    StatusOr<Scenario> s = LoadText(kScenario, nullptr, o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() && Warns(Evaluate(*s, {}), "parallel.etp not given");
  };
  const Override moe{"model", "mixtral-8x7b"};
  EXPECT_TRUE(warns({moe}));  // tp 2, dp 4, no etp
  EXPECT_FALSE(warns({moe, {"parallel.etp", "1"}}));
  EXPECT_FALSE(warns({moe, {"parallel.tp", "1"}, {"parallel.dp", "8"}}));
  EXPECT_FALSE(warns({}));  // dense
}

// On a TPU v5e-256 (16 x 16) TP 2 takes part of an axis, which JAX's mesh does not do unless told
// to split axes: the plan says so; TP 16 (an axis) and FSDP over the slice (both) say nothing, nor
// does a switched fabric.
TEST(EvaluateTest, AMeshThatSplitsATorusAxisIsNamed) {
  const auto warns = [](const std::vector<Override>& o) {
    StatusOr<Scenario> s = LoadText(kScenario, nullptr, o);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() && Warns(Evaluate(*s, {}), "matches no whole axes of the slice's shape");
  };
  const std::vector<Override> v5e = {{"hardware", "tpu-v5e"}, {"cluster.devices", "256"},
                                     {"cluster.devices_per_node", "8"}, {"training.global_batch", "256"}};
  auto with = [&](std::vector<Override> more) {
    more.insert(more.begin(), v5e.begin(), v5e.end());
    return more;
  };
  EXPECT_TRUE(warns(with({{"parallel.tp", "2"}, {"parallel.dp", "128"}})));
  EXPECT_FALSE(warns(with({{"parallel.tp", "16"}, {"parallel.dp", "16"}})));
  EXPECT_FALSE(warns(with({{"parallel.tp", "1"}, {"parallel.dp", "256"}})));
  EXPECT_FALSE(warns({}));
}

// A step that reads figures measured on another device says which, by device, and lists them; a
// device whose figures are all its own says nothing.
TEST(EvaluateTest, ProxyFiguresAreNamedByTheDeviceTheyWereMeasuredOn) {
  StatusOr<Scenario> s = LoadText(kScenario, nullptr, {{"hardware", "h800-sxm-80gb"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  PlanResult r = Evaluate(*s, {});
  ASSERT_TRUE(r.has_time);
  EXPECT_FALSE(r.proxy_figures.empty());
  EXPECT_TRUE(Warns(r, "h800-sxm-80gb: the step time rests on figures measured on another device"));
  EXPECT_TRUE(Warns(r, "from h100-sxm-80gb: "));
  EXPECT_TRUE(Warns(r, "from h200-sxm-141gb: efficiency.sustained_fraction.bf16"));
  s = LoadText(kScenario, nullptr, {{"hardware", "a100-sxm-80gb"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  r = Evaluate(*s, {});
  EXPECT_TRUE(r.proxy_figures.empty());
  EXPECT_FALSE(Warns(r, "measured on another device"));
}

// GPT-2 124M on A100s in bf16 under torch.compile with fused attention, as two published A/B runs
// of vocabulary padding ran it (the A100 catalog's gemm_odd_width_slowdown cites both).
constexpr const char* kGpt2Small = R"(name: gpt2-small
model: {model_type: gpt2, n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, vocab_size: 50304,
        activation_function: gelu}
hardware: a100-sxm-40gb
cluster: {devices: 1, devices_per_node: 8}
parallel: {tp: 1, pp: 1, dp: 1, recompute: none}
training: {seq_len: 1024, global_batch: 8, micro_batch: 8, precision: bf16, flash_attention: true,
           cross_entropy: pytorch}
source: "unit test"
)";

// The scenario `text` under `overrides`, evaluated; it must load and have a step time.
PlanResult EvaluateWith(const std::string& text, const std::vector<Override>& overrides = {}) {
  StatusOr<Scenario> s = LoadText(text, nullptr, overrides);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return PlanResult{};
  PlanResult r = Evaluate(*s, {});
  EXPECT_TRUE(r.has_time) << r.check.message;
  return r;
}

double StepOf(const std::string& text, const std::vector<Override>& overrides = {}) {
  return EvaluateWith(text, overrides).time.step.value();
}

// The A100's odd-width figure gives back the measurements it was derived from: Raschka's single
// A100 (8 sequences, eager loss) ran 112,046 tokens/s over GPT-2's 50,257-token vocabulary and
// 127,345 over 50,304, 8.78 ms a step apart; Karpathy's nanoGPT (8 A100s, 12 sequences each,
// compiled loss) ran about 25% faster padded.
TEST(EvaluateTest, OddWidthFigureGivesBackItsMeasurements) {
  const std::string odd = Replace(kGpt2Small, "vocab_size: 50304", "vocab_size: 50257");
  const double measured = 8192 / 112046.0 - 8192 / 127345.0;
  EXPECT_NEAR(StepOf(odd) - StepOf(kGpt2Small), measured, 0.02 * measured);
  const std::vector<Override> nanogpt = {{"cluster.devices", "8"},          {"parallel.dp", "8"},
                                         {"training.global_batch", "480"}, {"training.micro_batch", "12"},
                                         {"training.cross_entropy", "compiled"}};
  EXPECT_NEAR(StepOf(odd, nanogpt) / StepOf(kGpt2Small, nanogpt), 1.25, 0.03);
}

// Sequences longer than a learned position table (GPT-2's 1,024 rows) are said; the model's own
// length, and rotary models (no table), are not.
TEST(EvaluateTest, SequencesPastTheLearnedPositionsAreSaid) {
  const auto warned = [](const std::string& text, const std::vector<Override>& overrides) {
    StatusOr<Scenario> s = LoadText(text, nullptr, overrides);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() && Warns(Evaluate(*s, {}), "longer than the model's learned position table (1024 positions)");
  };
  EXPECT_FALSE(warned(kGpt2Small, {}));
  EXPECT_TRUE(warned(kGpt2Small, {{"training.seq_len", "2048"}, {"training.micro_batch", "1"},
                                  {"training.global_batch", "1"}}));
  StatusOr<Scenario> rotary = LoadText(kScenario, nullptr, {{"training.seq_len", "262144"}});
  ASSERT_TRUE(rotary.ok()) << rotary.status().message();
  EXPECT_FALSE(Warns(Evaluate(*rotary, {}), "learned position table"));
}

// An output layer with an odd number of columns per rank is named, with what the device's figure
// charges for it, or that nothing is charged where no figure exists; so is an even one that is no
// multiple of 8, with the figure for its rows; a multiple of 8 is not. TP splits
// the columns, the largest shard counting where it does not divide them.
TEST(EvaluateTest, OddOutputWidthIsNamedWithItsCharge) {
  const std::string odd = Replace(kGpt2Small, "vocab_size: 50304", "vocab_size: 50257");
  auto warnings = [](const std::string& text, const std::vector<Override>& overrides) {
    StatusOr<Scenario> s = LoadText(text, nullptr, overrides);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? Evaluate(*s, {}) : PlanResult{};
  };
  PlanResult r = warnings(odd, {});
  EXPECT_TRUE(Warns(r, "the output layer has 50257 columns per tensor-parallel rank, an odd number"));
  EXPECT_TRUE(Warns(r, "(2.17x their aligned time on a100-sxm-40gb, charged)"));
  auto lists_odd_width = [](const PlanResult& p) {
    return std::any_of(p.proxy_figures.begin(), p.proxy_figures.end(),
                       [](const ProxyFigure& f) { return f.figure == "efficiency.gemm_odd_width_slowdown"; });
  };
  EXPECT_FALSE(lists_odd_width(r));
  StatusOr<Scenario> borrowed = LoadText(odd);
  ASSERT_TRUE(borrowed.ok()) << borrowed.status().message();
  borrowed->cluster.spec.gemm_odd_width_slowdown.proxy_of = "another-a100";
  r = Evaluate(*borrowed, {});
  EXPECT_TRUE(lists_odd_width(r));
  EXPECT_TRUE(Warns(r, "from another-a100: efficiency.gemm_odd_width_slowdown"));
  r = warnings(odd, {{"hardware", "h100-sxm-80gb"}});
  EXPECT_TRUE(Warns(r, "how much slower on h100-sxm-80gb is not measured, so nothing is charged"));
  r = warnings(odd, {{"cluster.devices", "2"}, {"parallel.tp", "2"}});
  EXPECT_TRUE(Warns(r, "the output layer has 25129 columns per tensor-parallel rank"));
  r = warnings(kGpt2Small, {});
  EXPECT_FALSE(Warns(r, "columns per tensor-parallel rank"));
  // Even but no multiple of 8: named with the device's figure for its rows (the H200 measures both).
  const std::string h200 = Replace(kGpt2Small, "vocab_size: 50304", "vocab_size: 50260");
  r = warnings(h200, {{"hardware", "h200-sxm-141gb"}});
  EXPECT_TRUE(Warns(r, "50260 columns per tensor-parallel rank, no multiple of 8"));
  EXPECT_TRUE(Warns(r, "(2.47x their aligned time on h200-sxm-141gb, charged)"));
  r = warnings(Replace(kGpt2Small, "vocab_size: 50304", "vocab_size: 50258"), {{"hardware", "h200-sxm-141gb"}});
  EXPECT_TRUE(Warns(r, "(2.82x their aligned time on h200-sxm-141gb, charged)"));
  r = warnings(h200, {});
  EXPECT_TRUE(Warns(r, "how much slower on a100-sxm-40gb is not measured, so nothing is charged"));
}

// Megatron's fused softmax refuses 2 score matrices per rank (16 heads at TP 8, one sequence):
// plan names the constraint, what the fp32 ops move, the step with and without the kernel, and
// the micro-batch that meets it; two sequences meet it. 5 heads per rank need a multiple of 4;
// keys beyond the kernel's limit are named beside the batch; under fused attention the setting
// is said to do nothing.
TEST(EvaluateTest, UnfusedSoftmaxIsNamedWithItsCost) {
  const std::string gpt =
      "model: {model_type: gpt2, n_embd: 2048, n_layer: 24, n_head: 16, n_positions: 2048, vocab_size: 50304}\n"
      "hardware: a100-sxm-80gb\n"
      "cluster: {devices: 8, devices_per_node: 8}\n"
      "parallel: {tp: 8, pp: 1, dp: 1, recompute: full}\n"
      "training: {seq_len: 1024, global_batch: 16, micro_batch: 1, precision: fp16, flash_attention: false, "
      "attention_softmax: megatron, attention_softmax_in_fp32: true, fused_softmax_max_keys: 2048}\n";
  auto evaluate = [&](const std::vector<Override>& overrides) {
    StatusOr<Scenario> s = LoadText(gpt, nullptr, overrides);
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? Evaluate(*s, {}) : PlanResult{};
  };
  PlanResult r = evaluate({});
  EXPECT_TRUE(Warns(r, "attention softmax unfused: Megatron's fused softmax kernel needs micro-batch x heads / TP "
                       "to be a multiple of 4 (here 1 x 16 / 8 = 2), so it runs PyTorch's ops in fp32 (36 + 48 "
                       "bytes a score where the kernel moves 4 + 6, 4 and 5 more kernels forward and backward)"));
  EXPECT_TRUE(Warns(r, "a micro-batch that is a multiple of 2 meets the batch constraint"));
  const double unfused = r.time.step.value();
  const double fused = evaluate({{"training.attention_softmax", "fused"}}).time.step.value();
  EXPECT_GT(unfused, fused);
  std::ostringstream both;
  both << std::setprecision(3) << "the step takes " << unfused << " s where the kernel gives " << fused << " s";
  EXPECT_TRUE(Warns(r, both.str())) << both.str();
  EXPECT_TRUE(Warns(evaluate({{"training.attention_softmax_in_fp32", "false"}}),
                    "in 16 bits (8 + 14 bytes a score where the kernel moves 4 + 6, 1 and 2 more kernels"));
  EXPECT_FALSE(Warns(evaluate({{"training.micro_batch", "2"}}), "attention softmax unfused"));
  r = evaluate({{"model.n_head", "40"}, {"model.n_embd", "2560"}});
  EXPECT_TRUE(Warns(r, "(here 1 x 40 / 8 = 5)"));
  EXPECT_TRUE(Warns(r, "a micro-batch that is a multiple of 4 meets the batch constraint"));
  r = evaluate({{"training.seq_len", "2048"}, {"training.fused_softmax_max_keys", "1024"}});
  EXPECT_TRUE(Warns(r, "needs keys over 16, at most 1024 and a multiple of 4 (here 2048) and micro-batch x heads"));
  r = evaluate({{"training.micro_batch", "2"}, {"training.seq_len", "2048"}, {"training.fused_softmax_max_keys", "1024"}});
  EXPECT_TRUE(Warns(r, "needs keys over 16, at most 1024 and a multiple of 4 (here 2048), so it runs"));
  EXPECT_FALSE(Warns(r, "a micro-batch that is"));
  r = evaluate({{"training.flash_attention", "true"}});
  EXPECT_TRUE(Warns(r, "training.attention_softmax has no effect with flash_attention: true"));
  EXPECT_FALSE(Warns(r, "attention softmax unfused"));
}

// A small model in eager PyTorch launches kernels shorter than the host can launch them: at the
// upper end of published per-kernel host costs the step grows by more than 10%, and plan says so.
// A large model's kernels are long enough that the host cost does not matter.
TEST(EvaluateTest, ShortKernelsAreFlaggedAsPossiblyHostBound) {
  auto host_bound = [](const PlanResult& r) { return Warns(r, "possibly host-bound"); };
  StatusOr<Scenario> small = LoadText(
      "model: {model_type: gpt2, n_embd: 1024, n_layer: 24, n_head: 16, n_positions: 1024, "
      "vocab_size: 50304}\n"
      "hardware: a100-sxm-80gb\n"
      "cluster: {devices: 8, devices_per_node: 8}\n"
      "parallel: {tp: 8, pp: 1, dp: 1, recompute: full}\n"
      "training: {seq_len: 1024, global_batch: 16, micro_batch: 1, precision: fp16, "
      "flash_attention: false}\n");
  ASSERT_TRUE(small.ok()) << small.status().message();
  const PlanResult r = Evaluate(*small, {});
  ASSERT_TRUE(r.has_time);
  EXPECT_TRUE(host_bound(r));
  // Stating a measured host cost at the published upper end removes the doubt.
  Scenario measured = *small;
  measured.job.host_overhead_per_kernel_us = kHostPerKernelHighUs;
  EXPECT_FALSE(host_bound(Evaluate(measured, {})));

  StatusOr<Scenario> large =
      LoadScenarioFile(SourceDir() + "/examples/llama3.1-70b-h100.yaml", Catalog::Default(), {});
  ASSERT_TRUE(large.ok()) << large.status().message();
  EXPECT_FALSE(host_bound(Evaluate(*large, {})));
}

// The campaign with failures: the default profile applies, P50 and P90 lie beyond the ideal days
// and each other, and the checkpoint is the parameters at the profile's bytes per parameter.
// Qwen3-235B (top-8 routing, no shared experts) on 256 H100s: TP 4 with SP, EP 8, PP 8.
constexpr const char* kQwen3 = R"(name: q3
model: qwen3-235b-a22b
hardware: h100-sxm-80gb
cluster: {devices: 256, devices_per_node: 8}
parallel: {tp: 4, pp: 8, dp: 8, ep: 8, sp: true, zero: 1, schedule: 1f1b, recompute: none, layer_split: balanced}
training: {seq_len: 4096, global_batch: 1024, micro_batch: 1, precision: bf16}
)";

// The exposed communication of one of its MoE layers under `overrides`.
ExposedComm MoeLayerComm(const std::vector<Override>& overrides) {
  const PlanResult r = EvaluateWith(kQwen3, overrides);
  EXPECT_TRUE(r.layers.has_moe);
  return r.layers.moe.exposed_comm;
}

// With expert TP (ETP > 1) the routed experts' all-gather and reduce-scatter move the tokens the
// all-to-all dispatched, top_k copies of each, not the layer's input as attention's pair does: at
// ETP 4 the MoE layer's TP time grows by far more than one attention-sized pair (it grew by
// exactly one before).
TEST(EvaluateTest, ExpertTensorParallelMovesTheDispatchedCopies) {
  const double attention_pair = MoeLayerComm({{"parallel.etp", "1"}}).tp.value();
  const double routed_pair = MoeLayerComm({{"parallel.etp", "4"}}).tp.value() - attention_pair;
  ASSERT_GT(attention_pair, 0);
  EXPECT_GT(routed_pair, 4 * attention_pair);  // eight copies, at better bus bandwidth than one
  EXPECT_LT(routed_pair, 8.5 * attention_pair);
}

// A load imbalance scales the busiest expert rank's all-to-all as it scales its GEMMs: that rank
// receives twice the mean in the dispatch and sends as much back in the combine.
TEST(EvaluateTest, ExpertLoadImbalanceSlowsTheAllToAll) {
  const double even = MoeLayerComm({{"training.moe_imbalance", "1"}}).ep.value();
  const double twice = MoeLayerComm({{"training.moe_imbalance", "2"}}).ep.value();
  ASSERT_GT(even, 0);
  EXPECT_GT(twice, 1.5 * even);
  EXPECT_LE(twice, 2.0 * even * (1 + 1e-9));
}

// Llama 3.1 8B on 64 H100s over a slow network (25 Gb/s a GPU), PP 4, DP 16, full recompute.
constexpr const char* kSlowNetwork = R"(name: l8b
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 64, devices_per_node: 8, scale_out_gbits_per_s_per_device: 25}
parallel: {tp: 1, pp: 4, dp: 16, zero: 1, schedule: 1f1b, recompute: full}
training: {seq_len: 8192, global_batch: 512, micro_batch: 1, precision: bf16}
)";

StepTime SlowNetworkStep(const std::vector<Override>& overrides) { return EvaluateWith(kSlowNetwork, overrides).time; }

// ZeRO-3 with its parameters gathered once a step and kept (fsdp_gather_once) moves ZeRO-1's
// volumes, and its gathers must end before each layer's first forward: they hide under the first
// micro-batch's forward, as ZeRO-1's do, not under the whole step (its exposure was 40% lower).
TEST(EvaluateTest, GatheredOnceHidesItsGathersUnderTheFirstForwardAlone) {
  const double zero1 = SlowNetworkStep({}).exposed_comm.dp.value();
  const double once =
      SlowNetworkStep({{"parallel.zero", "3"}, {"parallel.fsdp_gather_once", "true"}}).exposed_comm.dp.value();
  ASSERT_GT(zero1, 0);
  EXPECT_NEAR(once, zero1, 0.05 * zero1);
}

// At ZeRO 1 the model's gradient buffer stays whole, and the optimizer step zeroes all of it for
// the next step; at ZeRO 2 it zeroes its shard. Over DP 16 the whole buffer's 2 bytes a parameter
// outweigh the shard's other passes.
TEST(EvaluateTest, ZeroOneZeroesItsWholeGradientBuffer) {
  const double zero1 = SlowNetworkStep({}).optimizer.value();
  const double zero2 = SlowNetworkStep({{"parallel.zero", "2"}}).optimizer.value();
  EXPECT_GT(zero1, 2 * zero2);
}

TEST(EvaluateTest, CampaignWithFailuresUsesTheDefaultProfile) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, tokens: 1e12"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  const PlanResult r = Evaluate(*s, {});
  ASSERT_TRUE(r.has_time);
  const Campaign& c = r.campaign;
  ASSERT_TRUE(c.outlook_known);
  EXPECT_EQ(c.reliability->id, kDefaultReliabilityProfile);
  EXPECT_EQ(c.failures.nodes, 1);  // 8 devices: one node of the profile's 8
  EXPECT_DOUBLE_EQ(c.checkpoint_size.value(), 14.0 * static_cast<double>(r.params.TotalWithMtp()));
  // 14 B/param of 8.03B parameters through one node's 0.977 GB/s.
  EXPECT_NEAR(c.failures.checkpoint.value(), 14.0 * static_cast<double>(r.params.TotalWithMtp()) / 0.977e9, 1e-6);
  EXPECT_GT(c.outlook.wall_p50.value() / 86400, c.days_ideal);
  EXPECT_GE(c.outlook.wall_p90.value(), c.outlook.wall_p50.value());
  EXPECT_GT(c.outlook.goodput, 0.9);  // one node fails about once in 264 days
  EXPECT_LT(c.outlook.goodput, 1.0);
  // The interval falls between steps.
  const double steps = c.outlook.interval / r.time.step;
  EXPECT_NEAR(steps, std::round(steps), 1e-6);
}

// The work's device-hours, bill and energy from the ideal days, the catalog's H100 figures (700 W;
// $1.99-5.00 an hour, data/hardware/h100-sxm-80gb.yaml) and the cluster's PUE: no test pinned
// them before (a dropped PUE or swapped prices passed).
TEST(EvaluateTest, CampaignBillsAndPowersTheIdealDays) {
  StatusOr<Scenario> s = LoadText(Replace(Replace(kScenario, "precision: bf16", "precision: bf16, tokens: 1e12"),
                                          "devices_per_node: 8}", "devices_per_node: 8, pue: 1.25}"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  const PlanResult r = Evaluate(*s, {});
  ASSERT_TRUE(r.has_time);
  const Campaign& c = r.campaign;
  const double seconds = 1e12 / r.time.tokens_per_s;
  EXPECT_NEAR(c.days_ideal, seconds / 86400, 1e-9 * c.days_ideal);
  EXPECT_NEAR(c.device_hours, c.days_ideal * 24 * 8, 1e-9 * c.device_hours);
  ASSERT_TRUE(c.cost_known);
  EXPECT_NEAR(c.cost_usd_low, c.device_hours * 1.99, 1e-9 * c.cost_usd_low);
  EXPECT_NEAR(c.cost_usd_high, c.device_hours * 5.00, 1e-9 * c.cost_usd_high);
  ASSERT_TRUE(c.energy_known);
  EXPECT_NEAR(c.energy_mwh, c.device_hours * 700 * 1.25 / 1e6, 1e-9 * c.energy_mwh);
}

// What the campaign cannot price is said: the H100 has a price, a power figure and the default
// profile's vendor; the Trainium2 has neither figure and borrows NVIDIA's failure record.
TEST(EvaluateTest, CampaignSaysWhatItLeavesOutOrBorrows) {
  auto warnings = [](const std::string& hardware) {
    StatusOr<Scenario> s = LoadText(kScenario, nullptr, {{"hardware", hardware}});
    EXPECT_TRUE(s.ok()) << s.status().message();
    return s.ok() ? Evaluate(*s, {}) : PlanResult{};
  };
  const PlanResult h100 = warnings("h100-sxm-80gb");
  ASSERT_TRUE(h100.has_time);
  EXPECT_FALSE(Warns(h100, "the campaign gives no cost"));
  EXPECT_FALSE(Warns(h100, "the campaign gives no energy"));
  EXPECT_FALSE(Warns(h100, "was measured on NVIDIA devices"));
  const PlanResult trn2 = warnings("trainium2");
  ASSERT_TRUE(trn2.has_time);
  EXPECT_FALSE(trn2.campaign.cost_known);
  EXPECT_TRUE(Warns(trn2, "the campaign gives no cost"));
  EXPECT_TRUE(Warns(trn2, "the campaign gives no energy"));
  EXPECT_TRUE(Warns(trn2, "reliability profile llama3-h100-16k was measured on NVIDIA devices"));
  // A profile of the user's own that writes its vendor "Nvidia" names the H100's vendor: nothing is
  // borrowed (the names were compared case by case).
  std::ifstream in(std::string(PREFLIGHT_SOURCE_DIR) + "/data/reliability/llama3-h100-16k.yaml");
  std::stringstream text;
  text << in.rdbuf();
  const std::string own = test_support::WriteFile(test_support::ScratchDir("preflight_own_profile_"), "own.yaml",
                                                  Replace(text.str(), "vendor: NVIDIA", "vendor: Nvidia"));
  StatusOr<Scenario> mine = LoadText(kScenario + std::string("reliability: {profile: ") + own + "}\n");
  ASSERT_TRUE(mine.ok()) << mine.status().message();
  EXPECT_FALSE(Warns(Evaluate(*mine, {}), "was measured on Nvidia devices"));
}

// A scenario's node size other than the catalog's is said (kScenario sets 8 a node); left out,
// the catalog's is taken and nothing is said.
TEST(EvaluateTest, ANodeOtherThanTheCatalogsIsSaid) {
  StatusOr<Scenario> trn2 = LoadText(kScenario, nullptr, {{"hardware", "trainium2"}});
  ASSERT_TRUE(trn2.ok()) << trn2.status().message();
  EXPECT_TRUE(Warns(Evaluate(*trn2, {}), "cluster.devices_per_node 8 is not trainium2's node of 16 devices"));
  StatusOr<Scenario> own = LoadText(Replace(kScenario, "devices_per_node: 8", "scale_up_domain: 16"), nullptr,
                                    {{"hardware", "trainium2"}});
  ASSERT_TRUE(own.ok()) << own.status().message();
  EXPECT_EQ(own->cluster.devices_per_node, 16);
  EXPECT_FALSE(Warns(Evaluate(*own, {}), "devices_per_node"));
  // The catalog's 16 under a smaller domain is still the catalog's.
  StatusOr<Scenario> split = LoadText(Replace(kScenario, "devices_per_node: 8", "devices_per_node: 16, scale_up_domain: 8"),
                                      nullptr, {{"hardware", "trainium2"}});
  ASSERT_TRUE(split.ok()) << split.status().message();
  EXPECT_FALSE(Warns(Evaluate(*split, {}), "devices_per_node"));
  StatusOr<Scenario> h100 = LoadText(kScenario);
  ASSERT_TRUE(h100.ok());
  EXPECT_FALSE(Warns(Evaluate(*h100, {}), "devices_per_node 8 is not"));
}

// A job on part of a node fails as that part (its failures scale with its devices) but writes its
// checkpoint through the node's whole storage path.
TEST(EvaluateTest, APartNodeWritesAtAWholeNodesRate) {
  const std::string two = Replace(Replace(kScenario, "devices: 8,", "devices: 2,"), "dp: 4,", "dp: 1,");
  StatusOr<Scenario> s = LoadText(Replace(two, "global_batch: 64", "global_batch: 8"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  const PlanResult part = Evaluate(*s, {});
  ASSERT_TRUE(part.has_time) << part.check.message;
  const PlanResult whole = Evaluate(*LoadText(kScenario), {});
  EXPECT_DOUBLE_EQ(part.campaign.failures.nodes, 0.25);
  EXPECT_DOUBLE_EQ(part.campaign.failures.JobMtbf().value(), 4 * whole.campaign.failures.JobMtbf().value());
  EXPECT_DOUBLE_EQ(part.campaign.failures.checkpoint.value(), whole.campaign.failures.checkpoint.value());
}

// The per-node write rate stops at the storage's whole rate where the profile gives one: Llama 3's
// Tectonic sustains 2 TB/s for 2,048 nodes, and a job of more nodes shares it.
TEST(EvaluateTest, CheckpointsWriteNoFasterThanTheStorage) {
  const std::string capped = Replace(kScenario, "source:", "reliability: {checkpoint_write_gbytes_per_s_total: 0.5}\nsource:");
  const PlanResult r = Evaluate(*LoadText(capped), {});
  const PlanResult free = Evaluate(*LoadText(kScenario), {});
  ASSERT_TRUE(r.has_time && free.has_time);
  const double size = r.campaign.checkpoint_size.value();
  EXPECT_NEAR(free.campaign.failures.checkpoint.value(), size / 0.977e9, 1e-6);  // one node's rate
  EXPECT_NEAR(r.campaign.failures.checkpoint.value(), size / 0.5e9, 1e-6);        // the storage's
  const PlanResult above = Evaluate(
      *LoadText(Replace(kScenario, "source:", "reliability: {checkpoint_write_gbytes_per_s_total: 5}\nsource:")), {});
  EXPECT_DOUBLE_EQ(above.campaign.failures.checkpoint.value(), free.campaign.failures.checkpoint.value());
  EXPECT_EQ(Catalog::Default().ReliabilityProfileById(kDefaultReliabilityProfile)->checkpoint_write_gbytes_per_s_total.value,
            2000);
}

TEST(EvaluateTest, ReliabilityFiguresOverrideTheProfile) {
  const std::string text = Replace(kScenario, "source:", "reliability: {profile: rsc1-a100, restart_min: 30}\nsource:");
  StatusOr<Scenario> s = LoadText(text);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->reliability->id, "rsc1-a100");
  EXPECT_EQ(s->reliability->restart_min.value, 30);
  EXPECT_TRUE(Contains(s->reliability->restart_min.source, "scenario"));
  EXPECT_EQ(s->reliability->failures_per_node_day.value, 6.5e-3);  // the profile's own
  const PlanResult r = Evaluate(*s, {});
  EXPECT_EQ(r.campaign.failures.checkpoint.value(), 300);  // the profile's blocking time
  // More failures and longer restarts cost more days.
  const PlanResult fewer = Evaluate(*LoadText(Replace(kScenario, "source:", "reliability: {profile: rsc2-a100}\nsource:")), {});
  EXPECT_GT(r.campaign.outlook.wall_mean, fewer.campaign.outlook.wall_mean);
}

// The profile's rates are per node of its size: the job's MTBF follows its devices, not how the
// scenario groups them into nodes.
TEST(EvaluateTest, FailuresFollowTheDevicesNotTheScenariosNodes) {
  const std::string text = Replace(kScenario, "devices_per_node: 8", "devices_per_node: 4");
  const PlanResult fours = Evaluate(*LoadText(text), {});
  const PlanResult eights = Evaluate(*LoadText(kScenario), {});
  EXPECT_EQ(fours.campaign.failures.nodes, 1);
  EXPECT_EQ(fours.campaign.failures.JobMtbf(), eights.campaign.failures.JobMtbf());
  EXPECT_EQ(fours.campaign.failures.checkpoint, eights.campaign.failures.checkpoint);
  // A profile counting nodes of 4 fails twice as often per device.
  const PlanResult per_four = Evaluate(*LoadText(Replace(kScenario, "source:", "reliability: {devices_per_node: 4}\nsource:")), {});
  EXPECT_DOUBLE_EQ(per_four.campaign.failures.JobMtbf().value(), eights.campaign.failures.JobMtbf().value() / 2);
}

// A run shorter than its final checkpoint still finishes (the slowdown is against the run without
// failures, checkpoint included).
TEST(EvaluateTest, AShortRunFinishes) {
  const PlanResult r = Evaluate(*LoadText(Replace(kScenario, "precision: bf16", "precision: bf16, tokens: 1")), {});
  ASSERT_TRUE(r.campaign.outlook_known);
  EXPECT_TRUE(r.campaign.outlook.finishes);
  EXPECT_GT(r.campaign.outlook.wall_p50.value(), r.campaign.failures.checkpoint.value());
}

TEST(EvaluateTest, ReliabilityNoneLeavesTheOutlookUnknown) {
  StatusOr<Scenario> s = LoadText(Replace(kScenario, "source:", "reliability: none\nsource:"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->reliability, nullptr);
  EXPECT_FALSE(Evaluate(*s, {}).campaign.outlook_known);
  EvaluateOptions quiet;
  quiet.simulate_failures = false;
  EXPECT_FALSE(Evaluate(*LoadText(kScenario), quiet).campaign.outlook_known);
}

}  // namespace
}  // namespace preflight
