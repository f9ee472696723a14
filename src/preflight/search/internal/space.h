// File: search/internal/space.h
//
// Internal to the search module: the outer layouts of the search space, one Branch each (TP, CP,
// PP, DP, EP, ETP, VPP and schedule), in the fixed order every search and count walks them; the
// inner choices (SP, ZeRO stage, recompute, micro-batch) are search.cc's.
//
//   ForEachBranch(scenario, constraints, [&](const Branch& b) { ++count; return true; });
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "preflight/scenario/scenario.h"
#include "preflight/search/search.h"

namespace preflight::search_internal {

// The most interleaving stages a pipeline stage is searched at (the smallest VPPs).
constexpr int64_t kMaxSearchVpp = 64;

// The divisors of n in increasing order, up to max_value (0: all), found in O(sqrt n).
// REQUIRES: n >= 1.
std::vector<int64_t> Divisors(int64_t n, int64_t max_value);

// One outer combination; the inner loops (sp, zero, recompute, micro-batch) run per branch.
struct Branch {
  int64_t tp, cp, pp, dp, ep, etp, vpp;
  Schedule schedule;
};

// Whether a degree the constraints may fix (`fixed`, or any where unset) allows `v`.
inline bool Allowed(const std::optional<int64_t>& fixed, int64_t v) { return !fixed || *fixed == v; }

// Calls `visit` with each outer combination of the space, in a fixed order, until it returns false.
template <typename Visit>
void ForEachBranch(const Scenario& s, const SearchConstraints& c, const Visit& visit) {
  const Architecture& a = s.arch;
  const int64_t n = s.cluster.devices;
  const int64_t max_tp = c.max_tp > 0 ? c.max_tp : s.cluster.scale_up_domain;
  bool more = true;
  for (int64_t tp : Divisors(n, max_tp)) {
    if (!more) return;
    if (!Allowed(c.tp, tp)) continue;
    for (int64_t cp : Divisors(n / tp, c.max_cp)) {
      if (!more) return;
      if (!Allowed(c.cp, cp)) continue;
      // Every PP up to the layer count; layers that do not divide are spread (balanced split).
      for (int64_t pp : Divisors(n / (tp * cp), std::min(a.layers, c.max_pp > 0 ? c.max_pp : a.layers))) {
        const int64_t dp = n / (tp * cp * pp);
        if (!more) return;
        if (!Allowed(c.pp, pp) || !Allowed(c.dp, dp)) continue;
        std::vector<int64_t> eps = a.IsMoe() ? Divisors(a.moe.experts, c.max_ep) : std::vector<int64_t>{1};
        // Experts without TP or with the layers' TP group (the plan rule).
        std::vector<int64_t> etps = a.IsMoe() && tp > 1 ? std::vector<int64_t>{1, tp} : std::vector<int64_t>{1};
        for (int64_t ep : eps) {
          if (!Allowed(c.ep, ep)) continue;
          for (int64_t etp : etps) {
            auto add = [&](Schedule sched, int64_t vpp) {
              if (!more || (c.schedule && *c.schedule != sched) || !Allowed(c.vpp, vpp)) return;
              more = visit(Branch{tp, cp, pp, dp, ep, etp, vpp, sched});
            };
            if (pp == 1) {
              // Every schedule is the same without a pipeline: 1F1B stands for them, or a fixed
              // schedule the plan rules allow at PP 1 (GPipe, ZB-H1), which a fixed schedule would
              // otherwise filter out with every PP-1 layout.
              const bool fixed_flat = c.schedule && (*c.schedule == Schedule::kGpipe || *c.schedule == Schedule::kZbH1);
              add(fixed_flat ? *c.schedule : Schedule::k1F1B, 1);
              continue;
            }
            add(Schedule::kGpipe, 1);
            add(Schedule::k1F1B, 1);
            add(Schedule::kZbH1, 1);
            add(Schedule::kDualPipe, 1);
            // Every VPP that leaves each virtual stage a layer, up to kMaxSearchVpp (all of them for
            // models of up to 128 layers at PP 2; it bounds the space of models with thousands);
            // those that do not divide the layers spread them (balanced split), as the plan rules
            // allow.
            const int64_t most_vpp = std::min<int64_t>(a.layers / pp, kMaxSearchVpp);
            for (int64_t v = 2; v <= most_vpp; ++v) add(Schedule::kInterleaved, v);
          }
        }
      }
    }
  }
}

}  // namespace preflight::search_internal
