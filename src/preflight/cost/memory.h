// File: cost/memory.h
//
// Memory per device for one training step: model states (weights, gradients, optimizer),
// activations of the micro-batches in flight, and runtime overheads, on the most loaded
// pipeline stage.
//
//   MemoryEstimate m = EstimateMemory(arch, params, plan, job, cluster.hbm_capacity, {});
//   m.worst.Total();  m.fits;  m.worst_stage;
//
// Sources (docs/memory-model.md has the derivations):
//  - model states: ZeRO §3.1/§5.1 (2+2+12 bytes/param) and Megatron's distributed optimizer
//    (bf16 weights, fp32 main grads: 6 + 12/d bytes/param), cost-model-notes §3.1;
//  - activations: Korthikanti et al. 2022 Eq. 1-6 and Table 2, generalised to GQA, gated MLPs,
//    fused attention, MoE, MLA and CP as in cost-model-notes §3.2; micro-batches in flight per
//    schedule from cost-model-notes §3.3.
// REQUIRES: CheckPlan(arch, plan, job, devices).ok().
#pragma once

#include <cstdint>
#include <vector>

#include "preflight/base/units.h"
#include "preflight/model/architecture.h"
#include "preflight/model/model.h"
#include "preflight/parallel/plan.h"

namespace preflight {

// Overheads beyond tensors the model needs. Defaults are documented with sources.
struct MemoryOptions {
  // CUDA context, library handles and communicator buffers outside the allocator's view. 781 MB
  // seen for a bare PyTorch process on start (pytorch/pytorch issue #34323); rounded to 0.75 GiB.
  Bytes runtime_reserved = Bytes::GiB(0.75);
  // Temporaries and allocator slack as a fraction of activations: Megatron's
  // theoretical_memory_usage.py multiplies activations by 1.05 ("buffer for optimizer and misc
  // temporaries"), cost-model-notes §3.2/§3.4.
  double activation_temporaries_fraction = 0.05;
};

struct MemoryBreakdown {
  Bytes weights;
  Bytes gradients;
  Bytes optimizer;
  Bytes activations;
  Bytes other;
  // What the optimizer step holds beyond the training peak, 0 when that peak is the larger: the
  // fp32 copy an optimizer with fp32 main weights takes of 16-bit gradients (Megatron's fp16
  // optimizer, `main_param.grad = model_param.grad.float()`; DeepSpeed's fp16 and ZeRO optimizers'
  // fp32 gradient flats), sharded as the optimizer states are, once the step's activations are gone.
  Bytes optimizer_step;
  Bytes Total() const { return weights + gradients + optimizer + activations + other + optimizer_step; }
};

struct MemoryEstimate {
  MemoryBreakdown worst;   // the stage with the largest total
  int64_t worst_stage = 0;
  Bytes capacity;
  bool fits = false;
  double headroom_fraction = 0;  // (capacity - total) / capacity; negative when it does not fit
  double in_flight_micro_batches = 0;  // on the worst stage, in units of its full layer stack
};

// Bytes of activations one layer stores per micro-batch, per device.
struct LayerActivationBytes {
  double dense = 0;  // a dense transformer layer
  double moe = 0;    // an MoE layer
  double recompute_input = 0;  // what full recompute keeps: the layer input
  // What torchtitan's op-level policy keeps of a dense layer: its input, the outputs of wq, wv,
  // fused attention (with its fp32 log-sum-exp), w1, w2 when the MLP is gated (its 7th product,
  // a [tokens, hidden] partial sum under TP) and, under TP with SP, the two reduce-scatters'.
  double op_sac = 0;
  // What the dots policy keeps of a dense layer: its input and the outputs of its weight products
  // (q, k, v, the output projection, the MLP's first product(s) and its second).
  double dots = 0;
  // What named checkpoints (recompute `names`) keep of a dense layer in device memory: its input
  // unless offloaded, and each tensor Plan::recompute_saved names.
  double names = 0;
  // Selective recompute of whole modules: what one dense layer's recomputed MLP, or one MoE
  // layer's recomputed block or shared experts, hold again while that layer's backward runs.
  double dense_module_working = 0;
  double moe_module_working = 0;
  // Selective recompute of the attention products (`core_attn`): what one layer's regenerated
  // attention core holds while that layer's backward runs (unfused: the scores' softmax output,
  // dropout mask and output; fused: the log-sum-exp; both: the 16-bit attention output), dense
  // and MoE layers alike.
  double core_attn_working = 0;
  // The output-discarding modules (`layernorm`, `moe_act`, `mla_up_proj`): the largest of what
  // each drops from a layer, which that layer's backward regenerates.
  double discarded_working_dense = 0;
  double discarded_working_moe = 0;
  // What an offloaded dense layer (Plan::cpu_offload_layers) keeps on the device: the tensors
  // Megatron's own ops save, which Transformer Engine's offload handler does not move (only
  // tensors TE's modules and Megatron's fused SwiGLU mark for offloading go): the dropout masks,
  // a bias-GeLU's 16-bit input and eager PyTorch's intermediates. dense - offload_resident goes to the host.
  double offload_resident = 0;
  // What ZB-H1 holds of a layer for each micro-batch whose deferred weight-gradient pass (W) has
  // not run yet: each weight GEMM's saved input and its output's 16-bit gradient, which the input
  // gradient pass (B) leaves behind (32sbh for a GPT layer at TP 1; cost-model-notes §3.3).
  double weight_grad_dense = 0;
  double weight_grad_moe = 0;
};

LayerActivationBytes ActivationBytesPerLayer(const Architecture& arch, const Plan& plan,
                                             const TrainingJob& job);

// Micro-batches whose activations stage `stage` holds at its peak, in units of its layer stack.
double InFlightMicroBatches(const Plan& plan, int64_t micro_batches, int64_t stage);

// Parameters one device of pipeline stage `stage` holds, before ZeRO sharding: non-expert ones
// (split by TP, but for the tensors TP replicates), sharded over the data-parallel group, and
// routed experts (split over EP x ETP), sharded over the expert-data-parallel group. Under
// DualPipe a device also holds the mirror stage pp - 1 - stage.
struct DeviceParams {
  double dense = 0;
  double expert = 0;
};
DeviceParams ParamsOnDevice(const Architecture& arch, const ParamCounts& params, const Plan& plan,
                            int64_t stage);
// Calls f(stage) once for every device that can be the most loaded, by a stage of it: the stages
// CandidateStages names (else every stage), and under DualPipe every rank r < pp/2 (holding stages
// r and pp - 1 - r: the candidates for single stages miss pairs).
template <typename F>
void ForEachCandidateDevice(const Architecture& arch, const Plan& plan, F f) {
  if (plan.schedule == Schedule::kDualPipe && plan.pp > 1) {
    for (int64_t r = 0; r < (plan.pp + 1) / 2; ++r) f(r);
    return;
  }
  int64_t candidates[5];
  const int n = CandidateStages(arch, plan, candidates);
  for (int i = 0; i < (n > 0 ? n : plan.pp); ++i) f(n > 0 ? candidates[i] : int64_t{i});
}

MemoryBreakdown EstimateStageMemory(const Architecture& arch, const ParamCounts& params,
                                    const Plan& plan, const TrainingJob& job, int64_t stage,
                                    const MemoryOptions& options);

MemoryEstimate EstimateMemory(const Architecture& arch, const ParamCounts& params,
                              const Plan& plan, const TrainingJob& job, Bytes capacity,
                              const MemoryOptions& options);

// Full recompute by block (Megatron-LM's --recompute-method block) for `plan`'s layout: the fewest
// layers a model chunk it must recompute for the most loaded device to hold at most `budget`,
// when fewer than all of them do; 0 otherwise (not even full recompute fits, or only it does).
// Memory falls as the count grows: a bisection. `plan`'s recompute fields are ignored.
int64_t FewestBlockLayersWithin(const Architecture& arch, const ParamCounts& params, const Plan& plan,
                                const TrainingJob& job, Bytes budget, const MemoryOptions& options);

}  // namespace preflight
