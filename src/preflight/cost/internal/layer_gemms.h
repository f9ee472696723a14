// File: cost/internal/layer_gemms.h
//
// Internal to the cost module: the weight GEMMs of one transformer layer on one rank, their shapes
// per token of the micro-batch, for the parts of the model that need the shapes themselves (the
// weight-gradient state ZB-H1 defers). Each GEMM is y = x·W with x of width k and y of width n.
//
//   const LayerGemms g = WeightGemmsOf(arch, plan, job, /*moe=*/false);
//   for (int i = 0; i < g.size; ++i) flops += 2 * tokens * g.at[i].rows * g.at[i].k * g.at[i].n;
//
// At TP 1 without SP, and with the experts' load at 1, twice the sum of rows·k·n is the layer's
// weight-GEMM FLOPs per token in the model's op list (cost_test's LayerGemmsTest checks it).

#pragma once

#include <array>

#include "preflight/model/architecture.h"
#include "preflight/parallel/plan.h"

namespace preflight::cost_internal {

struct WeightGemm {
  // Rows per token of the rank's micro-batch (mb·s/CP tokens): 1 for a GEMM on the whole
  // sequence, 1/TP with SP for one on the rank's sequence shard (MLA's replicated
  // down-projections, the router), and the routed copies a rank's experts take (top-k·ETP·load/TP).
  double rows = 1;
  double k = 0, n = 0;  // input and output widths on the rank
  // The input is kept sequence-sharded with SP (an h-wide input, or MLA's latents, gathered again
  // for the weight gradient): 1/TP of it per token, whatever `rows` is.
  bool sharded_input = false;
  bool sixteen_bit = false;  // runs in 16 bits whatever the precision (the router)
};

// At most: MLA's five projections, the router, two routed and two shared-expert GEMMs.
struct LayerGemms {
  std::array<WeightGemm, 12> at{};
  int size = 0;
  void Add(const WeightGemm& g) { at[static_cast<size_t>(size++)] = g; }
};

// The weight GEMMs of a dense (`moe` false) or MoE layer of `arch` on one rank of `plan`: the
// attention's projections, then the dense MLP's two (gate and up fused) or the router, the routed
// experts' two and the shared experts' two.
LayerGemms WeightGemmsOf(const Architecture& arch, const Plan& plan, const TrainingJob& job, bool moe);

}  // namespace preflight::cost_internal
