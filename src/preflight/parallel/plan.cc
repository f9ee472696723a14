#include "preflight/parallel/plan.h"

#include <algorithm>
#include <array>
#include <sstream>

namespace preflight {
namespace {

constexpr std::array<std::string_view, 5> kScheduleNames = {"gpipe", "1f1b", "interleaved",
                                                            "zb-h1", "dualpipe"};
constexpr std::array<std::string_view, 6> kRecomputeNames = {"none", "selective", "full", "selective-op",
                                                             "dots", "names"};
constexpr std::array<std::string_view, 9> kSavedNames = {"query_proj", "key_proj", "value_proj",
                                                         "out_proj",   "context",  "mlpwi_0",
                                                         "mlpwi_1",    "mlpwo",    "decoder_layer_input"};
constexpr std::array<std::string_view, static_cast<int>(PlanIssue::kCount)> kIssueNames = {
    "valid",          "non_positive_degree", "device_count",      "tp_heads",
    "tp_kv_heads",    "tp_ffn",              "pp_layers",         "vpp_schedule",
    "micro_batches",  "interleaved_micro_batches", "dualpipe",    "expert_parallel",
    "context_parallel", "zero_stage",        "sequence_parallel", "recompute_mode",
    "cpu_offload",    "dp_shard"};

bool Divides(int64_t d, int64_t n) { return d > 0 && n % d == 0; }

// An explicit uneven split (first_stage_layers, last_stage_layers): the stages between the given
// first and last ones, and the layers left for them (negative when the two take more than all).
struct MiddleSplit {
  int64_t stages = 0, layers = 0;
};
MiddleSplit Middle(const Architecture& a, const Plan& p) {
  const int64_t first = p.first_stage_layers, last = p.last_stage_layers;
  return {p.pp - (first > 0 ? 1 : 0) - (last > 0 ? 1 : 0), a.layers - first - last};
}

PlanIssue CheckDegrees(const Plan& p, int64_t devices) {
  if (p.tp < 1 || p.pp < 1 || p.vpp < 1 || p.dp < 1 || p.cp < 1 || p.ep < 1 || p.etp < 1 ||
      p.micro_batch < 1 || p.first_stage_layers < 0 || p.last_stage_layers < 0) {
    return PlanIssue::kNonPositiveDegree;
  }
  if (p.Devices() != devices) return PlanIssue::kDeviceCount;
  if (p.zero < 0 || p.zero > 3) return PlanIssue::kZeroStage;
  if (p.sp && p.tp == 1) return PlanIssue::kSequenceParallel;
  return PlanIssue::kValid;
}

PlanIssue CheckTensor(const Architecture& a, const Plan& p) {
  if (!Divides(p.tp, a.heads)) return PlanIssue::kTpHeads;
  if (a.attention == AttentionKind::kStandard && !Divides(p.tp, a.kv_heads) &&
      !Divides(a.kv_heads, p.tp)) {
    return PlanIssue::kTpKvHeads;
  }
  if (!Divides(p.tp, a.ffn)) return PlanIssue::kTpFfn;
  return PlanIssue::kValid;
}

PlanIssue CheckPipeline(const Architecture& a, const Plan& p, int64_t micro_batches) {
  const bool interleaved = p.schedule == Schedule::kInterleaved;
  if ((p.vpp > 1) != interleaved || (interleaved && p.pp == 1)) return PlanIssue::kVppSchedule;
  const bool uneven = p.first_stage_layers > 0 || p.last_stage_layers > 0;
  if (p.balanced_layers && !uneven) {
    if (a.layers < p.pp * p.vpp) return PlanIssue::kPpLayers;
  } else if (uneven) {
    if (p.pp < 2 || p.vpp != 1) return PlanIssue::kPpLayers;
    const MiddleSplit m = Middle(a, p);
    if (m.layers < 0) return PlanIssue::kPpLayers;
    if (m.stages == 0 ? m.layers != 0 : m.layers % m.stages != 0) {
      return PlanIssue::kPpLayers;
    }
  } else if (!Divides(p.pp * p.vpp, a.layers)) {
    return PlanIssue::kPpLayers;
  }
  if (interleaved && micro_batches % p.pp != 0) return PlanIssue::kInterleavedMicroBatches;
  // DualPipe sends half the micro-batches each way (deepseek-ai/DualPipe dualpipe.py step():
  // num_chunks % 2 == 0 and num_chunks >= num_ranks * 2).
  if (p.schedule == Schedule::kDualPipe && (p.pp % 2 != 0 || micro_batches % 2 != 0 || micro_batches < 2 * p.pp)) {
    return PlanIssue::kDualPipe;
  }
  return PlanIssue::kValid;
}

PlanIssue CheckExperts(const Architecture& a, const Plan& p) {
  if (!a.IsMoe()) return (p.ep == 1 && p.etp == 1) ? PlanIssue::kValid : PlanIssue::kExpertParallel;
  if (!Divides(p.ep, a.moe.experts)) return PlanIssue::kExpertParallel;
  if (!Divides(p.ep * p.etp, p.tp * p.cp * p.dp)) return PlanIssue::kExpertParallel;
  if (!Divides(p.etp, a.moe.expert_ffn)) return PlanIssue::kExpertParallel;
  // The experts run without TP or with the layers' TP group: the step model times expert-TP
  // traffic over the TP group, which another ETP would misprice.
  if (p.etp != 1 && p.etp != p.tp) return PlanIssue::kExpertParallel;
  // Megatron-Core requires sequence parallelism for MoE with tensor parallelism (the experts take
  // each rank's sequence shard; the memory and step models assume it).
  if (p.tp > 1 && !p.sp) return PlanIssue::kSequenceParallel;
  return PlanIssue::kValid;
}

// Why an explicit uneven split (first_stage_layers, last_stage_layers) does not fit the pipeline.
void DescribeUnevenSplit(const Architecture& a, const Plan& p, std::ostringstream* m) {
  const int64_t first = p.first_stage_layers, last = p.last_stage_layers;
  *m << "first_stage_layers " << first << ", last_stage_layers " << last;
  if (p.vpp != 1) {
    *m << ": an uneven first/last stage needs vpp 1, got vpp " << p.vpp;
    return;
  }
  if (p.pp < 2) {
    *m << ": an uneven first/last stage needs pp >= 2, got pp " << p.pp;
    return;
  }
  const MiddleSplit middle = Middle(a, p);
  if (middle.layers < 0) {
    *m << ": together more than the " << a.layers << " layers";
    return;
  }
  *m << ": the other " << middle.layers << " of the " << a.layers
     << " layers do not split evenly over the " << middle.stages << " other stages of pp " << p.pp;
}

// Why the layers do not split over the pipeline's model chunks, for the plan's kind of split.
void DescribeLayerSplit(const Architecture& a, const Plan& p, std::ostringstream* m) {
  if (p.first_stage_layers > 0 || p.last_stage_layers > 0) {
    DescribeUnevenSplit(a, p, m);
    return;
  }
  *m << "pp " << p.pp << " x vpp " << p.vpp;
  if (p.pp * p.vpp > a.layers) {
    *m << " makes " << p.pp * p.vpp << " model chunks, more than the " << a.layers
       << " layers; lower pp or vpp";
  } else {
    *m << " does not split the " << a.layers
       << " layers evenly; set layer_split: balanced to spread them unevenly";
  }
}

void DescribeDeviceCount(const Plan& p, int64_t devices, std::ostringstream* m) {
  const int64_t model_parallel = p.tp * p.cp * p.pp;
  *m << "tp*cp*pp*dp = " << p.tp << "*" << p.cp << "*" << p.pp << "*" << p.dp << " = " << p.Devices()
     << ", but the cluster has " << devices << " devices";
  // No dp makes up the count: say so, rather than leave the dp shown to stand as an answer.
  if (model_parallel > 0 && devices % model_parallel != 0) {
    *m << ", which no dp gives: they are no multiple of tp*cp*pp = " << model_parallel;
  }
}

// The rule both ways: vpp > 1 only with interleaved and pp > 1; interleaved only with vpp > 1.
void DescribeVppSchedule(const Plan& p, std::ostringstream* m) {
  if (p.schedule == Schedule::kInterleaved && p.vpp <= 1) {
    *m << "the interleaved schedule needs vpp > 1 (virtual stages per device), got vpp " << p.vpp
       << "; with vpp 1 use another schedule (schedule: 1f1b)";
  } else {
    *m << "vpp " << p.vpp << " needs the interleaved schedule with pp > 1; got " << ScheduleName(p.schedule)
       << " with pp " << p.pp;
  }
}

void DescribeExpertParallel(const Architecture& a, const Plan& p, std::ostringstream* m) {
  if (!a.IsMoe()) {
    *m << "ep " << p.ep << " / etp " << p.etp << " given for a dense model";
    return;
  }
  *m << "ep " << p.ep << " must divide the " << a.moe.experts << " experts, etp " << p.etp
     << " the expert width " << a.moe.expert_ffn << " and be 1 or the tp " << p.tp
     << ", and ep*etp the tp*cp*dp = " << p.tp * p.cp * p.dp << " devices of a stage";
}

void DescribeRecomputeMode(const Plan& p, std::ostringstream* m) {
  if (p.recompute == Recompute::kFull && p.recompute_num_layers > 1) {
    *m << "recompute_num_layers " << p.recompute_num_layers << " under uniform recompute: Megatron-Core's MTP "
          "layers take groups of 1 only (or recompute_method: block)";
  } else if (p.recompute == Recompute::kFull) {
    *m << "recompute_num_layers " << p.recompute_num_layers << ": full recompute needs at least 1 layer a group "
          "(uniform) or chunk (block)";
  } else if (p.recompute == Recompute::kDots) {
    *m << "recompute dots (JAX's checkpoint_dots_with_no_batch_dims) is modelled for dense layers with "
          "standard attention";
  } else if (p.recompute == Recompute::kNames) {
    *m << "recompute names (JAX's named checkpoints, MaxText's remat_policy custom) is modelled for dense "
          "layers with standard attention";
  } else {
    *m << "recompute selective-op (torchtitan's op-level policy) is modelled for dense layers with standard "
          "attention and fused attention (flash_attention: true)";
  }
}

void DescribeDpShard(const Plan& p, std::ostringstream* m) {
  if (p.dp_shard > 0 && p.dp % p.dp_shard != 0) {
    *m << "dp_shard " << p.dp_shard << " must divide dp " << p.dp;
    return;
  }
  *m << "dp_shard " << p.dp_shard << " below dp " << p.dp << " (hybrid sharding) needs zero 1, 2 or 3, a dense "
        "model and ZeRO-3 gathered by layer (zero3_gather: layer); got zero " << p.zero;
}

void DescribeCpuOffload(const Architecture& a, const Plan& p, std::ostringstream* m) {
  if (p.cpu_offload_layers >= a.layers || p.OffloadsBesidePipelineOrRecompute()) {
    *m << "cpu_offload_layers " << p.cpu_offload_layers << " needs fewer layers than the model's " << a.layers
       << ", pp 1 and recompute none (Megatron-Core's rules for cpu_offloading); got pp " << p.pp
       << " and recompute " << RecomputeName(p.recompute);
    return;
  }
  *m << "cpu_offload_layers is modelled for dense layers with standard, fused attention "
        "(flash_attention: true)";
}

std::string Describe(PlanIssue issue, const Architecture& a, const Plan& p, const TrainingJob& j,
                     int64_t devices) {
  std::ostringstream m;
  switch (issue) {
    case PlanIssue::kValid: break;
    case PlanIssue::kNonPositiveDegree: m << "every parallel degree and micro_batch must be at least 1"; break;
    case PlanIssue::kDeviceCount: DescribeDeviceCount(p, devices, &m); break;
    case PlanIssue::kTpHeads: m << "tp " << p.tp << " does not divide the " << a.heads << " attention heads"; break;
    case PlanIssue::kTpKvHeads:
      m << "tp " << p.tp << " neither divides the " << a.kv_heads
        << " KV heads nor is a multiple of them (KV heads cannot be replicated evenly)";
      break;
    case PlanIssue::kTpFfn: m << "tp " << p.tp << " does not divide the MLP width " << a.ffn; break;
    case PlanIssue::kPpLayers: DescribeLayerSplit(a, p, &m); break;
    case PlanIssue::kVppSchedule: DescribeVppSchedule(p, &m); break;
    case PlanIssue::kMicroBatches:
      m << "global batch " << j.global_batch << " sequences is not divisible by dp*micro_batch = "
        << p.dp << "*" << p.micro_batch;
      break;
    case PlanIssue::kInterleavedMicroBatches:
      m << "the interleaved schedule needs the " << MicroBatches(p, j)
        << " micro-batches per pipeline to be a multiple of pp " << p.pp;
      break;
    case PlanIssue::kDualPipe:
      m << "dualpipe needs an even pp and an even number of micro-batches, at least 2*pp (half go each way); got pp "
        << p.pp << " and " << MicroBatches(p, j) << " micro-batches";
      break;
    case PlanIssue::kExpertParallel: DescribeExpertParallel(a, p, &m); break;
    case PlanIssue::kContextParallel:
      m << "cp " << p.cp << " needs seq_len " << j.seq_len << " divisible by 2*cp (load-balanced causal chunks)";
      break;
    case PlanIssue::kZeroStage: m << "zero must be 0, 1, 2 or 3; got " << p.zero; break;
    case PlanIssue::kSequenceParallel:
      m << (p.sp ? "sequence parallelism (sp) needs tp > 1"
                 : "an MoE model with tp > 1 needs sequence parallelism (sp: true), as Megatron-Core requires");
      break;
    case PlanIssue::kRecomputeMode: DescribeRecomputeMode(p, &m); break;
    case PlanIssue::kDpShard: DescribeDpShard(p, &m); break;
    case PlanIssue::kCpuOffload: DescribeCpuOffload(a, p, &m); break;
    case PlanIssue::kCount: break;
  }
  return m.str();
}

}  // namespace

std::string_view ScheduleName(Schedule s) { return kScheduleNames[static_cast<int>(s)]; }
std::string_view RecomputeName(Recompute r) { return kRecomputeNames[static_cast<int>(r)]; }
std::string_view PlanIssueName(PlanIssue issue) { return kIssueNames[static_cast<int>(issue)]; }

bool ParseSchedule(std::string_view name, Schedule* out) {
  for (size_t i = 0; i < kScheduleNames.size(); ++i) {
    if (kScheduleNames[i] == name) {
      *out = static_cast<Schedule>(i);
      return true;
    }
  }
  return false;
}

bool ParseRecompute(std::string_view name, Recompute* out) {
  for (size_t i = 0; i < kRecomputeNames.size(); ++i) {
    if (kRecomputeNames[i] == name) {
      *out = static_cast<Recompute>(i);
      return true;
    }
  }
  return false;
}

namespace {
constexpr std::array<std::string_view, 7> kModuleNames = {"core_attn", "layernorm",   "moe_act",       "mla_up_proj",
                                                           "mlp",       "moe",         "shared_experts"};

// A table of names, the i-th naming bit i: the bit of `name` (0 when none), and the names of `bits`
// comma-separated in table order.
template <size_t N>
uint32_t BitOfName(const std::array<std::string_view, N>& names, std::string_view name) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == name) return 1u << i;
  }
  return 0;
}

template <size_t N>
std::string NamesOfBits(const std::array<std::string_view, N>& names, uint32_t bits) {
  std::string out;
  for (size_t i = 0; i < N; ++i) {
    if ((bits & (1u << i)) == 0) continue;
    if (!out.empty()) out += ",";
    out += names[i];
  }
  return out;
}

}  // namespace

bool ParseRecomputeModule(std::string_view name, RecomputeModule* out) {
  const uint32_t bit = BitOfName(kModuleNames, name);
  if (bit != 0) *out = static_cast<RecomputeModule>(bit);
  return bit != 0;
}

std::string RecomputeLabel(const Plan& p) {
  if (RecomputesByBlock(p)) return "full(block " + std::to_string(p.recompute_num_layers) + ")";
  if (p.recompute == Recompute::kFull && p.recompute_num_layers > 1) {
    return "full(uniform " + std::to_string(p.recompute_num_layers) + ")";
  }
  if (p.recompute == Recompute::kNames) {
    const uint32_t kept = p.recompute_saved | p.recompute_offloaded;
    return kept == 0 ? "names(none)" : "names(" + SavedTensorNames(kept) + ")";
  }
  if (p.recompute != Recompute::kSelective || p.recompute_modules == kModuleCoreAttn) {
    return std::string(RecomputeName(p.recompute));
  }
  return "selective(" + RecomputeModuleNames(p.recompute_modules) + ")";
}

bool ParseSavedTensor(std::string_view name, uint32_t* bits) {
  if (name == "qkv_proj") {
    *bits = kSavedQuery | kSavedKey | kSavedValue;
    return true;
  }
  if (name == "mlpwi") {
    *bits = kSavedMlpWi0 | kSavedMlpWi1;
    return true;
  }
  *bits = BitOfName(kSavedNames, name);
  return *bits != 0;
}

std::string SavedTensorNames(uint32_t bits) { return NamesOfBits(kSavedNames, bits); }

std::string RecomputeModuleNames(uint32_t modules) { return NamesOfBits(kModuleNames, modules); }

int64_t MicroBatches(const Plan& p, const TrainingJob& j) {
  const int64_t per_step = p.dp * p.micro_batch;
  return per_step > 0 ? j.global_batch / per_step : 0;
}

int MaxZeroStage(const TrainingJob& j) { return j.grad_16bit_copy ? 1 : 3; }

bool ZeroShardsNothing(const Architecture& a, const Plan& p) {
  return p.ShardDp() * p.cp == 1 && (!a.IsMoe() || p.dp * p.cp * p.tp <= p.ep * p.etp);
}

PlanIssue FindPlanIssue(const Architecture& a, const Plan& p, const TrainingJob& j,
                        int64_t devices) {
  PlanIssue issue = CheckDegrees(p, devices);
  if (issue != PlanIssue::kValid) return issue;
  if ((issue = CheckTensor(a, p)) != PlanIssue::kValid) return issue;
  if (j.global_batch <= 0 || j.global_batch % (p.dp * p.micro_batch) != 0) {
    return PlanIssue::kMicroBatches;
  }
  if ((issue = CheckPipeline(a, p, MicroBatches(p, j))) != PlanIssue::kValid) return issue;
  if ((issue = CheckExperts(a, p)) != PlanIssue::kValid) return issue;
  if (p.cp > 1 && j.seq_len % (2 * p.cp) != 0) return PlanIssue::kContextParallel;
  if (p.recompute == Recompute::kFull && p.recompute_num_layers < 1) return PlanIssue::kRecomputeMode;
  // Megatron-Core's MTP layer asserts recompute_num_layers 1 under uniform recompute.
  if (p.recompute == Recompute::kFull && !RecomputesByBlock(p) && p.recompute_num_layers > 1 && a.mtp_layers > 0) {
    return PlanIssue::kRecomputeMode;
  }
  // torchtitan's op-level policy counts the matrix products of a dense layer in call order.
  if (p.recompute == Recompute::kSelectiveOp &&
      (a.IsMoe() || a.attention == AttentionKind::kMla || !j.flash_attention)) {
    return PlanIssue::kRecomputeMode;
  }
  // The dots policy's saved set is counted for a dense layer's products.
  if ((p.recompute == Recompute::kDots || p.recompute == Recompute::kNames) &&
      (a.IsMoe() || a.attention == AttentionKind::kMla)) {
    return PlanIssue::kRecomputeMode;
  }
  // Megatron-Core's TransformerConfig refuses offloading at or beyond the layer count, with
  // pipeline parallelism and with recompute; the tensors it moves are counted for dense layers.
  if (p.cpu_offload_layers > 0 &&
      (p.cpu_offload_layers >= a.layers || p.OffloadsBesidePipelineOrRecompute() || a.IsMoe() ||
       a.attention == AttentionKind::kMla || !j.flash_attention)) {
    return PlanIssue::kCpuOffload;
  }
  // Hybrid sharding is modelled for the dense data-parallel group: an expert's is another group.
  if (p.dp_shard > 0 && (p.dp % p.dp_shard != 0 ||
                         (p.dp_shard < p.dp && (p.zero == 0 || a.IsMoe() || p.zero3_gather_per_parameter)))) {
    return PlanIssue::kDpShard;
  }
  return PlanIssue::kValid;
}

PlanCheck CheckPlan(const Architecture& a, const Plan& p, const TrainingJob& j, int64_t devices) {
  PlanCheck c;
  c.issue = FindPlanIssue(a, p, j, devices);
  c.message = Describe(c.issue, a, p, j, devices);
  return c;
}

namespace {

// Balanced split: stages 1..r get one extra layer, r = layers mod pp (r < pp).
int64_t ExtraLayersBefore(const Architecture& a, const Plan& p, int64_t stage) {
  const int64_t r = a.layers % p.pp;
  return std::clamp<int64_t>(stage - 1, 0, r);
}

}  // namespace

int64_t OutputColumnsPerRank(const Architecture& a, const Plan& p) {
  const int64_t tp = std::max<int64_t>(1, p.tp);
  return (a.vocab + tp - 1) / tp;
}

int64_t ScoreMatricesPerRank(const Architecture& a, const Plan& p) {
  return p.micro_batch * a.heads / std::max<int64_t>(1, p.tp);
}

bool UnfusedSoftmax(const Architecture& a, const Plan& p, const TrainingJob& j) {
  if (j.flash_attention) return false;
  switch (j.attention_softmax) {
    case AttentionSoftmax::kFused:
      return false;
    case AttentionSoftmax::kUnfused:
      return true;
    case AttentionSoftmax::kMegatron:
      break;
  }
  return !(FusedSoftmaxTakesKeys(j) && ScoreMatricesPerRank(a, p) % 4 == 0);
}

bool FusedSoftmaxTakesKeys(const TrainingJob& j) {
  return j.seq_len > 16 && j.seq_len <= j.fused_softmax_max_keys && j.seq_len % 4 == 0;
}

int64_t LayersOnStage(const Architecture& a, const Plan& p, int64_t stage) {
  const bool uneven = p.first_stage_layers > 0 || p.last_stage_layers > 0;
  if (!uneven && p.balanced_layers) {
    return a.layers / p.pp + (ExtraLayersBefore(a, p, stage + 1) - ExtraLayersBefore(a, p, stage));
  }
  if (!uneven) return a.layers / p.pp;
  if (stage == 0 && p.first_stage_layers > 0) return p.first_stage_layers;
  if (stage == p.pp - 1 && p.last_stage_layers > 0) return p.last_stage_layers;
  const MiddleSplit middle = Middle(a, p);
  return middle.layers / middle.stages;
}

int64_t ChunksPerStage(const Plan& p) {
  return p.schedule == Schedule::kInterleaved ? std::max<int64_t>(p.vpp, 1) : 1;
}

int64_t LayersPerChunk(const Plan& p, int64_t layers) {
  const int64_t chunks = ChunksPerStage(p);
  return (layers + chunks - 1) / chunks;
}

int64_t RecomputedLayers(const Plan& p, int64_t layers) {
  if (p.recompute != Recompute::kFull) return 0;
  if (p.recompute_method != RecomputeMethod::kBlock) return layers;
  return std::min(layers, std::min(p.recompute_num_layers, LayersPerChunk(p, layers)) * ChunksPerStage(p));
}

namespace {

// Stages that hold the same number of layers.
struct StageClass {
  int64_t stages = 0;
  int64_t layers = 0;
};

// The stages grouped by the layers each holds (LayersOnStage), in O(1) however deep the pipeline:
// an even split is one group; a balanced one the r = L mod PP stages with one layer more and the
// rest; with a first or last stage given, those two and the middle stages, which share the rest
// evenly. Returns how many groups `out` holds (at most three).
int StageClasses(const Architecture& a, const Plan& p, StageClass out[3]) {
  const bool uneven = p.first_stage_layers > 0 || p.last_stage_layers > 0;
  if (!uneven) {
    const int64_t r = p.balanced_layers ? a.layers % p.pp : 0;
    out[0] = {p.pp - r, a.layers / p.pp};
    if (r == 0) return 1;
    out[1] = {r, a.layers / p.pp + 1};
    return 2;
  }
  int n = 0;
  out[n++] = {1, LayersOnStage(a, p, 0)};
  if (p.pp > 1) out[n++] = {1, LayersOnStage(a, p, p.pp - 1)};
  if (p.pp > 2) out[n++] = {p.pp - 2, LayersOnStage(a, p, 1)};
  return n;
}

}  // namespace

int64_t MostLayersPerChunk(const Architecture& a, const Plan& p) {
  StageClass classes[3];
  const int n = StageClasses(a, p, classes);
  int64_t most = 0;
  for (int i = 0; i < n; ++i) most = std::max(most, LayersPerChunk(p, classes[i].layers));
  return most;
}

int64_t RecomputedLayersInModel(const Architecture& a, const Plan& p) {
  if (!RecomputesByBlock(p)) return RecomputedLayers(p, a.layers);
  StageClass classes[3];
  const int n = StageClasses(a, p, classes);
  int64_t total = 0;
  for (int i = 0; i < n; ++i) total += classes[i].stages * RecomputedLayers(p, classes[i].layers);
  return total;
}

namespace {

// The first layer of `stage` with every stage's layers contiguous.
int64_t ContiguousFirstLayer(const Architecture& a, const Plan& p, int64_t stage) {
  if (stage == 0) return 0;
  const bool uneven = p.first_stage_layers > 0 || p.last_stage_layers > 0;
  if (!uneven && p.balanced_layers) return stage * (a.layers / p.pp) + ExtraLayersBefore(a, p, stage);
  const int64_t first = p.first_stage_layers > 0 ? p.first_stage_layers : LayersOnStage(a, p, 0);
  const int64_t middle = stage == 1 ? 0 : (stage - 1) * LayersOnStage(a, p, 1);
  return first + middle;
}

}  // namespace

bool PlacedByChunk(const Architecture& a, const Plan& p) {
  const bool uneven = p.first_stage_layers > 0 || p.last_stage_layers > 0;
  const int64_t chunks = ChunksPerStage(p);
  return chunks > 1 && !uneven && a.layers % (p.pp * chunks) == 0;
}

int64_t FirstLayerOfChunk(const Architecture& a, const Plan& p, int64_t stage, int64_t chunk) {
  if (!PlacedByChunk(a, p)) return ContiguousFirstLayer(a, p, stage) + chunk * LayersPerChunk(p, LayersOnStage(a, p, stage));
  const int64_t per_chunk = a.layers / (p.pp * ChunksPerStage(p));
  return chunk * per_chunk * p.pp + stage * per_chunk;
}

int64_t FirstLayerOfStage(const Architecture& a, const Plan& p, int64_t stage) {
  return FirstLayerOfChunk(a, p, stage, 0);
}

namespace {

// MoE layers among the first `prefix` layers of each of the stage's chunks.
int64_t MoeLayersInChunkPrefixes(const Architecture& a, const Plan& p, int64_t stage, int64_t prefix) {
  const int64_t n = LayersOnStage(a, p, stage);
  if (a.MoeSuffixStart() == 0) return std::min(n, prefix * ChunksPerStage(p));  // every layer MoE
  if (!PlacedByChunk(a, p)) {
    return a.MoeLayersIn(FirstLayerOfStage(a, p, stage), std::min(n, prefix * ChunksPerStage(p)));
  }
  const int64_t per_chunk = LayersPerChunk(p, n), take = std::min(prefix, per_chunk);
  int64_t moe = 0;
  for (int64_t c = 0; c < ChunksPerStage(p); ++c) moe += a.MoeLayersIn(FirstLayerOfChunk(a, p, stage, c), take);
  return moe;
}

}  // namespace

int64_t MoeLayersOnStage(const Architecture& a, const Plan& p, int64_t stage) {
  if (!a.IsMoe()) return 0;
  return MoeLayersInChunkPrefixes(a, p, stage, LayersOnStage(a, p, stage));
}

int64_t RecomputedMoeLayersOnStage(const Architecture& a, const Plan& p, int64_t stage) {
  if (!RecomputesByBlock(p) || !a.IsMoe()) return 0;
  return MoeLayersInChunkPrefixes(a, p, stage, p.recompute_num_layers);
}

int CandidateStages(const Architecture& a, const Plan& p, int64_t* out) {
  const int64_t suffix = a.MoeSuffixStart();
  if (suffix < 0) return 0;
  // Placed chunk by chunk, a dense prefix past the first pass of chunks leaves dense layers on
  // several stages: examine them all.
  if (PlacedByChunk(a, p) && suffix > FirstLayerOfChunk(a, p, 0, 1)) return 0;
  int n = 0;
  auto add = [&](int64_t s) {
    if (s < 0 || s >= p.pp) return;
    for (int i = 0; i < n; ++i) {
      if (out[i] == s) return;
    }
    out[n++] = s;
  };
  add(0);
  add(1);
  add(p.pp - 1);
  if (suffix > 0 && suffix < a.layers) {
    // The stage holding layer `suffix`, and the next (the first made only of MoE layers).
    int64_t lo = 0, hi = p.pp - 1;
    while (lo < hi) {
      const int64_t mid = (lo + hi + 1) / 2;
      if (FirstLayerOfStage(a, p, mid) <= suffix) lo = mid; else hi = mid - 1;
    }
    add(lo);
    add(lo + 1);
  }
  std::sort(out, out + n);
  return n;
}

}  // namespace preflight
