// File: catalog/host_profile.h
//
// Measured host (CPU) time of one transformer layer of an eager framework, for the step model.
// A small model is bound by the host: Python, the autograd engine and the dispatcher take longer
// per op than the GPU needs to run it, and the GPU waits. That time belongs to the software stack
// and the CPU, not to the accelerator, so it is measured on the host alone
// (tools/host/measure_eager_host.py) and named in a scenario with training.host_profile.
//
//   ASSIGN_OR_RETURN(HostProfile h, LoadHostProfile("data/host/megatron-lm-gpt-eager-zen3.yaml"));
//   Seconds per_layer = h.LayerSeconds(/*full_recompute=*/true);
//
// File format (data/host/README.md):
//   id: megatron-lm-gpt-eager-zen3
//   source: "tools/host/measure_eager_host.py on ..., PyTorch ..."
//   stack: "what ran"
//   layer: gpt                     # optional: the kind of layer timed
//   layer_us: {forward: 850, backward: 1000, checkpointed: 3000,   # per layer and micro-batch
//              checkpointed_forward: 1100}   # optional; needed with gpu_waits_per_layer_forward
//   gpu_waits_per_layer_forward: 2 # optional (0): blocking copies to the device in a layer forward
//   collective_call_us: 40         # optional: host time of one collective call inside a layer
//   unfused_softmax_op_us: 12      # optional: host time of each op Megatron's unfused softmax adds
//   micro_batch_us: 900            # embedding, LM head and loss, forward and backward
//   input_us: {before_sync: 1100, after_sync: 150}   # optional: each micro-batch's input path
//   checks: {...}                  # optional, not read: the tool's own cross-checks
//   shapes: {...}                  # optional, not read
//   omitted: [...]                 # optional, not read: what the measurement leaves out
#pragma once

#include <algorithm>
#include <string>

#include "preflight/base/status.h"
#include "preflight/base/units.h"

namespace preflight {

struct HostProfile {
  std::string id;
  std::string source;
  std::string stack;
  std::string file;
  // The kind of layer timed: "gpt" (LayerNorm, GeLU MLP, standard multi-head attention, dense), or
  // empty when the file does not say. plan warns when a scenario's layers are of another kind.
  std::string layer;
  Seconds layer_forward{0};       // a forward that builds the autograd graph (no recompute)
  Seconds layer_backward{0};      // its backward
  Seconds layer_checkpointed{0};  // full recompute, whole: forward without autograd, recomputed forward, backward
  Seconds layer_checkpointed_forward{0};  // of which the forward without autograd; 0 when not given
  // Blocking copies to the device in each layer forward (Megatron-DeepSpeed makes two scalar
  // tensors on the device per layer, torch.tensor(0.0, device=...): PyTorch copies a pageable host
  // value with cudaMemcpyAsync and then cudaStreamSynchronize). At each, the host waits until the
  // GPU has run everything queued, so the host cannot run ahead of the GPU from one layer to the
  // next: the forward and the backward of a layer are each bound by their own slower side.
  int64_t gpu_waits_per_layer_forward = 0;
  // Host time of one collective call issued inside a layer (torch.distributed's wrapper, c10d and
  // the NCCL enqueue), measured on a GPU host; 0 when the file does not give it (a profile timed
  // without a GPU cannot). The step model adds it for every tensor-parallel and expert-parallel
  // collective a layer issues (StepModel counts them from the plan); the layer times themselves
  // are timed at tensor parallelism 1, where Megatron issues none.
  Seconds collective_call{0};
  // Host time of each op Megatron's unfused softmax adds to a layer over its fused kernel (the
  // layer timed both ways, per op launch: four in the forward, again in a recomputed forward, and
  // their four gradients); 0 when the file does not give it, and the step model then charges
  // training.host_overhead_per_kernel_us for each.
  Seconds unfused_softmax_op{0};
  Seconds micro_batch{0};         // per micro-batch outside the layers (embedding, head, loss)
  // Each micro-batch's input path (Megatron's get_batch), split where the host waits for the GPU
  // (broadcast_data copies the batch's sizes back to the CPU): before the wait (the data-loader
  // receive), which can run while the GPU finishes the previous micro-batch, and after it, up to
  // the model's first kernel, while the GPU idles. 0 when the file does not give them.
  Seconds input_before_sync{0};
  Seconds input_after_sync{0};

  // Host time of one layer's forward and backward for one micro-batch. Selective recompute runs
  // as without recompute; the step model adds the kernels of the modules it recomputes at this
  // profile's forward time per kernel.
  Seconds LayerSeconds(bool full_recompute) const {
    return full_recompute ? layer_checkpointed : Seconds(layer_forward + layer_backward);
  }
  // The part of LayerSeconds before the backward starts: the forward pass of the layer (without
  // autograd under full recompute; the recomputed forward belongs to the backward). A profile
  // without `checkpointed_forward` gives the forward with autograd in its place, an upper bound
  // (the bundled profiles measure the checkpointed forward at 0.71-0.98 of it), and at most half
  // the checkpointed layer, which runs the forward twice (checkpointed, then recomputed).
  Seconds LayerForwardSeconds(bool full_recompute) const {
    if (!full_recompute) return layer_forward;
    if (layer_checkpointed_forward.value() > 0) return layer_checkpointed_forward;
    return Seconds(std::min(layer_forward.value(), 0.5 * layer_checkpointed.value()));
  }
};

// Loads and validates a profile file: InvalidArgument naming the file and field on any problem
// (a missing time, one not above 0 µs or above 1e9 µs, an unknown key, a layer kind other than
// gpt, a checkpointed forward not
// below the checkpointed layer, waits without a checkpointed forward, a collective call of 0 µs or
// above 1e9 µs); NotFound if it cannot be
// opened.
StatusOr<HostProfile> LoadHostProfile(const std::string& path);

}  // namespace preflight
