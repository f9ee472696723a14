#include "preflight/cost/memory.h"

#include <algorithm>
#include <cmath>

namespace preflight {
namespace {

double DtypeBytes(Dtype d) {
  switch (d) {
    case Dtype::kFp64: return 8;
    case Dtype::kFp32:
    case Dtype::kTf32: return 4;
    case Dtype::kBf16:
    case Dtype::kFp16: return 2;
    case Dtype::kFp8:
    case Dtype::kInt8: return 1;
    case Dtype::kFp4: return 0.5;
  }
  return 2;
}

// Bytes per parameter of each model state before sharding.
struct StateBytes {
  double weights = 2;
  double gradients = 4;
  double optimizer = 12;
};

StateBytes StateBytesPerParam(const TrainingJob& job) {
  StateBytes b;
  const bool fp32 = job.Fp32Weights();  // the fp32 parameter is the master
  b.weights = fp32 ? 4 : 2;
  if (job.Fp8Weights()) {
    b.weights = QuantizedCopyBytes(job.precision);  // the FP8 casts alone (StageMemory adds the 16-bit head)
  } else if (QuantizedPrecision(job.precision) && job.fp8_weight_copy) {
    b.weights += QuantizedCopyBytes(job.precision);
  }
  b.gradients = DtypeBytes(job.grad_dtype);
  b.optimizer = (fp32 ? 0 : 4) + 2 * DtypeBytes(job.optimizer_dtype);  // master + m + v
  return b;
}

// Whether the last stage holds a copy of the word embedding on another stage than the embedding:
// Megatron's output layer of a tied embedding, and the MTP modules' input embedding (shared with
// the main model, DeepSeek-V3 §2.2); DualPipe's end rank holds the embedding itself.
bool EmbeddingCopyOnLastStage(const Architecture& a, const Plan& p) {
  return (a.tied_embeddings || a.mtp_layers > 0) && p.pp > 1 && p.schedule != Schedule::kDualPipe;
}

// Parameters held by one device of `stage` (without DualPipe's mirror): non-expert parameters
// split by TP but for those it replicates (norms, MLA's down-projections, the router, learned
// positions), and routed experts split over EP x ETP.
DeviceParams ParamsOnStage(const Architecture& a, const ParamCounts& c, const Plan& p,
                           int64_t stage) {
  const int64_t n = LayersOnStage(a, p, stage);
  const int64_t moe = MoeLayersOnStage(a, p, stage);
  const double n_dense = static_cast<double>(n - moe), n_moe = static_cast<double>(moe);
  double dense = n_dense * c.dense_layer + n_moe * (c.moe_layer - c.routed_experts_per_moe_layer);
  double replicated = n_dense * c.dense_layer_replicated + n_moe * c.moe_layer_replicated;
  double expert = n_moe * c.routed_experts_per_moe_layer;
  if (stage == 0) {
    dense += c.embedding;
    replicated += static_cast<double>(a.position_rows * a.hidden);
  }
  if (stage == p.pp - 1) {
    dense += c.final_norm + c.lm_head;
    replicated += c.final_norm;
    if (EmbeddingCopyOnLastStage(a, p)) dense += a.vocab * a.hidden;
    const bool mtp_moe = a.IsMoeLayer(a.layers - 1);
    const double mtp = static_cast<double>(a.mtp_layers);
    const double mtp_expert = mtp_moe ? mtp * c.routed_experts_per_moe_layer : 0;
    dense += c.mtp - mtp_expert;
    // Each MTP module's block replicates what its layer kind does, and its three norms.
    replicated += mtp * ((mtp_moe ? c.moe_layer_replicated : c.dense_layer_replicated) + 3.0 * a.hidden);
    expert += mtp_expert;
  }
  // With fewer KV heads than TP ranks each rank holds one whole K and V head (and its biases).
  if (a.attention == AttentionKind::kStandard && a.kv_heads < p.tp) {
    const double layers_here = static_cast<double>(n) + (stage == p.pp - 1 ? static_cast<double>(a.mtp_layers) : 0.0);
    const double per_head = 2.0 * static_cast<double>(a.head_dim) * (static_cast<double>(a.hidden) + (a.qkv_bias ? 1.0 : 0.0));
    dense += layers_here * per_head * static_cast<double>(p.tp - a.kv_heads);
  }
  return DeviceParams{(dense - replicated) / p.tp + replicated, expert / (p.ep * p.etp)};
}

// The embedding and output-layer parameters a device of `stage` holds (with DualPipe's mirror):
// Transformer Engine keeps no FP8 copy of them (Megatron's embedding and output layer are not TE
// modules, and run in 16 bits).
double EmbeddingAndHeadOnStage(const Architecture& a, const ParamCounts& c, const Plan& p, int64_t stage) {
  double n = 0;
  if (stage == 0) n += static_cast<double>(c.embedding);
  if (stage == p.pp - 1) {
    n += static_cast<double>(c.lm_head);
    if (EmbeddingCopyOnLastStage(a, p)) n += static_cast<double>(a.vocab * a.hidden);
  }
  return n / static_cast<double>(p.tp);
}

// What ZeRO-3 gathers whole on a device of `stage`, in parameters per device: the largest unit
// (one transformer layer of a kind the stage holds, the embedding on the first stage, the output
// layer on the last: each wrapped on its own, as FSDP and Megatron-FSDP wrap them), the largest
// layer (the unit beside any other), and the largest single tensor (DeepSpeed's per-parameter
// gathers). A part sharded over one rank (DP x CP of 1 for dense parameters, an expert-data-
// parallel group of 1 for experts) is never gathered and counts nothing.
struct GatheredUnits {
  double largest = 0;
  double layer = 0;
  double tensor = 0;
};

GatheredUnits GatheredOnStage(const Architecture& a, const ParamCounts& c, const Plan& p, int64_t stage) {
  const double tp = static_cast<double>(p.tp);
  const double dense_on = p.ShardDp() * p.cp > 1 ? 1.0 : 0.0, expert_on = p.dp * p.cp * p.tp > p.ep * p.etp ? 1.0 : 0.0;
  const int64_t n = LayersOnStage(a, p, stage);
  const int64_t moe = MoeLayersOnStage(a, p, stage);
  GatheredUnits g;
  // A layer per device: its TP-split part, its replicated part, and its routed experts over EP x ETP.
  auto layer = [&](double whole, double replicated, double routed) {
    return dense_on * ((whole - routed - replicated) / tp + replicated) +
           expert_on * routed / static_cast<double>(p.ep * p.etp);
  };
  if (n - moe > 0) g.layer = layer(static_cast<double>(c.dense_layer), static_cast<double>(c.dense_layer_replicated), 0);
  if (moe > 0) {
    g.layer = std::max(g.layer, layer(static_cast<double>(c.moe_layer), static_cast<double>(c.moe_layer_replicated),
                                      static_cast<double>(c.routed_experts_per_moe_layer)));
  }
  g.largest = g.layer;
  const double vocab = dense_on * static_cast<double>(a.vocab * a.hidden) / tp;
  if (stage == 0) g.largest = std::max(g.largest, dense_on * static_cast<double>(c.embedding) / tp);
  if (stage == p.pp - 1) {
    g.largest = std::max(g.largest, c.lm_head > 0 ? dense_on * static_cast<double>(c.lm_head) / tp : vocab);
  }
  if (!p.zero3_gather_per_parameter) return g;  // the tensors matter to per-parameter gathers alone
  for (const bool is_moe : {false, true}) {
    if (is_moe ? moe == 0 : n - moe == 0) continue;
    for (const ParamTensor& t : LayerParameterTensors(a, is_moe)) {
      const double split = t.tp_split ? (t.expert ? static_cast<double>(p.etp) : tp) : 1.0;
      g.tensor = std::max(g.tensor, (t.expert ? expert_on : dense_on) * static_cast<double>(t.elements) / split);
    }
  }
  if (stage == 0 || stage == p.pp - 1) g.tensor = std::max(g.tensor, vocab);
  return g;
}

// The pipeline stage DualPipe places beside `stage` on one rank: rank r holds stages r and
// pp - 1 - r, two copies of the model in all (DeepSeek-V3 §3.2.2 and Table 2; DualPipe's
// example_dualpipe.py), so the ends pair the embedding with the head. Other schedules: none (-1).
int64_t DualPipeMirror(const Plan& p, int64_t stage) {
  return p.schedule == Schedule::kDualPipe && p.pp > 1 ? p.pp - 1 - stage : -1;
}

}  // namespace

DeviceParams ParamsOnDevice(const Architecture& a, const ParamCounts& c, const Plan& p,
                            int64_t stage) {
  DeviceParams s = ParamsOnStage(a, c, p, stage);
  if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) {
    const DeviceParams m = ParamsOnStage(a, c, p, mirror);
    s.dense += m.dense, s.expert += m.expert;
  }
  return s;
}

double InFlightMicroBatches(const Plan& p, int64_t micro_batches, int64_t stage) {
  const double m = static_cast<double>(micro_batches);
  if (p.pp == 1) return 1;
  switch (p.schedule) {
    case Schedule::kGpipe: return m;
    case Schedule::k1F1B:
    case Schedule::kZbH1: return std::min(static_cast<double>(p.pp - stage), m);
    case Schedule::kInterleaved: {
      // Megatron's warm-up (get_pp_rank_microbatches) and the steady state's forward before its
      // backward. The 1F1B all-to-all overlap (ep_comm_overlap) warms up one forward more
      // (cost-model-notes §3.3) in place of that one: each steady step then runs a forward layer
      // beside a backward layer that releases its state (combined_1f1b's schedule plan), so the
      // peak stays within a layer of this count and is not raised.
      double chunks = 2.0 * (p.pp - stage - 1) + (p.vpp - 1.0) * p.pp + 1.0;
      return std::min(chunks, m * p.vpp) / p.vpp;
    }
    case Schedule::kDualPipe: return std::min(static_cast<double>(p.pp + 1), m);
  }
  return m;
}

namespace {

// One stage's activations with `in_flight` micro-batches through it: what it keeps per
// micro-batch in flight (its layers' stacks and the edge terms kept per micro-batch), and the
// working set that exists once (the layer whose backward runs, the head's backward peak).
struct ChunkActivations {
  double kept = 0;
  double working = 0;
};

// What the last stage's deferred weight-gradient pass keeps per micro-batch beyond its layers:
// the output layer's input (16 bits, sequence-sharded with SP; Megatron's ColumnParallelLinear
// gathers it again for the weight gradient) and its logits' gradient (16 bits, the rank's vocabulary
// columns), once per output head, and each MTP module's layer and its projection (input 2h, output
// h / TP). The zero-bubble scheme defers every linear layer's W, the output layer's included.
double HeadWeightGradStateBytes(const Architecture& a, const Plan& p, const TrainingJob& j,
                                const LayerActivationBytes& layer) {
  const double tokens = static_cast<double>(p.micro_batch * j.seq_len) / p.cp;
  const double rep_div = p.sp ? static_cast<double>(p.tp) : 1.0;
  const double h = static_cast<double>(a.hidden);
  const double heads = static_cast<double>(1 + a.mtp_layers);
  const double columns = static_cast<double>(OutputColumnsPerRank(a, p));
  double state = heads * tokens * (2.0 * h / rep_div + 2.0 * columns);
  if (a.mtp_layers > 0) {
    const double mtp_layer = a.IsMoeLayer(a.layers - 1) ? layer.weight_grad_moe : layer.weight_grad_dense;
    // Its projection (a Transformer Engine linear: under FP8 it keeps its input's cast).
    const double projection = tokens * (SavedInputBytes(j) * 2.0 * h / rep_div + 2.0 * h / static_cast<double>(p.tp));
    state += static_cast<double>(a.mtp_layers) * (mtp_layer + projection);
  }
  return state;
}

ChunkActivations StageActivations(const Architecture& a, const Plan& p, const TrainingJob& j,
                                  int64_t stage, double in_flight, const LayerActivationBytes& layer);

// Bytes per parameter of the fp32 gradients an optimizer with fp32 main weights makes of 16-bit
// ones at its step (Megatron's fp16 optimizer: `main_param.grad = model_param.grad.float()`, a
// copy unless the gradients are fp32 already; DeepSpeed's fp16 optimizer flattens them into fp32).
// None where the gradients are fp32 or there are no main weights (fp32 training).
double Fp32GradientCopyBytes(const TrainingJob& j) {
  if (j.precision == Dtype::kFp32 || DtypeBytes(j.grad_dtype) >= 4) return 0.0;
  return 4.0;
}

// The optimizer step runs after the last backward: its activations (with their temporaries and
// ZeRO-3's gathered units) are gone, the 16-bit gradients are still there while it copies them.
// What the step holds beyond the training peak, or nothing.
Bytes OptimizerStepBytes(const MemoryBreakdown& b, double copy, const MemoryOptions& options) {
  const Bytes freed = b.activations + b.other - options.runtime_reserved;
  return Bytes(std::max(0.0, copy - freed.value()));
}

// The activations a stage holds at its peak: the micro-batches in flight on it keep theirs, and one
// layer's backward working set runs at a time.
double StageActivationBytes(const Architecture& a, const Plan& p, const TrainingJob& j, int64_t stage,
                            const LayerActivationBytes& layer) {
  const double in_flight = InFlightMicroBatches(p, MicroBatches(p, j), stage);
  const int64_t mirror = DualPipeMirror(p, stage);
  if (mirror < 0) {
    const ChunkActivations own = StageActivations(a, p, j, stage, in_flight, layer);
    return own.kept + own.working;
  }
  // DualPipe's PP + 1 micro-batches in flight (Table 2, in stage units) fall on the two stages
  // rank r holds as each direction's 1F1B would place them: pp - r on stage r, where its
  // direction's micro-batches enter r stages in, and r + 1 on stage pp - 1 - r; one layer's
  // backward runs at a time.
  const int64_t r = std::min(stage, mirror);
  const double scale = in_flight / static_cast<double>(p.pp + 1);  // fewer micro-batches than that
  const ChunkActivations first = StageActivations(a, p, j, r, scale * static_cast<double>(p.pp - r), layer);
  const ChunkActivations second = StageActivations(a, p, j, p.pp - 1 - r, scale * static_cast<double>(r + 1), layer);
  return first.kept + second.kept + std::max(first.working, second.working);
}

// Bytes of a parameter ZeRO-3 gathers whole: the compute dtype's, or its FP8 cast with FP8
// parameters (Megatron-Core's --fp8-param-gather gathers the casts).
double GatheredWeightBytes(const TrainingJob& j) {
  if (j.precision == Dtype::kFp32) return 4.0;
  return j.Fp8Weights() ? QuantizedCopyBytes(j.precision) : 2.0;
}

// ZeRO-3's transient buffers, not model states (weights and gradients stay the ZeRO paper's
// shards). Gathered unit by unit (FSDP, Megatron-FSDP): at the peak the unit whose
// backward runs and the next one, prefetched, are whole in 16 bits, and the running unit's gradient
// is whole until its reduce-scatter. DeepSpeed's early per-parameter gathers hold one tensor at a
// time and reduce through a bucket of reduce_bucket_size elements. DualPipe's rank holds the units
// of both its stages.
double GatheredUnitBytes(const Architecture& a, const ParamCounts& c, const Plan& p, const TrainingJob& j,
                         int64_t stage) {
  GatheredUnits g = GatheredOnStage(a, c, p, stage);
  if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) {
    const GatheredUnits m = GatheredOnStage(a, c, p, mirror);
    g = {std::max(g.largest, m.largest), std::max(g.layer, m.layer), std::max(g.tensor, m.tensor)};
  }
  const double weight_bytes = GatheredWeightBytes(j);
  const double gradient_bytes = DtypeBytes(j.GradReduceDtype());  // unsharded until its reduction
  if (p.zero3_gather_per_parameter) {
    return g.tensor * weight_bytes + std::min(g.layer, kDeepSpeedReduceBucketElements) * gradient_bytes;
  }
  return (g.largest + g.layer) * weight_bytes + g.largest * gradient_bytes;
}

MemoryBreakdown StageMemory(const Architecture& a, const ParamCounts& c, const Plan& p,
                            const TrainingJob& j, int64_t stage, const MemoryOptions& options,
                            const LayerActivationBytes& layer) {
  MemoryBreakdown b;
  const DeviceParams params = ParamsOnDevice(a, c, p, stage);
  const StateBytes bytes = StateBytesPerParam(j);
  const double d_dense = static_cast<double>(p.ShardDp() * p.cp);  // ZeRO's shard group (HSDP: dp_shard)
  const double d_expert = static_cast<double>(p.dp * p.cp * p.tp) / (p.ep * p.etp);
  auto shard = [&](double per_param, int min_stage) {
    if (p.zero < min_stage) return per_param * (params.dense + params.expert);
    return per_param * (params.dense / d_dense + params.expert / d_expert);
  };
  b.weights = Bytes(shard(bytes.weights, 3));
  if (QuantizedPrecision(j.precision) && (j.fp8_weight_copy || j.Fp8Weights())) {
    // The FP8 copy (or, with FP8 parameters, the FP8 cast that replaces the 16-bit weights) is of
    // the GEMM weights: not of the embedding and output layer, which stay 16-bit (dense
    // parameters, sharded as they are at ZeRO-3).
    double head = EmbeddingAndHeadOnStage(a, c, p, stage);
    if (const int64_t mirror = DualPipeMirror(p, stage); mirror >= 0) head += EmbeddingAndHeadOnStage(a, c, p, mirror);
    const double per_head_param = j.Fp8Weights() ? QuantizedCopyBytes(j.precision) - 2.0 : QuantizedCopyBytes(j.precision);
    b.weights = b.weights - Bytes(per_head_param * (p.zero >= 3 ? head / d_dense : head));
  }
  b.gradients = Bytes(shard(bytes.gradients, 2));
  if (p.zero == 3 && p.fsdp_gather_once) {
    // The stage's 16-bit parameters stay gathered for the step, and its gradients accumulate
    // unsharded in fp32 (FSDP2's reduce dtype) until the last micro-batch.
    const double local = params.dense + params.expert;
    b.weights += Bytes(local * GatheredWeightBytes(j));
    b.gradients += Bytes(local * 4.0);
  }
  b.optimizer = Bytes(shard(bytes.optimizer, 1));
  // DeepSpeed's BF16_Optimizer keeps the stage's 16-bit gradients until the next backward; it runs
  // at ZeRO 0 or 1 only (a searched plan of ZeRO 2 or 3 is another optimizer).
  if (j.grad_16bit_copy && j.precision != Dtype::kFp32 && p.zero <= 1) {
    b.gradients += Bytes(2.0 * (params.dense + params.expert));
  }

  const double act = StageActivationBytes(a, p, j, stage, layer);
  b.activations = Bytes(act);
  b.other = options.runtime_reserved + Bytes(act * options.activation_temporaries_fraction);
  if (p.zero == 3 && !p.fsdp_gather_once) b.other += Bytes(GatheredUnitBytes(a, c, p, j, stage));
  b.optimizer_step = OptimizerStepBytes(b, shard(Fp32GradientCopyBytes(j), 1), options);
  return b;
}

// What one layer of the given kind keeps per micro-batch in flight under the plan's recompute
// mode: its input alone under full recompute, the saved set of the op-level, dots and named
// policies (counted for dense layers), else its activations.
double KeptPerLayer(const Plan& p, const LayerActivationBytes& layer, bool moe) {
  switch (p.recompute) {
    case Recompute::kFull: return layer.recompute_input;
    case Recompute::kSelectiveOp: return layer.op_sac;
    case Recompute::kDots: return layer.dots;
    case Recompute::kNames: return layer.names;
    case Recompute::kNone:
    case Recompute::kSelective: break;
  }
  return moe ? layer.moe : layer.dense;
}

// A stage's layers, and what one micro-batch leaves kept on them for its backward.
struct StageLayers {
  double n_dense = 0, n_moe = 0;  // the stage's dense and MoE layers
  double stack = 0;               // bytes one micro-batch keeps on them
  int64_t group = 1;              // layers a full recompute runs together (uniform method)
  bool dense_again = false, moe_again = false;  // the kinds of layer a backward recomputes
};

StageLayers KeptOnStage(const Architecture& a, const Plan& p, int64_t stage, const LayerActivationBytes& layer) {
  const int64_t n = LayersOnStage(a, p, stage);
  const int64_t n_moe = MoeLayersOnStage(a, p, stage);
  StageLayers s;
  s.n_dense = static_cast<double>(n - n_moe);
  s.n_moe = static_cast<double>(n_moe);
  // One micro-batch through this stage's layers.
  s.stack = s.n_dense * KeptPerLayer(p, layer, false) + s.n_moe * KeptPerLayer(p, layer, true);
  // Full recompute by groups keeps one input a group, the groups formed inside each model chunk;
  // by block only the recomputed layers (the first of each chunk) keep their input alone, the
  // others everything.
  const int64_t chunks = ChunksPerStage(p);
  const int64_t per_chunk = std::max<int64_t>(LayersPerChunk(p, n), 1);
  if (p.recompute == Recompute::kFull && !RecomputesByBlock(p)) {
    s.group = std::min(std::max<int64_t>(p.recompute_num_layers, 1), per_chunk);
  }
  if (s.group > 1) {
    const int64_t groups = std::min(n, chunks * ((per_chunk + s.group - 1) / s.group));
    s.stack = static_cast<double>(groups) * layer.recompute_input;
  }
  s.dense_again = s.n_dense > 0;
  s.moe_again = n_moe > 0;
  if (RecomputesByBlock(p)) {
    const int64_t r = RecomputedLayers(p, n), r_moe = RecomputedMoeLayersOnStage(a, p, stage);
    s.stack = static_cast<double>(r) * layer.recompute_input +
              (s.n_dense - static_cast<double>(r - r_moe)) * layer.dense + static_cast<double>(n_moe - r_moe) * layer.moe;
    s.dense_again = r - r_moe > 0;
    s.moe_again = r_moe > 0;
  }
  if (p.cpu_offload_layers > 0) {
    // Offloaded layers keep only what the handler leaves; its double buffer holds one offloaded
    // layer's moved tensors at the peak (the group being copied while the last layer runs, or
    // the first reloaded at the start of the backward: docs/memory-model.md).
    const double moved = layer.dense - layer.offload_resident;
    s.stack -= static_cast<double>(std::min(p.cpu_offload_layers, n)) * moved - moved;
  }
  return s;
}

// What a layer's backward holds beyond the stack under the plan's recompute mode: the layers a
// recompute group runs again, the rest of an op-level or dots layer, or the largest recomputed
// module under selective recompute; 0 without recompute (the stack holds it all).
double RecomputeWorking(const Plan& p, const LayerActivationBytes& layer, const StageLayers& s) {
  switch (p.recompute) {
    case Recompute::kFull: {
      // A group recomputes its layers together: their activations all exist before its backward.
      // The group's first input is the stack's: the recomputed forward reads it in place
      // (Megatron's CheckpointFunction detaches it, sharing its storage).
      const double again = std::max(s.dense_again ? layer.dense : 0.0, s.moe_again ? layer.moe : 0.0);
      return std::max(0.0, static_cast<double>(s.group) * again - layer.recompute_input);
    }
    // Under the op-level, dots and named policies the stack already holds what the recomputed
    // layer saved; its backward adds the rest of the layer's activations (dense layers only).
    case Recompute::kSelectiveOp: return std::max(0.0, layer.dense - layer.op_sac);
    case Recompute::kDots: return std::max(0.0, layer.dense - layer.dots);
    case Recompute::kNames: return std::max(0.0, layer.dense - layer.names);
    case Recompute::kSelective:
      // A layer's recomputed modules run at their own backward, one after another (the MLP or MoE
      // block before the attention core), so the largest of them is what the stage holds at once.
      return std::max({s.n_dense > 0 ? std::max(layer.dense_module_working, layer.discarded_working_dense) : 0.0,
                       s.n_moe > 0 ? std::max(layer.moe_module_working, layer.discarded_working_moe) : 0.0,
                       layer.core_attn_working});
    case Recompute::kNone: break;
  }
  return 0;
}

// ZB-H1: worker i of p holds (p − i + 1)·M_B + (i − 1)·M_W (cost-model-notes §3.3, the
// zero-bubble paper's Table 2): stage s keeps the weight-gradient state of the s micro-batches
// whose W it has put off, and with fewer micro-batches than stages no more than those not in
// flight (the M a step has, in all). 0 under other schedules.
double DeferredWeightGradBytes(const Architecture& a, const Plan& p, const TrainingJob& j, int64_t stage,
                               double in_flight, const LayerActivationBytes& layer, const StageLayers& s) {
  if (p.schedule != Schedule::kZbH1 || p.pp <= 1) return 0;
  const double micro_batches = static_cast<double>(MicroBatches(p, j));
  const double deferred = std::min(static_cast<double>(stage), std::max(0.0, micro_batches - in_flight));
  double state = s.n_dense * layer.weight_grad_dense + s.n_moe * layer.weight_grad_moe;
  if (stage == p.pp - 1) state += HeadWeightGradStateBytes(a, p, j, layer);
  return deferred * state;
}

// The last stage's output heads. Final norm input, head input, and the loss's fp32 logits per
// output head (Megatron's copy, Korthikanti §4.3, or PyTorch's saved log_softmax output), kept per
// micro-batch until its backward: one at a time under the 1F1B schedules, where the last stage runs
// each micro-batch's backward right after its forward, all of them under GPipe. PyTorch's
// cross-entropy adds at its backward peak the output's gradient and the input gradient. The head's
// peak (its logits and the loss's backward) and a layer's (its recompute or backward working set)
// come at different times: the head's backward ends, freeing the logits, before the last layer's
// backward recomputes it. The larger of the two counts.
void AddOutputHeads(const Architecture& a, const Plan& p, const TrainingJob& j, double in_flight,
                    const LayerActivationBytes& layer, ChunkActivations* c) {
  const double tokens = static_cast<double>(p.micro_batch * j.seq_len) / p.cp;
  const double rep_div = p.sp ? static_cast<double>(p.tp) : 1.0;
  const double heads = static_cast<double>(1 + a.mtp_layers);
  const double columns = static_cast<double>(OutputColumnsPerRank(a, p));
  const double head = heads * tokens * (4.0 * a.hidden / rep_div + 4.0 * columns);
  const bool all_in_flight = p.schedule == Schedule::kGpipe;
  double head_peak = 0;
  if (all_in_flight) {
    c->kept += in_flight * head;
  } else {
    head_peak += head;
  }
  if (j.cross_entropy == CrossEntropy::kPytorch) head_peak += heads * tokens * 8.0 * columns;
  // Each MTP module's transformer layer keeps what a main layer of its kind keeps, and its
  // projection's input (the normalised hidden state and embedding, 2h); the modules sit after
  // the last layer (DeepSeek-V3 §2.2), so like the head they hold one micro-batch at a time but
  // under GPipe, kept until their backward, which ends before the main layers'.
  if (a.mtp_layers > 0) {
    const bool mtp_moe = a.IsMoeLayer(a.layers - 1);
    // Megatron-Core's MTP layer skips recompute by block ("not supported for MTP yet"): it
    // keeps everything.
    const double per_layer = RecomputesByBlock(p) ? (mtp_moe ? layer.moe : layer.dense) : KeptPerLayer(p, layer, mtp_moe);
    const double mtp = static_cast<double>(a.mtp_layers) * (per_layer + tokens * 4.0 * a.hidden / rep_div);
    if (all_in_flight) {
      c->kept += in_flight * mtp;
    } else {
      head_peak += mtp;
    }
  }
  c->working = std::max(c->working, head_peak);
}

// One pipeline stage's activations: what the micro-batches in flight keep (the stack of each,
// ZB-H1's deferred weight-gradient state, the embedding's dropout output, the heads under GPipe)
// and the working set of the backward at its peak.
ChunkActivations StageActivations(const Architecture& a, const Plan& p, const TrainingJob& j,
                                  int64_t stage, double in_flight, const LayerActivationBytes& layer) {
  const StageLayers s = KeptOnStage(a, p, stage, layer);
  ChunkActivations c;
  c.kept = in_flight * s.stack + DeferredWeightGradBytes(a, p, j, stage, in_flight, layer, s);
  c.working = RecomputeWorking(p, layer, s);
  if (stage == 0 && a.dropout) {
    const double tokens = static_cast<double>(p.micro_batch * j.seq_len) / p.cp;
    c.kept += in_flight * tokens * a.hidden / (p.sp ? static_cast<double>(p.tp) : 1.0);  // embedding dropout
  }
  if (stage == p.pp - 1) AddOutputHeads(a, p, j, in_flight, layer, &c);
  return c;
}

}  // namespace

MemoryBreakdown EstimateStageMemory(const Architecture& a, const ParamCounts& c, const Plan& p,
                                    const TrainingJob& j, int64_t stage,
                                    const MemoryOptions& options) {
  return StageMemory(a, c, p, j, stage, options, ActivationBytesPerLayer(a, p, j));
}

MemoryEstimate EstimateMemory(const Architecture& a, const ParamCounts& c, const Plan& p,
                              const TrainingJob& j, Bytes capacity, const MemoryOptions& options) {
  MemoryEstimate e;
  const LayerActivationBytes layer = ActivationBytesPerLayer(a, p, j);
  e.capacity = capacity;
  // Only a few stages can be the most loaded (activations in flight fall along the pipeline,
  // middle stages are alike, the last holds the head); all of them when MoE layers alternate.
  bool first = true;
  ForEachCandidateDevice(a, p, [&](int64_t s) {
    MemoryBreakdown b = StageMemory(a, c, p, j, s, options, layer);
    if (first || b.Total() > e.worst.Total()) {
      e.worst = b;
      e.worst_stage = s;
      first = false;
    }
  });
  e.in_flight_micro_batches = InFlightMicroBatches(p, MicroBatches(p, j), e.worst_stage);
  e.fits = e.worst.Total() <= capacity;
  e.headroom_fraction = capacity.value() > 0 ? (capacity - e.worst.Total()) / capacity : -1;
  return e;
}

int64_t FewestBlockLayersWithin(const Architecture& a, const ParamCounts& c, const Plan& plan,
                                const TrainingJob& j, Bytes budget, const MemoryOptions& options) {
  Plan p = plan;
  p.recompute = Recompute::kFull, p.recompute_method = RecomputeMethod::kBlock;
  const auto bytes = [&](int64_t n) {
    p.recompute_num_layers = n;
    return EstimateMemory(a, c, p, j, budget, options).worst.Total().value();
  };
  const int64_t most = MostLayersPerChunk(a, p);
  if (most <= 1) return 0;
  const double at_most = bytes(most), at_one = bytes(1), limit = budget.value();
  if (at_most > limit) return 0;
  if (at_one <= limit) return 1;
  // Each stage's bytes fall linearly with the count until its chunks are all recomputed, then stay:
  // their maximum is convex, under the chord from 1 to `most`, where the chord meets the budget
  // the count fits. Where the MoE layers' order bends that, a bisection above it.
  int64_t lo = 1, hi = most;  // lo does not fit, hi does
  const double share = (at_one - limit) / (at_one - at_most);
  const int64_t chord = std::clamp<int64_t>(1 + static_cast<int64_t>(std::ceil(share * static_cast<double>(most - 1))), 2, most);
  (bytes(chord) <= limit ? hi : lo) = chord;
  if (hi - lo > 1) (bytes(hi - 1) <= limit ? hi : lo) = hi - 1;  // convex: the fewest is near the chord
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (bytes(mid) <= limit ? hi : lo) = mid;
  }
  return hi < most ? hi : 0;
}

}  // namespace preflight
