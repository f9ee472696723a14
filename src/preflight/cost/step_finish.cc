// The step's totals around the pipeline (StepModel::Finish): the data-parallel gradient reduction
// and ZeRO gathers and what of them the backward hides, tied-embedding and gradient-accumulation
// passes, the optimizer, and the step's throughput, MFU and HFU (cost/step_time.h).

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "preflight/cost/internal/step_model.h"
#include "preflight/cost/memory.h"
#include "preflight/cost/step_time.h"

namespace preflight {
namespace cost_internal {

StepModel::LocalParams StepModel::Local(int64_t stage) const {
  LocalParams l;
  const DeviceParams held = ParamsOnDevice(a_, c_.params, p_, stage);
  l.dense = held.dense;
  l.expert = held.expert;
  l.d = p_.ShardDp() * p_.cp;  // ZeRO's shard group (HSDP: dp_shard)
  l.ed = p_.dp * p_.cp * p_.tp / (p_.ep * p_.etp);
  l.grad_bytes = c_.job.grad_dtype == Dtype::kFp32 ? 4 : 2;
  l.reduce_bytes = c_.job.GradReduceDtype() == Dtype::kFp32 ? 4 : 2;
  l.weight_bytes =
      c_.job.precision == Dtype::kFp32
          ? 4
          : (c_.fp8_gemms && (!c_.job.fp8_weight_copy || c_.job.Fp8Weights()) ? QuantizedCopyBytes(c_.fp4_gemms ? Dtype::kFp4 : Dtype::kFp8) : 2);
  return l;
}

namespace {

// Megatron-Core reduces (and gathers) in buckets of max(40M, 1M x DP) parameters when it overlaps
// the reduction, one collective each (cost-model-notes §3.4, DDP config; DP the whole
// data-parallel group's, `bucket_ranks`, under hybrid sharding too); without the overlap, the
// whole buffer of `local` parameters goes in one collective. The number of buckets.
double DataParallelBuckets(double local, int64_t bucket_ranks, bool overlap) {
  const double bucket = std::max(40e6, 1e6 * static_cast<double>(bucket_ranks));
  return overlap ? std::max(1.0, std::ceil(local / bucket)) : 1.0;
}

}  // namespace

void StepModel::AddDataParallelTime(const Fabric& fabric, const LocalParams& lp, double local, int64_t ranks,
                                     int64_t stride, int64_t bucket_ranks, double m, double* grads,
                                     double* params) const {
  if (local <= 0) return;
  const bool dual = p_.schedule == Schedule::kDualPipe && p_.pp > 1;
  if (dual) {
    // DualPipe keeps each stage on two ranks (r and pp-1-r): their gradients are summed as well,
    // an all-reduce between the pair, inside one scale-up domain only when the whole job is; under
    // ZeRO of the shard each holds after the data-parallel reduce-scatter (the same shard on both).
    const int64_t job = p_.tp * p_.cp * p_.dp * p_.pp;
    const bool one_domain = InOneDomain(job);
    const double shard = p_.zero >= 1 ? static_cast<double>(std::max<int64_t>(ranks, 1)) : 1.0;
    *grads += AllReduceTime(c_.fabric, Bytes(local * lp.reduce_bytes / shard), 2, one_domain ? 2 : 1).value();
  }
  if (ranks <= 1) return;
  const int64_t per = PerDomain(stride, ranks);
  const double layers_per_stage = static_cast<double>(a_.layers) / p_.pp;
  const double buckets = DataParallelBuckets(local, bucket_ranks, p_.overlap_grad_reduce);
  const Bytes grad_bucket(local * lp.reduce_bytes / buckets),
      weight_bucket(local * lp.weight_bytes / buckets);
  if (p_.zero == 0) {
    *grads += buckets * AllReduceTime(fabric, grad_bucket, ranks, per).value();
  } else if (p_.zero < 3) {
    // ZeRO-2 keeps only its shard of the gradients, so each micro-batch's are reduce-scattered as
    // its backward makes them (DeepSpeed's stage 2 reduces every micro-step; FSDP's SHARD_GRAD_OP
    // and Megatron-FSDP's optim_grads likewise): m reductions a step where ZeRO-1, which keeps the
    // whole buffer, reduces once (DataParallel hides each under its own micro-batch's backward).
    // DualPipe's rank holds two stages, each making its gradients in half the micro-batches.
    const double reductions = p_.zero == 2 ? (dual ? m / 2 : m) : 1.0;
    *grads += reductions * buckets * ReduceScatterTime(fabric, grad_bucket, ranks, per).value();
    *params += buckets * AllGatherTime(fabric, weight_bucket, ranks, per).value();
  } else if (p_.zero3_gather_per_parameter) {
    // DeepSpeed's ZeRO-3 of early 2021 with its default configuration (contiguous_gradients and
    // overlap_comm off): every micro-batch's gradients fill buckets of reduce_bucket_size (5e8
    // elements), each all-reduced whole on the compute stream and then cut to the rank's
    // partition (stage3.py reduce_ipg_grads -> buffered_reduce_fallback -> allreduce_bucket).
    // Its gathers are timed per parameter tensor (PerParameterGathers).
    const double n = std::max(1.0, std::ceil(local / kDeepSpeedReduceBucketElements));
    *grads +=
        m * n * AllReduceTime(fabric, Bytes(local * lp.reduce_bytes / n), ranks, per).value();
  } else {
    // ZeRO-3 / FSDP: each layer's parameters are gathered for its forward and again for its
    // backward, and its gradients reduce-scattered, for every micro-batch (ZeRO §7.2.2:
    // 3Ψ per pass), one collective per layer. DualPipe's rank holds two stages' layers, each
    // running half the micro-batches.
    const double stages = dual ? 2.0 : 1.0;
    const double layers = stages * layers_per_stage, passes = m / stages;
    const double layer = local / layers;
    // Gathered once per step and kept, gradients reduce-scattered once (fsdp_gather_once).
    const double gathers = p_.fsdp_gather_once ? 1 : 2 * passes;
    const double reductions = p_.fsdp_gather_once ? 1 : passes;
    const double gather =
        AllGatherTime(fabric, Bytes(layer * lp.weight_bytes), ranks, per).value();
    const double reduce =
        ReduceScatterTime(fabric, Bytes(layer * lp.reduce_bytes), ranks, per).value();
    *params += layers * gathers * gather;
    *grads += layers * reductions * reduce;
  }
}

// Hybrid sharding: each shard's replicas (dp / dp_shard, one per shard group, at the stride of a
// shard group) all-reduce their reduced shard of the gradients, in the data-parallel buckets:
// once a step at ZeRO 1 (Megatron-Core's distributed-optimizer instances, on the last
// micro-batch) and under ZeRO-3 gathered once a step; at ZeRO 2 and 3 after every micro-batch's
// reduce-scatter, as FSDP2's HSDP does by default (all_reduce_grads; torchtitan leaves it on) and
// JAX's accumulation over micro-batches does (the gradients keep the parameters' replication
// across slices). A DualPipe rank's two stages each reduce in half the micro-batches.
double StepModel::ReplicaGradientSeconds(const LocalParams& lp, double m) const {
  const int64_t replicas = p_.DpReplicas();
  if (replicas <= 1 || lp.dense <= 0) return 0;
  const double shard = lp.dense / static_cast<double>(lp.d);
  const int64_t stride = p_.tp * lp.d;
  const double buckets = DataParallelBuckets(lp.dense, p_.dp * p_.cp, p_.overlap_grad_reduce);
  const bool once = p_.zero == 1 || (p_.zero == 3 && p_.fsdp_gather_once);
  const bool dual = p_.schedule == Schedule::kDualPipe && p_.pp > 1;
  const double reductions = once ? 1.0 : (dual ? m / 2 : m);
  return reductions * buckets *
         AllReduceTime(c_.fabric, Bytes(shard * lp.reduce_bytes / buckets), replicas, PerDomain(stride, replicas)).value();
}

// DeepSpeed's early ZeRO-3: one gather per parameter tensor, the forward's, the backward's and,
// under full recompute, the recomputed forward's, for every micro-batch.
double StepModel::Zero3PerParameterGatherSeconds(const LocalParams& lp, double m) const {
  const double passes = (2 + RecomputedShare()) * m;
  const double layers_per_stage = static_cast<double>(a_.layers) / p_.pp;
  const double moe_layers = static_cast<double>(a_.MoeLayerCount()) / p_.pp;
  // The word and position embeddings and an untied output layer, spread over the stages as the
  // per-layer gathers spread them.
  const int64_t width = a_.embed_proj_dim > 0 ? a_.embed_proj_dim : a_.hidden;
  double edges = 0;
  for (const ParamTensor& t :
       {ParamTensor{a_.vocab * width}, ParamTensor{a_.position_rows * a_.hidden, false, false},
        ParamTensor{c_.params.lm_head}}) {
    edges += ParameterGather(t, lp.d, lp.ed, lp.weight_bytes);
  }
  return passes * ((layers_per_stage - moe_layers) *
                       PerParameterGathers(false, lp.d, lp.ed, lp.weight_bytes) +
                   moe_layers * PerParameterGathers(true, lp.d, lp.ed, lp.weight_bytes) +
                   edges / static_cast<double>(p_.pp));
}

// Tied input and output embeddings on different stages (or MTP, whose last stage holds a copy of
// the embedding, tied or not): the word embedding's gradient is summed between the first and the
// last stage once per step, after the backward, in the gradient dtype (Megatron's
// _allreduce_word_embedding_grads in finalize_model_grads; DeepSpeed's pipeline engine reduces its
// tied layers the same way). DualPipe holds the first and the last stage on one rank.
double StepModel::TiedEmbeddingSeconds(double grad_bytes) const {
  if (p_.pp <= 1 || !(a_.tied_embeddings || a_.mtp_layers > 0) ||
      p_.schedule == Schedule::kDualPipe) {
    return 0;
  }
  const int64_t width = a_.embed_proj_dim > 0 ? a_.embed_proj_dim : a_.hidden;
  const Bytes bytes(static_cast<double>(a_.vocab) * static_cast<double>(width) / t_ * grad_bytes);
  // PP is the outermost degree: the pair shares a scale-up domain when the whole job fits in one.
  const int64_t job = p_.pp * p_.tp * p_.cp * p_.dp;
  const bool one_domain = InOneDomain(job);
  return AllReduceTime(c_.fabric, bytes, 2, one_domain ? 2 : 1).value();
}

StepModel::DataParallelComm StepModel::DataParallel(const LocalParams& lp,
                                                    const PipelineTime& pipe) const {
  const double m = pipe.micro_batches;
  double grads = 0, params = 0;
  // The dense gradients' group is DP x CP; PlaceOnTorus placed DP's (the same group without CP).
  AddDataParallelTime(p_.cp == 1 ? DpFabric() : c_.fabric, lp, lp.dense, lp.d, p_.tp, p_.dp * p_.cp, m, &grads,
                      &params);
  AddDataParallelTime(c_.fabric, lp, lp.expert, lp.ed, p_.ep * p_.etp, lp.ed, m, &grads, &params);
  grads += ReplicaGradientSeconds(lp, m);
  if (p_.zero == 3 && p_.zero3_gather_per_parameter) params += Zero3PerParameterGatherSeconds(lp, m);
  DataParallelComm dp;
  if (p_.zero == 3 && !p_.zero3_gather_per_parameter && !p_.fsdp_gather_once) {
    dp = ZeroThreeExposure(grads, params, pipe);
  } else if (p_.zero == 3 && p_.zero3_gather_per_parameter) {
    // DeepSpeed's early per-parameter gathers synchronise first, and hide nothing.
    dp.exposed = grads + params;
  } else {
    // ZeRO-2's reductions run one per micro-batch, each under that micro-batch's backward.
    // ZeRO-3 gathered once a step and kept (fsdp_gather_once) moves ZeRO-1's volumes the same
    // way: each layer's gather must end before its first forward, so the gathers hide under the
    // first micro-batch's forward, and the gradients, reduced once after the last backward, under
    // that backward.
    const double backwards = p_.zero == 2 ? m : 1.0;
    const double grads_window = p_.overlap_grad_reduce ? backwards * pipe.stage_backward : -1;
    const double params_window = p_.overlap_param_gather ? pipe.stage_forward : -1;
    dp.exposed = Exposed(grads, grads_window) + Exposed(params, params_window);
    dp.contention = Contention(grads, grads_window) + Contention(params, params_window);
  }
  return dp;
}

// ZeRO-3 / FSDP: the parameter gathers are prefetched layer by layer on a stream of their own,
// under the compute of the micro-batches and through the stage's idle time in the pipeline's fill
// and drain (the bubble), where they slow no compute (`overlap_param_gather`); the gradients'
// reduce-scatters run as each layer's backward makes them, under the backward phases alone
// (`overlap_grad_reduce`; without it each waits for its backward to end). Both streams share the
// links: together they fit in the whole window, the reductions in the backwards. (Hidden under
// the compute alone, a faster GPU shrank that window while a smaller weight-gradient credit grew a
// zero-bubble schedule's bubble: a longer step.)
StepModel::DataParallelComm StepModel::ZeroThreeExposure(double grads, double params, const PipelineTime& pipe) const {
  const double m = pipe.micro_batches;
  const double busy = m * pipe.stage_total;
  const double whole = busy + pipe.bubble, backwards = m * pipe.stage_backward;
  const double hidden_params = p_.overlap_param_gather ? params : 0;
  const double hidden_grads = p_.overlap_grad_reduce ? grads : 0;
  DataParallelComm dp;
  // What the overlapped streams leave exposed: beyond the whole window together, and the
  // reductions beyond the backward windows.
  const double overlapped = hidden_params + hidden_grads;
  const double beyond = std::max(Exposed(overlapped, whole), Exposed(hidden_grads, backwards));
  dp.exposed = (params - hidden_params) + (grads - hidden_grads) + beyond;
  // The reductions slow the backwards' compute as ZeRO-2's would; the gathers slow what they
  // leave of the window (the forwards, the bubble and any backward time past the reductions).
  // The step ends when both the links and the slowed compute are done: the compute's delay counts
  // only past the exposure the links already add.
  const double held = std::min(hidden_grads, backwards), share = c_.collective_share;
  const double delay = ComputeDelay(hidden_grads, backwards, share, backwards) +
                       ComputeDelay(hidden_params, whole - held, share, busy - held);
  dp.contention = std::max(0.0, delay - beyond);
  return dp;
}

// Without gradient-accumulation fusion, each micro-batch adds every local 16-bit weight gradient
// to the main-gradient buffer in a pass of its own: read the gradient, read and write the buffer.
double StepModel::AccumulationSeconds(const LocalParams& lp) const {
  if (c_.job.grad_accumulation_fusion) return 0;
  return Memory((lp.dense + lp.expert) * (WeightGradBytes() + 2 * lp.grad_bytes));
}

// FSDP's passes beside its collectives (Plan::fsdp), over the device's unsharded parameters, each
// a pass at the HBM rate: work the device does whatever stream it runs on.
// - FSDP1: on the compute stream, each backward concatenates its 16-bit gradients into the flat
//   gradient (read and write); on its post-backward stream, before each reduce-scatter, it casts the
//   flat gradient to the reduce dtype where that differs (read 16 bits, write the reduce dtype's)
//   and divides it in place by the pre-divide factor, which is above 1 for any group of 2 or more
//   (read and write; `_div_if_needed` on the default path).
// - FSDP2: copies every gather out of its flat buffer (read and write, in the gathered dtype), twice
//   a micro-batch (forward and backward) or once a step when the stage keeps its gathered weights
//   (fsdp_gather_once), and copies the gradients into the reduce-scatter input in the reduce dtype
//   before every reduction (a micro-batch's 16-bit gradients, or once a step the accumulated ones);
//   it divides that input in place first only when it reduces in fp16 (bf16 and fp32 use NCCL's
//   average instead).
StepModel::PassSeconds StepModel::FsdpCopySeconds(const LocalParams& lp) const {
  PassSeconds s;
  if (!FsdpPasses()) return s;
  const double params = lp.dense + lp.expert, wgrad_bytes = WeightGradBytes();
  const double predivide = lp.d > 1 ? 2 * lp.reduce_bytes : 0.0;
  if (p_.fsdp == Plan::Fsdp::kFsdp1) {
    const double cast = lp.reduce_bytes != wgrad_bytes ? wgrad_bytes + lp.reduce_bytes : 0.0;
    s.per_micro_batch = Memory(params * (2 * wgrad_bytes + cast + predivide));
    return s;
  }
  const double divide = c_.job.GradReduceDtype() == Dtype::kFp16 ? predivide : 0.0;
  const double copy_out = Memory(params * 2 * lp.weight_bytes);
  if (p_.fsdp_gather_once) {
    s.per_step = copy_out + Memory(params * (2 * lp.reduce_bytes + divide));
  } else {
    s.per_micro_batch = 2 * copy_out + Memory(params * (wgrad_bytes + lp.reduce_bytes + divide));
  }
  return s;
}

// fp32 weights without ZeRO-3 (training.weight_dtype fp32 at ZeRO 0-2: PyTorch's autocast over
// fp32 parameters, DDP or ZeroRedundancyOptimizer): each forward casts every local weight to the
// 16-bit dtype at its first use (autocast's cache holds the cast for that forward only: read 4,
// write 2 bytes), again in a forward full recompute runs, and the backward of that cast turns each
// 16-bit weight gradient into fp32 (read 2, write 4). ZeRO-3 casts its shards before gathering them
// (FSDP's mixed precision), which these passes leave out.
double StepModel::CastAtUseSeconds(const LocalParams& lp) const {
  if (!CastsAtUse()) return 0;
  const double forwards = p_.recompute == Recompute::kFull ? 2 : 1;
  const double wgrad_bytes = WeightGradBytes();
  return Memory((lp.dense + lp.expert) * (forwards * (4 + lp.weight_bytes) + wgrad_bytes + 4));
}

// What every micro-batch adds outside the layers' kernels on a device: the accumulation pass,
// FSDP's copies and autocast's casts.
double StepModel::MicroBatchPassSeconds(const LocalParams& lp) const {
  return AccumulationSeconds(lp) + FsdpCopySeconds(lp).per_micro_batch + CastAtUseSeconds(lp);
}

// What a step adds once outside the layers' kernels: DeepSpeed's gradient flattening and FSDP's
// copies of a stage that gathers once.
double StepModel::StepPassSeconds(const LocalParams& lp) const {
  return FlattenSeconds(lp) + FsdpCopySeconds(lp).per_step;
}

// The per-micro-batch passes run in every micro-batch's backward on every stage, outside the stage
// sums the bubble comes from: the other stages' passes (all stages' less the largest, a lower
// bound on the pacing stage's) lengthen the bubble as the rest of their time does (bubble_share).
// The zero-bubble schedules' bubbles are not the others' time in proportion (their weight
// gradients fill it), and are left as they are.
double StepModel::AccumulationBubble(const PipelineTime& pipe) const {
  const bool passes = !c_.job.grad_accumulation_fusion || FsdpPasses() || CastsAtUse();
  if (!passes || p_.pp == 1 || pipe.bubble_share <= 0) return 0;
  if (p_.schedule == Schedule::kZbH1 || p_.schedule == Schedule::kDualPipe) return 0;
  double all = 0, largest = 0;
  for (int64_t stage = 0; stage < p_.pp; ++stage) {
    const double a = MicroBatchPassSeconds(Local(stage));
    all += a;
    largest = std::max(largest, a);
  }
  return pipe.bubble_share * (all - largest);
}

// DeepSpeed's engine copies the gradients into its bucket buffer and back, and scales the
// all-reduced bucket when DP > 1 (Plan::grad_flatten): each pass reads and writes them, per step.
double StepModel::FlattenSeconds(const LocalParams& lp) const {
  const double passes = p_.grad_flatten && p_.zero == 0 ? (lp.d > 1 ? 3 : 2) : 0;
  return Memory(passes * 2 * lp.grad_bytes * (lp.dense + lp.expert));
}

// Of the model's layers, those full recompute runs again (all of them but by block; 0 without).
double StepModel::RecomputedShare() const {
  return a_.layers > 0 ? static_cast<double>(RecomputedLayersInModel(a_, p_)) / static_cast<double>(a_.layers) : 0.0;
}

// The routed experts' FLOPs per token beyond the model's top-k copies, for HFU: padded to a
// capacity factor the GEMMs run CF times the copies, dropping at CF < 1 fewer (the rows a rank
// dispatches, TrainingJob::MoeDispatchRows), in the forward, the backward's two passes and what
// recompute runs again of them.
double StepModel::ExpertRowFlopsPerToken() const {
  const double extra = c_.job.MoeDispatchRows() - 1.0;
  if (extra == 0 || c_.expert_flops_per_token_fwd == 0) return 0;
  double again = 0;  // the share of the experts' forward that recomputation runs again
  if (p_.recompute == Recompute::kFull) again = RecomputedShare();
  if (p_.recompute == Recompute::kSelective && p_.Recomputes(kModuleMoe)) again = 1;
  return extra * c_.expert_flops_per_token_fwd * (3.0 + again);
}

// Recomputation FLOPs per token, for HFU.
double StepModel::RecomputeFlopsPerToken() const {
  switch (p_.recompute) {
    case Recompute::kNone:
      return 0;
    case Recompute::kFull:  // the forward again, but for the output head (not checkpointed)
      return RecomputedShare() * (c_.model_flops_per_token / 3.0 - c_.head_flops_per_token_fwd);
    case Recompute::kSelective:
      return SelectiveRecomputeFlopsPerToken();
    case Recompute::kDots:
      return c_.attention_flops_per_token_fwd;  // the attention products; no weight product
    case Recompute::kNames: {
      // The attention products without `context`, and each projection and MLP input product the
      // plan does not keep: 2 FLOPs per weight per token.
      const double h = static_cast<double>(a_.hidden), f = static_cast<double>(a_.ffn);
      const double q = static_cast<double>(a_.heads * a_.head_dim), kv = static_cast<double>(a_.kv_heads * a_.head_dim);
      const double products = RecomputedQkvWidth(p_, q, kv) + (p_.Keeps(kSavedOutProj) ? 0 : q) +
                              RecomputedMlpInputs(p_, a_.gated_mlp) * f;
      return (KeepsAttentionOutput(p_, c_.job) ? 0 : c_.attention_flops_per_token_fwd) + 2.0 * a_.layers * h * products;
    }
    case Recompute::kSelectiveOp: {
      // wk, wo and w3 (or w2) again, per layer: 2 FLOPs per weight per token.
      const double q = static_cast<double>(a_.heads * a_.head_dim);
      const double kv = static_cast<double>(a_.kv_heads * a_.head_dim);
      return 2.0 * a_.layers * a_.hidden * (kv + q + static_cast<double>(a_.ffn));
    }
  }
  return 0;
}

// The optimizer's passes over its shard of the parameters; at ZeRO 1 the model's gradient buffer
// stays whole (a reduce-scatter into a contiguous buffer, cost-model-notes §3.1), and zeroing it
// for the next step writes all of it.
double StepModel::OptimizerSeconds(const LocalParams& lp) const {
  const double adam_bytes = OptimizerBytesPerParameter(c_.job, lp.weight_bytes);
  const double shard_d = p_.zero >= 1 ? static_cast<double>(lp.d) : 1.0;
  const double shard_ed = p_.zero >= 1 ? static_cast<double>(lp.ed) : 1.0;
  const double sharded = lp.dense / shard_d + lp.expert / shard_ed;
  const double whole_buffer = p_.zero == 1 ? (lp.dense + lp.expert - sharded) * GradientZeroBytes(c_.job) : 0;
  return Memory(sharded * adam_bytes + whole_buffer);
}

StepTime StepModel::Finish(const PipelineTime& pipe) const {
  const double m = pipe.micro_batches;
  // Without gradient-accumulation fusion each micro-batch's backward adds its gradients to the
  // main ones; a DualPipe rank's micro-batches each pass one of its two stages, so its passes
  // cover half its parameters.
  const double accumulations = p_.schedule == Schedule::kDualPipe ? m / 2 : m;
  // After the last backward every device reduces its gradients and steps its optimizer over its
  // own parameters; the one whose tail takes longest ends the step (the stage with the embedding
  // or the head, DualPipe's end rank, or under ZeRO the one with the largest expert shard).
  // Their reduction, optimizer step and per-step gradient passes only grow with the parameters a
  // device holds, so a device that holds no more of either kind than one already timed is skipped.
  LocalParams lp;
  DataParallelComm dp;
  double optimizer = -1, tail = -1;
  DeviceParams timed[8];
  int n_timed = 0;
  auto time_device = [&](const LocalParams& l) {
    for (int i = 0; i < n_timed; ++i) {
      if (l.dense <= timed[i].dense && l.expert <= timed[i].expert) return;
    }
    if (n_timed < 8) timed[n_timed++] = DeviceParams{l.dense, l.expert};
    const DataParallelComm d = DataParallel(l, pipe);
    const double o = OptimizerSeconds(l);
    const double t = d.exposed + d.contention + o + accumulations * MicroBatchPassSeconds(l) + StepPassSeconds(l);
    if (t > tail) lp = l, dp = d, optimizer = o, tail = t;
  };
  ForEachCandidateDevice(a_, p_, [&](int64_t stage) { time_device(Local(stage)); });
  StepTime r;
  r.compute = Seconds(m * pipe.compute);
  r.other = Seconds(accumulations * MicroBatchPassSeconds(lp) + m * (pipe.memory + pipe.launch + pipe.offload) +
                    StepPassSeconds(lp));
  r.host_launch = Seconds(m * pipe.launch);
  r.offload_copies = Seconds(m * pipe.offload);
  r.exposed_comm.tp = Seconds(m * pipe.tp);
  r.exposed_comm.ep = Seconds(m * pipe.ep);
  r.exposed_comm.cp = Seconds(m * pipe.cp);
  r.exposed_comm.pp = Seconds(pipe.pp_exposed + TiedEmbeddingSeconds(lp.reduce_bytes));
  r.exposed_comm.dp = Seconds(dp.exposed);
  r.comm_contention = Seconds(m * pipe.contention + dp.contention);
  r.bubble = Seconds(pipe.bubble + AccumulationBubble(pipe));
  r.optimizer = Seconds(optimizer);
  r.step =
      r.compute + r.other + r.exposed_comm.Total() + r.comm_contention + r.bubble + r.optimizer;
  r.stage_forward = Seconds(pipe.stage_forward);
  r.stage_backward = Seconds(pipe.stage_backward);
  const double tokens = static_cast<double>(c_.job.GlobalBatchTokens());
  r.tokens_per_s = tokens / r.step.value();
  r.tokens_per_s_per_device = r.tokens_per_s / static_cast<double>(c_.devices);
  r.tflops_per_device = r.tokens_per_s_per_device * c_.model_flops_per_token / 1e12;
  r.mfu = r.tflops_per_device * 1e12 / c_.peak_rate.value();
  r.hfu = r.mfu * (c_.model_flops_per_token + RecomputeFlopsPerToken() + ExpertRowFlopsPerToken()) /
          c_.model_flops_per_token;
  return r;
}

}  // namespace cost_internal
}  // namespace preflight
