// File: cost/internal/step_parts.h
//
// Internal to the cost module: the per-device work of one layer for one micro-batch (LayerCost),
// the bytes its elementwise passes move (ElementwiseBytes), and a pipeline stage's time by kind
// (StageSums), which StepModel (cost/internal/step_model.h) fills and sums.
//
//   StageSums stage, layer;                    // `layer`: one layer's sums (StepModel::AddLayer)
//   stage.Add(layer, /*n=*/layers_on_stage);   // n layers of the same sums
//   const double seconds = stage.Total();

#pragma once

#include <cstdint>

#include "preflight/cost/step_time.h"

namespace preflight::cost_internal {

// Pieces of a reduce-scatter GEMM under Transformer Engine's userbuffers "pipeline" overlap
// (`initialize_ub` default num_splits, transformer_engine/pytorch/module/base.py); its ring
// exchange cuts the all-gather GEMMs into TP pieces.
inline constexpr double kUserbufferPipelineSplits = 4;

// Per-device work of one layer for one micro-batch, split by kind.
struct LayerCost {
  double fwd_compute = 0;  // GEMMs and attention products
  double bwd_compute = 0;
  double wgrad = 0;        // of bwd_compute, the weight-gradient products (zero-bubble schedules move them)
  double fwd_memory = 0;   // memory-bound elementwise and norm work
  double cast_fwd = 0, cast_bwd = 0;  // FP8 cast and transpose passes (Transformer Engine)
  double core_fwd = 0;     // attention products alone (for selective recompute and CP overlap)
  double op_sac_fwd = 0;   // the matrix products torchtitan's op-level policy recomputes
  double kernels_op_sac = 0;  // kernels that policy launches again
  double kernels_dots = 0;    // kernels the dots policy launches again (all but weight products)
  // What recompute `names` runs again: the products whose outputs the backward reads and the plan
  // does not keep (the attention products without `context`; q, k, v, the output projection and
  // the MLP's input products each without its name; never the MLP's output product), the
  // collective the output projection's recompute runs again, and the kernels launched again.
  double names_fwd = 0, names_tp = 0, kernels_names = 0;
  double core_bwd = 0;
  // What selective recompute runs again, by Plan::recompute_modules: products (the attention
  // products, MLA up-projections, a dense MLP, an MoE block or its shared experts), elementwise
  // passes (norms, the experts' activation, RoPE), the collectives inside a recomputed MLP or MoE
  // block, and the kernels and collective calls the host launches for them.
  double sel_fwd = 0, sel_memory = 0, sel_tp = 0, sel_ep = 0, kernels_sel = 0, calls_sel = 0;
  double kernels_fwd = 0;  // kernels launched by the forward (backward launches about twice as many)
  double kernels_core = 0; // of which the attention products
  // Of kernels_fwd, those a host profile's layer does not run (an unfused softmax's extra ops over
  // the fused kernel the profile timed), and the backward's (their gradients): the host pays
  // UnprofiledKernelSeconds for each launch of them beside the profile's figures.
  double kernels_unprofiled = 0, kernels_unprofiled_bwd = 0;
  double kernels_wgrad = 0; // weight-gradient kernels the backward launches (one per weight product)
  double tp_fwd = 0, tp_bwd = 0;  // collective times before overlap
  double tp_op_sac = 0;  // of the forward's, what torchtitan's op-level policy runs again
  double ep_fwd = 0, ep_bwd = 0;
  double shared_fwd = 0, shared_bwd = 0;  // the shared experts' products (the EP overlap's window)
  double shared_wgrad = 0;                // of shared_bwd, their weight gradients
  double cp_fwd = 0, cp_bwd = 0;
  // Collective calls the host issues, as TensorComm and the EP model count them: per
  // tensor-parallel block one all-reduce each way, or with SP an all-gather and a reduce-scatter
  // forward and three backward (the input gathered again for the weight gradient); two expert
  // all-to-alls each way. The op-level policy runs the forward's all-reduces, or with SP its
  // all-gathers, again (it saves reduce-scatter outputs only). Context parallelism's ring
  // exchanges are not counted (the stacks whose host is profiled have none).
  double calls_fwd = 0, calls_bwd = 0, calls_op_sac = 0;
};

// HBM bytes per element of one layer's forward elementwise work, 16-bit activations.
struct ElementwiseBytes {
  double norm = 0;        // per element of a normalised [tokens, hidden] tensor
  double residual = 0;    // per element of one residual add (with its dropout, if any)
  double rope = 0;        // per element of q and k
  double activation = 0;  // per element of the MLP's intermediate (ffn) width
  int norm_kernels = 1, residual_kernels = 1, rope_kernels = 1, activation_kernels = 1;
};

// Fused (Megatron, Transformer Engine, Apex, torch.compile): a norm reads and writes once; a
// residual add reads both and writes (Megatron's bias-dropout-add also writes its 1-byte mask);
// RoPE reads and writes q and k; the activation reads its input(s) and writes once.
// Eager PyTorch, op by op as torchtitan writes it: RMSNorm is x.float() (read 2, write 4), pow
// (4, 4), mean (4), x * rsqrt (4, 4), the cast back (4, 2) and the weight product (2, 2): 36 bytes
// in 8 kernels (with the per-row add and rsqrt); LayerNorm (nn.LayerNorm) and GeLU (F.gelu) are
// one aten kernel either way; RoPE is an fp32 copy (2, 4), a complex product (4, 4) and a cast
// back (4, 2), per q and k; SwiGLU is SiLU (2, 2) and a product (4, 2); dropout is its own pass
// (2, 2 and the 1-byte mask) before the add. (Hugging Face's Llama RMSNorm is the same; its RoPE,
// q*cos + rotate_half(q)*sin in 16 bits, moves about as many bytes in more kernels; GPT-2's
// tanh GeLU written op by op is not counted.) What eager ops save for their backward is the
// memory model's (cost/memory.cc, EagerExtraBytes).
ElementwiseBytes ElementwisePasses(const Architecture& a, bool fused);

// One pipeline stage's time per micro-batch, by kind, summed over its layers (and the head).
struct StageSums {
  double fwd = 0, bwd = 0;          // compute incl. recompute
  double memory = 0;                // elementwise fwd+bwd
  double tp = 0, ep = 0, cp = 0;    // exposed, fwd+bwd
  double launch = 0;                // GPU idle waiting for kernel launches
  double slack = 0;                 // GPU work the host has queued ahead of it (not part of the time)
  double backward_slack = 0;        // of which queued in the layers' backward phases
  double input_slack = 0;           // what the next micro-batch's input path can run beside
  double contention = 0;            // compute slowed by the hidden TP, EP and CP collectives
  double wgrad = 0;                 // of bwd, the weight-gradient products
  // Of slack, the GPU time of weight-gradient passes run apart (zero-bubble schedules) beyond
  // the host's launches of them.
  double wgrad_slack = 0;
  double forward = 0;               // the forward share of all the above
  double Total() const { return fwd + bwd + memory + tp + ep + cp + launch + contention; }
  void Add(const StageSums& o, double n) {
    fwd += n * o.fwd, bwd += n * o.bwd, memory += n * o.memory, tp += n * o.tp, ep += n * o.ep;
    cp += n * o.cp, launch += n * o.launch, contention += n * o.contention, forward += n * o.forward;
    slack += n * o.slack, backward_slack += n * o.backward_slack, wgrad += n * o.wgrad;
    wgrad_slack += n * o.wgrad_slack;
  }
};

// Counts the kernels one layer's forward launches and the collective calls it issues, and what
// each recompute mode launches again, into l's kernels_* and calls_* fields (cost/step_kernels.cc):
// unfused eager framework, `e` the elementwise passes' kernels, `softmax` what an unfused
// attention softmax adds (zero where the fused kernel runs).
void CountKernels(const Architecture& a, const Plan& p, const TrainingJob& job, bool fp8, bool moe,
                  const ElementwiseBytes& e, const UnfusedSoftmaxWork& softmax, LayerCost* l);

}  // namespace preflight::cost_internal
