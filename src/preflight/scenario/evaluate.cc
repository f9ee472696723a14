#include "preflight/scenario/evaluate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <iomanip>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "preflight/base/check.h"
#include "preflight/cost/collectives.h"

namespace preflight {
namespace {

// The campaign's token count: not given, or less than one step's.
void WarnIfCampaignIsShort(const Scenario& s, PlanResult* r) {
  if (s.job.tokens <= 0) {
    r->warnings.push_back("training.tokens not given: the campaign (days, device-hours, cost, energy) counts 1e12 tokens");
  } else if (s.job.tokens < static_cast<double>(s.job.GlobalBatchTokens())) {
    std::ostringstream tokens;
    tokens << s.job.tokens;
    r->warnings.push_back("training.tokens (" + tokens.str() + ") is less than one step's " +
                          std::to_string(s.job.GlobalBatchTokens()) + " tokens: the campaign prices a part of a step");
  }
}

// A node size other than the catalog's for this device (a scenario written for 8-GPU servers,
// re-run on Trainium2's 16-chip instances): the placement of groups on nodes follows the scenario.
void WarnIfNodeIsNotTheCatalogs(const Scenario& s, PlanResult* r) {
  const HardwareSpec& h = s.cluster.spec;
  if (!h.node_devices.known()) return;
  // The catalog's node, or its default (no more than the scale-up domain).
  const auto node = static_cast<int64_t>(h.node_devices.value);
  const int64_t given = s.cluster.devices_per_node;
  if (given == node || (!s.cluster.domain_cut_to_node && given == std::min(node, s.cluster.scale_up_domain))) return;
  r->warnings.push_back("cluster.devices_per_node " + std::to_string(given) + " is not " + h.id + "'s node of " +
                        std::to_string(node) + " devices (catalog scale_out.node_devices): groups are " +
                        "placed on nodes of " + std::to_string(s.cluster.devices_per_node) +
                        "; leave the key out to take the catalog's");
}

// A multi-node cluster whose last node is partly used.
void WarnIfPartNode(const Scenario& s, PlanResult* r) {
  const int64_t per_node = s.cluster.devices_per_node;
  if (per_node > 0 && s.cluster.devices > per_node && s.cluster.devices % per_node != 0) {
    r->warnings.push_back("cluster.devices " + std::to_string(s.cluster.devices) + " is no multiple of devices_per_node " +
                          std::to_string(per_node) + ": the last node is partly used (failures and node counts scale with " +
                          "the devices)");
  }
}

// A capacity factor below the busiest expert rank's load drops routed copies (at least this share:
// the capacity is per expert, the imbalance per rank): the step is timed for those kept, and the
// tokens counted train fewer experts than the model says.
void WarnIfTokensDropped(const Scenario& s, PlanResult* r) {
  const TrainingJob& j = s.job;
  const double dropped = j.MoeDroppedShare();
  if (!s.arch.IsMoe() || dropped <= 0) return;
  std::ostringstream w;
  w << "training.moe_capacity_factor " << j.moe_capacity_factor << " drops at least " << std::fixed << std::setprecision(1)
    << 100 * dropped << "% of the routed token copies on the busiest expert rank (load " << std::defaultfloat
    << std::setprecision(6) << j.moe_imbalance << " times the mean, training.moe_imbalance): its experts are timed for the copies kept";
  r->warnings.push_back(w.str());
}

// Campaign figures a plan leaves out or borrows: cost and energy the catalog cannot price, and
// failure rates measured on another vendor's devices.
// Vendor names as files write them: "NVIDIA" and "Nvidia" are one vendor.
bool SameVendor(const std::string& a, const std::string& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

void WarnIfCampaignIncomplete(const Scenario& s, PlanResult* r) {
  const HardwareSpec& h = s.cluster.spec;
  if (!h.price.known) {
    r->warnings.push_back(h.id + " has no price in the catalog (price_usd_per_device_hour): the campaign gives no cost");
  }
  if (!h.power_w.known()) {
    r->warnings.push_back(h.id + " has no power figure in the catalog (power_w): the campaign gives no energy");
  }
  const ReliabilityProfile* p = s.reliability.get();
  if (p != nullptr && !p->vendor.empty() && !h.vendor.empty() && !SameVendor(p->vendor, h.vendor)) {
    r->warnings.push_back("reliability profile " + p->id + " was measured on " + p->vendor + " devices (" + p->cluster +
                          "); its failure, restart and checkpoint figures stand in for " + h.id + "'s (" + h.vendor +
                          "), which the catalog does not have (reliability.profile)");
  }
}

// The layout against the cluster and the model: TP beyond a scale-up domain, sequences beyond a
// learned position table, an MoE layout that leaves etp to the format's default, TP without SP.
void WarnAboutLayout(const Scenario& s, PlanResult* r) {
  const Plan& p = s.plan;
  if (s.layers_spread_unasked) {
    r->warnings.push_back("pp " + std::to_string(p.pp) + (p.vpp > 1 ? " x vpp " + std::to_string(p.vpp) : "") +
                          " does not divide the " + std::to_string(s.arch.layers) +
                          " layers: spread as layer_split: balanced spreads them (stages differ by one layer; "
                          "Megatron-LM needs decoder_first/last_pipeline_num_layers for such a split); write "
                          "layer_split: even to refuse the plan instead");
  }
  if (p.tp > s.cluster.scale_up_domain) {
    r->warnings.push_back("tp " + std::to_string(p.tp) + " spans more than one scale-up domain (" +
                          std::to_string(s.cluster.scale_up_domain) +
                          " devices): tensor-parallel traffic crosses the scale-out network");
  }
  if (s.arch.position_rows > 0 && s.job.seq_len > s.arch.max_positions) {
    r->warnings.push_back("training.seq_len " + std::to_string(s.job.seq_len) +
                          " is longer than the model's learned position table (" +
                          std::to_string(s.arch.max_positions) +
                          " positions): the model as configured cannot take such sequences; the parameters "
                          "counted keep its table as given");
  }
  // Megatron-LM sets an unstated --expert-tensor-parallel-size to the TP size (arguments.py); the
  // scenario format's default is 1, as Megatron-Bridge's MoE presets and torchtitan state it.
  if (s.arch.IsMoe() && p.tp > 1 && !s.auto_parallel && !s.etp_given) {
    r->warnings.push_back("parallel.etp not given: the experts are not split by TP (etp 1), where Megatron-LM's own "
                          "default is etp = tp (" + std::to_string(p.tp) + "); state etp as your run sets it");
  }
  // Full recompute and the JAX policies keep no norm or dropout output.
  if (p.tp > 1 && !p.sp && p.recompute != Recompute::kFull && p.recompute != Recompute::kDots &&
      p.recompute != Recompute::kNames) {
    r->warnings.push_back("tp > 1 without sequence parallelism replicates norm and dropout activations on every TP rank");
  }
}

// Selective recompute's modules that Megatron-Core would reject or skip for this model: they
// change nothing here.
void WarnAboutIdleRecomputeModules(const Scenario& s, PlanResult* r) {
  const Plan& p = s.plan;
  if (p.recompute != Recompute::kSelective) return;
  const Architecture& a = s.arch;
  std::vector<std::string> idle;
  if (p.Recomputes(kModuleMlaUpProj) && a.attention != AttentionKind::kMla) idle.push_back("mla_up_proj (no MLA)");
  if ((p.Recomputes(kModuleMoeAct) || p.Recomputes(kModuleMoe)) && !a.IsMoe()) idle.push_back("moe_act/moe (no MoE layers)");
  if (p.Recomputes(kModuleSharedExperts) && a.moe.shared_ffn == 0) idle.push_back("shared_experts (no shared experts)");
  if (p.Recomputes(kModuleMlp) && a.IsMoe() && a.MoeLayerCount() == a.layers) idle.push_back("mlp (no dense layers)");
  if (p.Recomputes(kModuleLayernorm) && a.attention != AttentionKind::kMla && !a.IsMoe()) {
    idle.push_back("layernorm (both norms fused into the next product in Megatron-Core's Transformer Engine spec)");
  }
  for (const std::string& m : idle) r->warnings.push_back("recompute_modules: " + m + " recomputes nothing");
}

// The experts' overlaps where they hide nothing or Megatron-Core would not run them.
void WarnAboutExpertOverlaps(const Scenario& s, PlanResult* r) {
  const Plan& p = s.plan;
  if (p.shared_expert_overlap && (s.arch.moe.shared_ffn == 0 || p.ep == 1)) {
    r->warnings.push_back(std::string("shared_expert_overlap hides nothing: ") +
                          (s.arch.moe.shared_ffn == 0 ? "the model has no shared experts" : "ep 1 has no all-to-all"));
  } else if (p.shared_expert_overlap && (p.ep_comm_overlap || p.schedule == Schedule::kDualPipe)) {
    // Megatron-Core refuses the pair (transformer_config.py: "disable moe_shared_expert_overlap when
    // enabling overlap_moe_expert_parallel_comm").
    r->warnings.push_back("shared_expert_overlap is not used beside the whole-layer all-to-all overlap (ep_comm_overlap, "
                          "DualPipe), which hides more; Megatron-Core refuses the pair");
  }
  if (p.ep_comm_overlap && p.ep > 1) {
    if (!AllToAllOverlapSchedule(p.pp, p.schedule)) {
      r->warnings.push_back("ep_comm_overlap with pp > 1 needs the interleaved schedule in Megatron-Core (its 1F1B "
                            "all-to-all overlap runs only there); the step is timed as if it ran");
    }
    if (!AllToAllOverlapRecompute(p)) {
      r->warnings.push_back("ep_comm_overlap: Megatron-Core refuses it beside full recompute or recompute of the moe "
                            "module; the step is timed as if it ran");
    }
  }
}

void AddWarnings(const Scenario& s, PlanResult* r) {
  r->warnings.insert(r->warnings.end(), s.idle_settings.begin(), s.idle_settings.end());
  WarnAboutLayout(s, r);
  WarnAboutIdleRecomputeModules(s, r);
  WarnAboutExpertOverlaps(s, r);
  WarnIfTokensDropped(s, r);
  if (s.plan.cpu_offload_layers > 0 && !s.cluster.spec.host_link_gbytes_per_s.known()) {
    r->warnings.push_back(s.cluster.spec.id +
                          ": host link rate unknown (host_link_gbytes_per_s): the activation offload copies are not "
                          "timed, a lower bound on the step");
  }
  if (s.plan.Keeps(kSavedContext) && !s.job.flash_attention) {
    r->warnings.push_back("parallel.recompute_saved: context names the fused attention kernel's output; without it "
                          "(flash_attention: false) nothing carries that name, and the attention products are "
                          "recomputed");
  }
  if (s.plan.recompute == Recompute::kNames && s.plan.recompute_offloaded != 0) {
    r->warnings.push_back("parallel.recompute_offloaded (" + SavedTensorNames(s.plan.recompute_offloaded) +
                          "): the copies to host memory and back are taken as hidden under compute, not timed, a "
                          "lower bound on the step");
  }
  WarnIfCampaignIsShort(s, r);
  WarnIfPartNode(s, r);
  WarnIfNodeIsNotTheCatalogs(s, r);
  // With a step time, the cost model has said it already (its warning says what the GEMMs run in).
  if (!r->has_time && s.job.precision == Dtype::kFp8 && !s.cluster.spec.peak(Dtype::kFp8).known()) {
    r->warnings.push_back(s.cluster.spec.id + " has no FP8 support in the catalog: FP8 training falls back to bf16 GEMMs");
  }
}

// The step again at the upper end of published per-kernel host costs: when it grows by more than
// 10% (a reporting threshold, not a hardware figure), the kernels are short enough that the
// unmeasured host cost decides the answer.
void WarnIfHostBound(const Scenario& s, const CostContext& ctx, PlanResult* r) {
  if (s.job.host_profile || s.job.host_overhead_per_kernel_us >= kHostPerKernelHighUs) return;
  CostContext slow = ctx;
  slow.host_per_kernel = Seconds(kHostPerKernelHighUs * 1e-6);
  const double step = r->time.step.value();
  const double at_high = EstimateStep(slow, s.plan).step.value();
  if (!(at_high > step * 1.10)) return;
  r->possibly_host_bound = true;
  std::ostringstream w;
  w << std::setprecision(3) << "possibly host-bound: the kernels are short, and at " << kHostPerKernelHighUs
    << " us of host time per kernel launch (the upper end of published eager-PyTorch figures; this run assumes "
    << s.job.host_overhead_per_kernel_us << " us) the step would take " << at_high << " s instead of " << step
    << " s (+" << std::fixed << std::setprecision(0) << 100 * (at_high / step - 1)
    << "%); measure your stack's host time per layer (tools/host/measure_eager_host.py, training.host_profile)";
  r->warnings.push_back(w.str());
}

// A host profile timed one kind of layer; a model whose layers run other ops (RMSNorm, a gated MLP,
// MLA, experts) spends a different host time per layer, which the profile does not know.
void WarnIfHostProfileLayerDiffers(const Scenario& s, PlanResult* r) {
  const HostProfile* h = s.job.host_profile.get();
  if (h == nullptr || h->layer != "gpt") return;
  const Architecture& a = s.arch;
  std::string differs;
  auto add = [&differs](const char* what) { differs += (differs.empty() ? "" : ", ") + std::string(what); };
  if (a.norm == NormKind::kRmsNorm) add("RMSNorm");
  if (a.gated_mlp) add("a gated MLP");
  if (a.attention == AttentionKind::kMla) add("MLA");
  if (a.IsMoe()) add("experts");
  if (differs.empty()) return;
  r->warnings.push_back("host profile " + h->id + " timed a GPT layer (LayerNorm, GeLU MLP, standard attention); " +
                        "this model's layers have " + differs +
                        ", so their host time is an estimate: measure this model's layer on your stack");
}

// MFU and HFU count full (non-causal) attention, as PaLM and Megatron do, while causal kernels run
// half of it: where the step runs near the device's rate (a datasheet peak, when nothing measured
// is in the catalog), either can pass 100%. Say why rather than leave the figure unexplained.
void WarnIfMfuAboveOne(const PlanResult& r, std::vector<std::string>* warnings) {
  if (!(r.time.mfu > 1.0) && !(r.time.hfu > 1.0)) return;
  std::ostringstream w;
  w << std::fixed << std::setprecision(1);
  if (r.time.mfu > 1.0) {
    w << "MFU " << 100 * r.time.mfu << "% (HFU " << 100 * r.time.hfu << "%) is";
  } else {
    w << "HFU " << 100 * r.time.hfu << "% is";
  }
  w << " above 100%: the convention counts full (non-causal) attention FLOPs, which causal kernels do "
       "not run, and this device's rates are what the catalog gives (datasheet peaks where nothing was "
       "measured)";
  warnings->push_back(w.str());
}

// An output layer whose columns per rank are no multiple of 8 runs its 16-bit GEMMs on kernels
// without 16-byte loads: says so, with what the device's figure for that width charges or that
// nothing is known, and how to avoid it; a figure measured on another device joins the proxies.
void WarnIfOddOutputWidth(const Scenario& s, PlanResult* r) {
  const int64_t columns = OutputColumnsPerRank(s.arch, s.plan);
  if (columns % 8 == 0) return;
  const HardwareSpec& h = s.cluster.spec;
  const bool odd = columns % 2 == 1;
  std::string_view field;
  const Figure& f = *WidthSlowdownFigure(h, columns, &field);
  std::ostringstream w;
  w << "the output layer has " << columns << " columns per tensor-parallel rank, "
    << (odd ? "an odd number" : "no multiple of 8") << ": its GEMMs run on kernels without 16-byte loads (";
  if (f.known()) {
    w << f.value << "x their aligned time on " << h.id << ", charged";
  } else {
    w << "how much slower on " << h.id << " is not measured, so nothing is charged";
  }
  w << "); a vocabulary padded to a multiple of 64 x TP avoids it (Megatron pads to 128 x TP by default: give "
    << "the padded size as the model's vocab_size)";
  r->warnings.push_back(w.str());
  if (f.known() && f.proxy()) r->proxy_figures.push_back({std::string(field), f.proxy_of});
}

// The fused softmax kernel's constraints the plan fails (UnfusedSoftmax), as the warning names them.
std::string FailedSoftmaxConstraints(const Scenario& s) {
  const TrainingJob& j = s.job;
  const int64_t matrices = ScoreMatricesPerRank(s.arch, s.plan);
  std::ostringstream w;
  if (!FusedSoftmaxTakesKeys(j)) {
    w << "keys over 16, at most " << j.fused_softmax_max_keys << " and a multiple of 4 (here " << j.seq_len << ")";
    if (matrices % 4 != 0) w << " and ";
  }
  if (matrices % 4 != 0) {
    w << "micro-batch x heads / TP to be a multiple of 4 (here " << s.plan.micro_batch << " x " << s.arch.heads
      << " / " << s.plan.tp << " = " << matrices << ")";
  }
  return w.str();
}

// What the unfused ops move and launch beyond the kernel, and what the host pays for each launch.
std::string UnfusedSoftmaxOpsText(const TrainingJob& j) {
  const UnfusedSoftmaxWork extra = UnfusedSoftmaxExtra(j.attention_softmax_in_fp32);
  std::ostringstream w;
  w << "PyTorch's ops " << (j.attention_softmax_in_fp32 ? "in fp32" : "in 16 bits") << " ("
    << kFusedSoftmaxForwardBytes + extra.forward_bytes << " + " << kFusedSoftmaxBackwardBytes + extra.backward_bytes
    << " bytes a score where the kernel moves " << kFusedSoftmaxForwardBytes << " + " << kFusedSoftmaxBackwardBytes
    << ", " << extra.forward_kernels << " and " << extra.backward_kernels << " more kernels forward and backward";
  if (j.host_profile) {
    const double measured = j.host_profile->unfused_softmax_op.value() * 1e6;
    if (measured > 0) {
      w << ", each at the host profile's measured " << measured << " us";
    } else {
      w << ", each at the host profile's time per kernel of its layer, which does not time them "
           "(unfused_softmax_op_us)";
    }
  }
  w << ")";
  return w.str();
}

// Megatron's fused softmax kernel refuses the plan's shape (UnfusedSoftmax): says which constraints
// fail, what the unfused ops move and cost the step (re-timed with the kernel), and the smallest
// micro-batch that meets the batch constraint. With fused attention a softmax setting other than
// the default has no effect, which it says too.
void WarnIfSoftmaxUnfused(const Scenario& s, const CostContext& ctx, PlanResult* r) {
  const TrainingJob& j = s.job;
  if (j.flash_attention && j.attention_softmax != AttentionSoftmax::kFused) {
    r->warnings.push_back("training.attention_softmax has no effect with flash_attention: true (fused attention has "
                          "no softmax of its own)");
    return;
  }
  if (j.attention_softmax != AttentionSoftmax::kMegatron || !UnfusedSoftmax(s.arch, s.plan, j)) return;
  CostContext fused = ctx;
  fused.job.attention_softmax = AttentionSoftmax::kFused;
  const double with_kernel = EstimateStep(fused, s.plan).step.value();
  std::ostringstream w;
  w << "attention softmax unfused: Megatron's fused softmax kernel needs " << FailedSoftmaxConstraints(s)
    << ", so it runs " << UnfusedSoftmaxOpsText(j) << std::setprecision(3) << ": the step takes "
    << r->time.step.value() << " s where the kernel gives " << with_kernel << " s";
  if (ScoreMatricesPerRank(s.arch, s.plan) % 4 != 0) {
    const int64_t per_sequence = s.arch.heads / std::max<int64_t>(1, s.plan.tp);
    w << "; a micro-batch that is a multiple of " << 4 / std::gcd<int64_t>(per_sequence, 4)
      << " meets the batch constraint";
  }
  r->warnings.push_back(w.str());
}

// A plan that does not fit says by how much, and what the plain remedies would give: full
// recompute (where the plan keeps more activations), and by block the fewest layers that fit,
// and the sharded optimizer (ZeRO 1, where it shards none); `search` finds the layouts that fit.
void WarnIfDoesNotFit(const Scenario& s, const EvaluateOptions& options, PlanResult* result) {
  const PlanResult& r = *result;
  if (!r.has_memory || r.memory.fits) return;
  const auto gib = [](double bytes) { return bytes / static_cast<double>(int64_t{1} << 30); };
  std::ostringstream w;
  w << std::fixed << std::setprecision(1) << "does not fit: "
    << gib(r.memory.worst.Total().value() - r.memory.capacity.value()) << " GiB over on stage " << r.memory.worst_stage;
  const auto with = [&](const char* change, Plan p) {
    if (CheckPlan(s.arch, p, s.job, s.cluster.devices).ok()) {
      const MemoryEstimate m = EstimateMemory(s.arch, r.params, p, s.job, s.cluster.hbm_capacity, options.memory);
      w << "; " << change << " " << gib(m.worst.Total().value()) << " GiB" << (m.fits ? " (fits)" : "");
    }
  };
  // Full recompute of every layer where the plan recomputes fewer (or none).
  const bool fewer = s.plan.recompute != Recompute::kFull ||
                     (RecomputesByBlock(s.plan) && s.plan.recompute_num_layers < MostLayersPerChunk(s.arch, s.plan));
  if (fewer) {
    Plan p = s.plan;
    p.recompute = Recompute::kFull;
    p.recompute_method = RecomputeMethod::kUniform, p.recompute_num_layers = 1;
    with("with parallel.recompute: full", p);
    // Where full recompute fits, the fewest layers a chunk it need recompute (by block).
    const int64_t n = CheckPlan(s.arch, p, s.job, s.cluster.devices).ok()
                          ? FewestBlockLayersWithin(s.arch, r.params, p, s.job, s.cluster.hbm_capacity, options.memory)
                          : 0;
    if (n > 0) {
      p.recompute_method = RecomputeMethod::kBlock, p.recompute_num_layers = n;
      with(("with parallel.recompute_method: block, recompute_num_layers: " + std::to_string(n)).c_str(), p);
    }
  }
  if (s.plan.zero == 0 && s.plan.dp > 1) {
    Plan p = s.plan;
    p.zero = 1;
    with("with parallel.zero: 1", p);
  }
  w << "; a search (parallel: auto) finds the layouts that fit";
  result->warnings.push_back(w.str());
}

// A mesh that a torus slice of known shape takes only by splitting its axes: JAX's
// create_device_mesh refuses it by default, and its groups are timed on their best blocks.
void WarnIfMeshSplitsTorusAxes(const Scenario& s, const CostContext& ctx, PlanResult* r) {
  const PlanOnTorus on = PlacePlanOnTorus(ctx.fabric, s.plan);
  if (!on.sliced || on.mesh.placed) return;
  r->warnings.push_back(s.cluster.spec.id + ": the plan's mesh (TP " + std::to_string(on.tp) + ", CP " +
                        std::to_string(on.cp) + ", DP " + std::to_string(on.dp) + " of a " + std::to_string(on.slice) +
                        "-chip slice) matches no whole axes of the slice's shape: JAX's create_device_mesh refuses it "
                        "unless told to split axes (allow_split_physical_axes), and its groups are timed each on its "
                        "best block of the torus (optimistic)");
}

// A measured collective table that changes nothing in the step (no collective of the plan has a
// measured group: operation, ranks and ranks per domain; or those that do are hidden) is said to,
// where it looked as if it applied.
void WarnIfCollectiveTableIdle(const Scenario& s, const CostContext& ctx, PlanResult* r) {
  if (!ctx.fabric.measured) return;
  CostContext model = ctx;
  model.fabric.measured = nullptr;
  if (EstimateStep(model, s.plan).step.value() != r->time.step.value()) return;
  std::string curves;
  for (const CollectiveTable::Curve& c : ctx.fabric.measured->curves()) {
    curves += (curves.empty() ? "" : ", ") + CurveGroup(c);
  }
  r->warnings.push_back("cluster.collective_table changes nothing in this step: none of its curves (" + curves +
                        ") matches a collective of the plan by operation, ranks and ranks per domain, or those "
                        "that do are hidden; the α-β model times the rest");
}

// The step with `table`'s curves run on past their largest rows at those rows' own rates (`slow`)
// or as the step model runs them on.
double StepWithTable(const CostContext& ctx, const Plan& plan, std::shared_ptr<const CollectiveTable> table,
                     bool slow) {
  CostContext c = ctx;
  c.fabric.measured = std::move(table);
  c.fabric.measured_past_at_row_rate = slow;
  return EstimateStep(c, plan).step.value();
}

// A step whose measured collectives run past their curves' largest rows, so far that those rows'
// own rates (the slowest a curve runs on at) would lengthen it by more than 1%, is said to, with
// both step times and the curves that make the difference (each alone against the α-β model):
// the fabric's large-message rate, which times them past the rows, is the catalog's, not the
// measured system's. Below 1% the two differ by less than the model's own precision.
void WarnIfPastTheCurves(const CostContext& ctx, const Plan& plan, PlanResult* r) {
  constexpr double kWorthSaying = 0.01;
  if (!ctx.fabric.measured) return;
  const double step = r->time.step.value();
  const double at_row_rates = StepWithTable(ctx, plan, ctx.fabric.measured, true);
  if (!(at_row_rates > step * (1 + kWorthSaying))) return;
  std::vector<const CollectiveTable::Curve*> past;
  for (const CollectiveTable::Curve& c : ctx.fabric.measured->curves()) {
    auto one = std::make_shared<CollectiveTable>();
    if (!one->AddCurve(c.op, c.ranks, c.ranks_per_domain, c.rows).ok()) continue;
    if (StepWithTable(ctx, plan, one, true) > StepWithTable(ctx, plan, one, false) * (1 + 1e-6)) past.push_back(&c);
  }
  if (past.empty()) {  // none alone: all of them together
    for (const CollectiveTable::Curve& c : ctx.fabric.measured->curves()) past.push_back(&c);
  }
  std::ostringstream w;
  w << std::setprecision(4)
    << "cluster.collective_table: collectives of this step are larger than its curves' largest measured size (";
  for (size_t i = 0; i < past.size(); ++i) {
    w << (i == 0 ? "" : ", ") << CurveGroup(*past[i]) << " to " << past[i]->rows.back()[0] / 1048576 << " MiB";
  }
  w << "); timed past it at the curve's last rate, up to the fabric's, the step takes " << step
    << " s; at the largest row's own rate it would take " << at_row_rates
    << " s; a curve measured to the sizes the step sends settles it";
  r->warnings.push_back(w.str());
}

// Names the labelled proxies the step time rests on, by the device they were measured on: the
// answer is that device's until this one is measured.
void WarnIfProxies(const Scenario& s, PlanResult* r) {
  if (s.plan.cpu_offload_layers > 0 && s.cluster.spec.host_link_gbytes_per_s.proxy()) {
    r->proxy_figures.push_back({"host_link_gbytes_per_s", s.cluster.spec.host_link_gbytes_per_s.proxy_of});
  }
  if (r->proxy_figures.empty()) return;
  std::vector<std::string> devices;
  for (const ProxyFigure& p : r->proxy_figures) {
    if (std::find(devices.begin(), devices.end(), p.measured_on) == devices.end()) devices.push_back(p.measured_on);
  }
  std::string w = s.cluster.spec.id + ": the step time rests on figures measured on another device (labelled proxies " +
                  "in the catalog):";
  for (const std::string& d : devices) {
    w += " from " + d;
    const char* sep = ": ";
    for (const ProxyFigure& p : r->proxy_figures) {
      if (p.measured_on != d) continue;
      w += sep + p.figure;
      sep = ", ";
    }
    w += ";";
  }
  w += " a measurement of " + s.cluster.spec.id + " itself (tools/device/, or a published one) replaces them";
  r->warnings.push_back(w);
}

}  // namespace

PlanResult Evaluate(const Scenario& s, const EvaluateOptions& options) {
  CHECK(!s.auto_parallel) << "Evaluate needs a plan; search first";
  PlanResult r;
  r.scenario = s;
  r.params = CountParameters(s.arch);
  r.ops = BuildOps(s.arch, s.job.seq_len);
  r.check = CheckPlan(s.arch, s.plan, s.job, s.cluster.devices);
  if (r.check.ok()) {
    r.memory = EstimateMemory(s.arch, r.params, s.plan, s.job, s.cluster.hbm_capacity, options.memory);
    r.has_memory = true;
    CostContext ctx = MakeCostContext(s.arch, r.params, s.job, s.cluster);
    r.time = EstimateStep(ctx, s.plan);
    r.layers = EstimateLayers(ctx, s.plan);
    r.has_time = true;
    r.campaign = MakeCampaign(s, r.params, r.time, options.simulate_failures);
    WarnIfHostBound(s, ctx, &r);
    WarnIfHostProfileLayerDiffers(s, &r);
    r.proxy_figures = ctx.proxy_figures;
    WarnIfOddOutputWidth(s, &r);
    WarnIfSoftmaxUnfused(s, ctx, &r);
    WarnIfCollectiveTableIdle(s, ctx, &r);
    WarnIfMeshSplitsTorusAxes(s, ctx, &r);
    WarnIfPastTheCurves(ctx, s.plan, &r);
    WarnIfProxies(s, &r);
    for (std::string& w : ctx.warnings) r.warnings.push_back(std::move(w));
    WarnIfMfuAboveOne(r, &r.warnings);
  }
  AddWarnings(s, &r);
  if (r.has_time) WarnIfCampaignIncomplete(s, &r);
  WarnIfDoesNotFit(s, options, &r);
  return r;
}

namespace {

// Every parameter (MTP modules included) at the profile's bytes per parameter.
Bytes CheckpointSize(const ReliabilityProfile& p, const ParamCounts& params) {
  return Bytes(static_cast<double>(params.TotalWithMtp()) * p.checkpoint_bytes_per_param.value);
}

}  // namespace

FailureModel MakeFailureModel(const Scenario& s, const ParamCounts& params, Seconds step) {
  const ReliabilityProfile& p = *s.reliability;
  // The profile's nodes the job's devices make: its rates are per node of its size.
  const double nodes = static_cast<double>(s.cluster.devices) / p.devices_per_node.value;
  // A node writes at its rate however few of its devices the job holds: a part node counts whole.
  const double writing_nodes = std::ceil(nodes);
  const Bytes size = CheckpointSize(p, params);
  double gbps = p.checkpoint_write_gbytes_per_s_per_node.value * writing_nodes;
  if (p.checkpoint_write_gbytes_per_s_total.given) gbps = std::min(gbps, p.checkpoint_write_gbytes_per_s_total.value);
  const Seconds write =
      p.checkpoint_blocking_s.given ? Seconds(p.checkpoint_blocking_s.value) : size / BytesPerSecond::GBps(gbps);
  FailureModel m;
  m.nodes = nodes;
  m.failures_per_node_day = p.failures_per_node_day.value;
  m.planned_per_node_day = p.planned_per_node_day.value;
  m.detection = Seconds(p.detection_min.value * 60);
  m.restart = Seconds(p.restart_min.value * 60);
  m.checkpoint = write;
  m.interval = Seconds(p.checkpoint_interval_min.given ? p.checkpoint_interval_min.value * 60 : 0);
  m.step = step;
  return m;
}

Campaign MakeCampaign(const Scenario& s, const ParamCounts& params, const StepTime& time, bool simulate_failures) {
  const Cluster& cluster = s.cluster;
  const TrainingJob& job = s.job;
  Campaign c;
  c.tokens = job.tokens > 0 ? job.tokens : 1e12;
  const double seconds = c.tokens / time.tokens_per_s;
  c.days_ideal = seconds / 86400.0;
  c.device_hours = seconds / 3600.0 * static_cast<double>(cluster.devices);
  c.devices = cluster.devices;
  c.devices_held = DevicesHeld(cluster, s.plan);
  const PriceRange& price = cluster.spec.price;
  if (price.known) {
    c.cost_known = true;
    c.cost_usd_low = c.device_hours * price.low_usd;
    c.cost_usd_high = c.device_hours * price.high_usd;
  }
  if (cluster.spec.power_w.known()) {
    c.energy_known = true;
    c.energy_mwh = c.device_hours * cluster.spec.power_w.value * cluster.pue / 1e6;
  }
  if (simulate_failures && s.reliability && seconds > 0 && std::isfinite(seconds)) {
    c.reliability = s.reliability;
    c.checkpoint_size = CheckpointSize(*s.reliability, params);
    c.failures = MakeFailureModel(s, params, time.step);
    c.outlook_known = c.failures.Interval().value() > 0;  // a step time of 0 would leave no interval
    if (c.outlook_known) c.outlook = SimulateRun(Seconds(seconds), c.failures, {});
  }
  return c;
}

}  // namespace preflight
