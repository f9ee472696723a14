// The `parallel:` section of a scenario file, and the settings the plan leaves idle or rules out
// (scenario/internal/fields.h).
#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "preflight/catalog/yaml_reader.h"
#include "preflight/model/hf_config.h"
#include "preflight/scenario/internal/fields.h"
#include "preflight/scenario/scenario.h"

namespace preflight::scenario_internal {

namespace {

Status ReadEnum(const MapReader& p, std::string_view key, Schedule* s) {
  if (!p.Has(key)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string name, p.String(key));
  if (!ParseSchedule(name, s)) return p.Error(key, "one of gpipe, 1f1b, interleaved, zb-h1, dualpipe");
  return Status::Ok();
}

Status ReadEnum(const MapReader& p, std::string_view key, Recompute* r) {
  if (!p.Has(key)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string name, p.String(key));
  if (!ParseRecompute(name, r)) return p.Error(key, "one of none, selective, full, selective-op, dots, names");
  return Status::Ok();
}

// parallel.recompute_method and recompute_num_layers: Megatron-LM's --recompute-method and
// --recompute-num-layers, which apply to full recompute alone (--recompute-granularity full): the
// defaults (uniform, 1) stand beside any mode, another value only beside full recompute.
Status ReadRecomputeMethod(const MapReader& p, Plan* plan) {
  ASSIGN_OR_RETURN(std::string name, p.StringOr("recompute_method", "uniform"));
  if (name != "uniform" && name != "block") return p.Error("recompute_method", "uniform or block");
  ASSIGN_OR_RETURN(const int64_t layers, p.IntOr("recompute_num_layers", 1));
  if (layers < 1 || layers > kMaxModelLayers) {
    return p.Error("recompute_num_layers", "a whole number of layers from 1 to " + std::to_string(kMaxModelLayers) +
                                               " (per group under uniform, per model chunk under block)");
  }
  const bool block = name == "block";
  if ((block || layers != 1) && plan->recompute != Recompute::kFull) {
    return p.Error(block ? "recompute_method" : "recompute_num_layers",
                   "recompute: full beside it (Megatron-LM's --recompute-method applies to full recompute)");
  }
  plan->recompute_method = block ? RecomputeMethod::kBlock : RecomputeMethod::kUniform;
  plan->recompute_num_layers = layers;
  return Status::Ok();
}

// A list of names, as a YAML list or one comma-separated string (an empty list: no name).
StatusOr<std::vector<std::string>> ReadNameList(const MapReader& p, std::string_view key, std::string_view expected) {
  const YAML::Node& node = p.node()[std::string(key)];
  std::vector<std::string> names;
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) return p.Error(key, expected);
      names.push_back(item.Scalar());
    }
  } else if (node.IsScalar()) {
    std::string item;
    std::istringstream in(node.Scalar());
    while (std::getline(in, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      names.push_back(item);
    }
  } else {
    return p.Error(key, expected);
  }
  return names;
}

// parallel.recompute_modules: Megatron-Core's names, as a list or one comma-separated string (used
// by recompute: selective only, as in Megatron-Core).
Status ReadRecomputeModules(const MapReader& p, Plan* plan) {
  if (!p.Has("recompute_modules")) return Status::Ok();
  constexpr std::string_view kExpected =
      "a list of core_attn, layernorm, moe_act, mla_up_proj, mlp, moe, shared_experts";
  ASSIGN_OR_RETURN(const std::vector<std::string> names, ReadNameList(p, "recompute_modules", kExpected));
  if (names.empty()) return p.Error("recompute_modules", kExpected);
  plan->recompute_modules = 0;
  for (const std::string& name : names) {
    RecomputeModule m;
    if (!ParseRecomputeModule(name, &m)) {
      return p.Error("recompute_modules", std::string(kExpected) + " ('" + name + "' is none of them)");
    }
    // Given twice, one name most likely stands where another was meant.
    if ((plan->recompute_modules & m) != 0) {
      return p.Error("recompute_modules", std::string(kExpected) + ", each once ('" + name + "' is given twice)");
    }
    plan->recompute_modules |= m;
  }
  return Status::Ok();
}

// parallel.recompute_saved and recompute_offloaded: MaxText's checkpoint names that recompute
// `names` keeps in device and in host memory (an empty list, or the key left out: nothing), each
// name once in the two lists together.
Status ReadSavedTensors(const MapReader& p, Plan* plan) {
  constexpr std::string_view kExpected =
      "a list of query_proj, key_proj, value_proj, qkv_proj, out_proj, context, mlpwi_0, mlpwi_1, mlpwi, mlpwo, "
      "decoder_layer_input";
  uint32_t seen = 0;
  for (const char* key : {"recompute_saved", "recompute_offloaded"}) {
    if (!p.Has(key)) continue;
    ASSIGN_OR_RETURN(const std::vector<std::string> names, ReadNameList(p, key, kExpected));
    uint32_t bits = 0;
    for (const std::string& name : names) {
      uint32_t b = 0;
      if (!ParseSavedTensor(name, &b)) {
        return p.Error(key, std::string(kExpected) + " ('" + name + "' is none of them)");
      }
      if ((seen & b) != 0) {
        return p.Error(key, std::string(kExpected) + ", each tensor once in recompute_saved and recompute_offloaded "
                                                     "together ('" + name + "' is given twice)");
      }
      seen |= b;
      bits |= b;
    }
    (std::string_view(key) == "recompute_saved" ? plan->recompute_saved : plan->recompute_offloaded) = bits;
  }
  return Status::Ok();
}

}  // namespace

// The settings given that change nothing for this scenario (Scenario::idle_settings).
StatusOr<std::vector<std::string>> IdleSettings(const MapReader& root, const Scenario& s) {
  std::vector<std::string> idle;
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  const std::string precision(DtypeName(s.job.precision));
  if (t.Has("fp8_recipe") && s.job.precision != Dtype::kFp8) {
    idle.push_back(t.FieldName("fp8_recipe") + " does nothing with precision: " + precision + " (FP8 GEMMs only)");
  }
  if (!QuantizedPrecision(s.job.precision)) {
    for (const char* key : {"fp8_weight_copy", "fp8_saved_inputs"}) {
      if (t.Has(key)) idle.push_back(t.FieldName(key) + " does nothing with precision: " + precision + " (FP8 and FP4 runs only)");
    }
  }
  // The softmax settings of Megatron's attention without a fused kernel: the fused attention
  // kernel holds its softmax; a fused softmax has no fallback to time; an unfused one no limit.
  const auto softmax_idle = [&](const char* key, const std::string& because) {
    if (t.Has(key)) idle.push_back(t.FieldName(key) + " does nothing with " + because);
  };
  if (s.job.flash_attention) {
    for (const char* key : {"attention_softmax", "attention_softmax_in_fp32", "fused_softmax_max_keys"}) {
      softmax_idle(key, "flash_attention: true (the fused attention kernel holds the softmax)");
    }
  } else if (s.job.attention_softmax == AttentionSoftmax::kFused) {
    for (const char* key : {"attention_softmax_in_fp32", "fused_softmax_max_keys"}) {
      softmax_idle(key, "attention_softmax: fused (no unfused fallback)");
    }
  } else if (s.job.attention_softmax == AttentionSoftmax::kUnfused) {
    softmax_idle("fused_softmax_max_keys", "attention_softmax: unfused (the fused kernel never runs)");
  }
  if (!s.arch.IsMoe()) {
    for (const char* key : {"ep_dispatcher", "moe_imbalance", "moe_capacity_factor", "moe_pad_to_capacity", "moe_grouped_gemm"}) {
      if (t.Has(key)) idle.push_back(t.FieldName(key) + " does nothing on a dense model (no experts)");
    }
  }
  if (!s.auto_parallel && root.Has("parallel") && root.node()["parallel"].IsMap()) {
    ASSIGN_OR_RETURN(MapReader p, root.Map("parallel"));
    if (p.Has("recompute_modules") && s.plan.recompute != Recompute::kSelective) {
      idle.push_back(p.FieldName("recompute_modules") + " does nothing without recompute: selective");
    }
    for (const char* key : {"recompute_saved", "recompute_offloaded"}) {
      if (p.Has(key) && s.plan.recompute != Recompute::kNames) {
        idle.push_back(p.FieldName(key) + " does nothing without recompute: names");
      }
    }
  }
  return idle;
}

// Training keys that hold only for some layouts: DeepSpeed's BF16_Optimizer (grad_16bit_copy) runs
// its own ZeRO-1, so a given plan of ZeRO 2 or 3 contradicts it (a searched one drops the copy).
Status CheckTrainingAgainstPlan(const MapReader& root, const Scenario& s) {
  if (s.auto_parallel || s.plan.zero <= MaxZeroStage(s.job)) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  return t.Error("grad_16bit_copy", "false with zero 2 or 3 (DeepSpeed's BF16_Optimizer runs its own ZeRO-1)");
}

namespace {

// parallel: the degrees (dp from the devices when not given).
Status ReadDegrees(const MapReader& p, int64_t devices, Plan* out) {
  Plan& plan = *out;
  ASSIGN_OR_RETURN(plan.tp, p.IntOr("tp", 1));
  ASSIGN_OR_RETURN(plan.pp, p.IntOr("pp", 1));
  ASSIGN_OR_RETURN(plan.vpp, p.IntOr("vpp", 1));
  ASSIGN_OR_RETURN(plan.cp, p.IntOr("cp", 1));
  ASSIGN_OR_RETURN(plan.ep, p.IntOr("ep", 1));
  ASSIGN_OR_RETURN(plan.etp, p.IntOr("etp", 1));
  // Each degree at most the largest cluster, so that their products cannot overflow.
  const std::string degree_range = "a whole number from 1 to " + std::to_string(kMaxClusterDevices);
  for (auto [key, v] : {std::pair{"tp", plan.tp}, {"pp", plan.pp}, {"vpp", plan.vpp},
                        {"cp", plan.cp}, {"ep", plan.ep}, {"etp", plan.etp}}) {
    if (v < 1 || v > kMaxClusterDevices) return p.Error(key, degree_range);
  }
  // Each factor at most 2^24, so tp*cp fits; their product with pp is checked before it is formed.
  if (plan.tp * plan.cp > kMaxClusterDevices || plan.tp * plan.cp > kMaxClusterDevices / plan.pp) {
    // Named by the largest of the three (the last of equals), the degree that takes it past.
    std::pair<const char*, int64_t> largest{"tp", plan.tp};
    for (auto d : {std::pair<const char*, int64_t>{"cp", plan.cp}, {"pp", plan.pp}}) {
      if (d.second >= largest.second) largest = d;
    }
    return p.Error(largest.first, "tp*cp*pp of at most " + std::to_string(kMaxClusterDevices) + " devices");
  }
  const int64_t model_parallel = plan.tp * plan.cp * plan.pp;
  if (p.Has("dp")) {
    ASSIGN_OR_RETURN(plan.dp, p.Int("dp"));
    if (plan.dp < 1 || plan.dp > kMaxClusterDevices) return p.Error("dp", degree_range);
  } else {
    // When tp*cp*pp does not divide the devices, dp stays 1 and the plan rules say why.
    plan.dp = devices % model_parallel == 0 ? devices / model_parallel : 1;
  }
  return Status::Ok();
}

// parallel: the pipeline's stage split (uneven first and last stages, even or balanced).
Status ReadStageSplit(const MapReader& p, Plan* out) {
  Plan& plan = *out;
  const std::string stage_layers = "a whole number of layers from 0 (an even split) to " + std::to_string(kMaxModelLayers);
  ASSIGN_OR_RETURN(plan.first_stage_layers, p.IntOr("first_stage_layers", 0));
  if (plan.first_stage_layers < 0 || plan.first_stage_layers > kMaxModelLayers) {
    return p.Error("first_stage_layers", stage_layers);
  }
  ASSIGN_OR_RETURN(plan.last_stage_layers, p.IntOr("last_stage_layers", 0));
  if (plan.last_stage_layers < 0 || plan.last_stage_layers > kMaxModelLayers) {
    return p.Error("last_stage_layers", stage_layers);
  }
  ASSIGN_OR_RETURN(std::string split, p.StringOr("layer_split", "even"));
  if (split != "even" && split != "balanced") return p.Error("layer_split", "even or balanced");
  plan.balanced_layers = split == "balanced";
  return Status::Ok();
}

// parallel: what overlaps what, how ZeRO-3 gathers, gradient flattening and activation offload.
Status ReadOverlaps(const MapReader& p, Plan* out) {
  Plan& plan = *out;
  ASSIGN_OR_RETURN(plan.overlap_grad_reduce, p.BoolOr("overlap_grad_reduce", true));
  ASSIGN_OR_RETURN(plan.overlap_param_gather, p.BoolOr("overlap_param_gather", true));
  ASSIGN_OR_RETURN(plan.fsdp_gather_once, p.BoolOr("fsdp_gather_once", false));
  if (plan.fsdp_gather_once && plan.zero != 3) return p.Error("fsdp_gather_once", "zero: 3 beside it (it is how FSDP gathers)");
  ASSIGN_OR_RETURN(std::string gather, p.StringOr("zero3_gather", "layer"));
  if (gather != "layer" && gather != "parameter" && gather != "fsdp1" && gather != "fsdp2") {
    return p.Error("zero3_gather", "layer, parameter, fsdp1 or fsdp2");
  }
  if (gather == "parameter" && (plan.zero != 3 || plan.fsdp_gather_once || plan.pp != 1)) {
    return p.Error("zero3_gather", "layer unless zero: 3 without fsdp_gather_once and with pp 1 (DeepSpeed's ZeRO-3 "
                                   "of 2021 ran without pipeline parallelism)");
  }
  if ((gather == "fsdp1" || gather == "fsdp2") && plan.zero != 3) {
    return p.Error("zero3_gather", "layer unless zero: 3 (FSDP's FULL_SHARD is ZeRO-3)");
  }
  if (gather == "fsdp1" && plan.fsdp_gather_once) {
    return p.Error("zero3_gather", "fsdp2 or layer with fsdp_gather_once (the gather-once stack is FSDP2 under "
                                   "torch pipelining)");
  }
  plan.zero3_gather_per_parameter = gather == "parameter";
  plan.fsdp = gather == "fsdp1" ? Plan::Fsdp::kFsdp1 : gather == "fsdp2" ? Plan::Fsdp::kFsdp2 : Plan::Fsdp::kNone;
  ASSIGN_OR_RETURN(plan.grad_flatten, p.BoolOr("grad_flatten", false));
  if (plan.grad_flatten && plan.zero != 0) {
    return p.Error("grad_flatten",
                   "false unless zero: 0 (DeepSpeed's engine flattens gradients only without ZeRO)");
  }
  ASSIGN_OR_RETURN(plan.tp_comm_overlap, p.BoolOr("tp_comm_overlap", false));
  ASSIGN_OR_RETURN(plan.ep_comm_overlap, p.BoolOr("ep_comm_overlap", false));
  ASSIGN_OR_RETURN(plan.shared_expert_overlap, p.BoolOr("shared_expert_overlap", false));
  ASSIGN_OR_RETURN(plan.overlap_p2p_comm, p.BoolOr("overlap_p2p_comm", true));
  ASSIGN_OR_RETURN(plan.cpu_offload_layers, p.IntOr("cpu_offload_layers", 0));
  if (plan.cpu_offload_layers < 0 || plan.cpu_offload_layers > kMaxModelLayers) {
    return p.Error("cpu_offload_layers", "a whole number of layers from 0 (off) to " + std::to_string(kMaxModelLayers));
  }
  return Status::Ok();
}

// parallel.cpu_offload_layers beside pp > 1 or recompute, both of which Megatron-Core's
// TransformerConfig refuses with cpu_offloading: an invalid plan where the file pairs them
// (PlanIssue::kCpuOffload), dropped where a what-if brings the pipeline or the recompute (--pp 2;
// ParseOptions::droppable, which LoadScenarioFile leaves the key out of where the file pairs them).
void DropOffloadRuledOut(const MapReader& p, Drops* drops, Plan* plan) {
  if (!plan->OffloadsBesidePipelineOrRecompute() || !drops->MayDrop("parallel.cpu_offload_layers")) return;
  drops->Drop(p, "cpu_offload_layers", "pp 1 and recompute none (Megatron-Core's rules for cpu_offloading)");
  plan->cpu_offload_layers = 0;
}

}  // namespace

Status ReadParallel(const MapReader& root, int64_t devices, Drops* drops, Scenario* s) {
  const YAML::Node& node = root.node()["parallel"];
  if (!node.IsDefined() || node.IsNull() || (node.IsScalar() && node.Scalar() == "auto")) {
    s->auto_parallel = true;
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(MapReader p, root.Map("parallel"));
  RETURN_IF_ERROR(p.CheckKnownKeys({"tp", "pp", "vpp", "dp", "cp", "ep", "etp", "sp", "zero", "dp_shard",
                                    "schedule", "recompute", "recompute_modules", "recompute_saved",
                                    "recompute_offloaded", "recompute_method",
                                    "recompute_num_layers", "first_stage_layers",
                                    "last_stage_layers", "overlap_grad_reduce",
                                    "overlap_param_gather", "fsdp_gather_once", "zero3_gather", "tp_comm_overlap",
                                    "ep_comm_overlap", "shared_expert_overlap", "grad_flatten",
                                    "overlap_p2p_comm", "layer_split", "cpu_offload_layers"}));
  Plan& plan = s->plan;
  RETURN_IF_ERROR(ReadDegrees(p, devices, &plan));
  s->etp_given = p.Has("etp");
  // Megatron-Core requires sequence parallelism for MoE with TP: the default there.
  ASSIGN_OR_RETURN(plan.sp, p.BoolOr("sp", s->arch.IsMoe() && plan.tp > 1));
  ASSIGN_OR_RETURN(int64_t zero, p.IntOr("zero", 0));
  if (zero < 0 || zero > 3) return p.Error("zero", "0, 1, 2 or 3");
  plan.zero = static_cast<int>(zero);
  if (p.Has("dp_shard")) {
    ASSIGN_OR_RETURN(plan.dp_shard, p.Int("dp_shard"));
    if (plan.dp_shard < 1 || plan.dp_shard > devices) {
      return p.Error("dp_shard", "a whole number of data-parallel ranks from 1 to the cluster's " +
                                     std::to_string(devices) + " (ZeRO's shard group; dividing dp)");
    }
  }
  RETURN_IF_ERROR(ReadEnum(p, "schedule", &plan.schedule));
  if (plan.schedule == Schedule::k1F1B && plan.vpp > 1) plan.schedule = Schedule::kInterleaved;
  RETURN_IF_ERROR(ReadEnum(p, "recompute", &plan.recompute));
  RETURN_IF_ERROR(ReadRecomputeModules(p, &plan));
  RETURN_IF_ERROR(ReadSavedTensors(p, &plan));
  RETURN_IF_ERROR(ReadRecomputeMethod(p, &plan));
  RETURN_IF_ERROR(ReadStageSplit(p, &plan));
  // No split stated: even where PP x VPP divides the layers, else balanced, as the search lays its
  // plans out (an explicit `even` keeps the rule, and such a plan is refused).
  const bool stage_split_given = p.Has("layer_split") || plan.first_stage_layers > 0 || plan.last_stage_layers > 0;
  if (!stage_split_given && plan.pp > 0 && plan.vpp > 0 && s->arch.layers % (plan.pp * plan.vpp) != 0) {
    plan.balanced_layers = true;
    s->layers_spread_unasked = true;
  }
  RETURN_IF_ERROR(ReadOverlaps(p, &plan));
  DropOffloadRuledOut(p, drops, &plan);
  return Status::Ok();
}

}  // namespace preflight::scenario_internal
