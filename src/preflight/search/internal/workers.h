// File: search/internal/workers.h
//
// Internal to the search module: the per-thread state of a search (its counts and top list), the
// threads that run one each, and the live progress counters they publish to.
//
//   std::vector<Worker> workers(threads);
//   SearchResult r = RunWorkers(&workers, [&](Worker* w) { w->top_k = k; /* w->Offer(...) */ },
//                               options, SearchResult{});
#pragma once

#include <algorithm>
#include <cstdint>
#include <system_error>
#include <thread>
#include <vector>

#include "preflight/search/search.h"

namespace preflight::search_internal {

// Per-worker state: counts and a bounded, sorted top list (no allocation after reserve); with
// `distinct`, a plan replaces its layout's entry when better and is dropped when not.
struct Worker {
  SearchResult result;
  int top_k = 10;
  bool distinct = false;

  void Offer(const RankedPlan& r) {
    auto& top = result.top;
    if (distinct) {
      auto same = std::find_if(top.begin(), top.end(), [&](const RankedPlan& e) { return SameLayout(e.plan, r.plan); });
      if (same != top.end()) {
        if (!BetterPlan(r, *same)) return;
        top.erase(same);
      }
    }
    if (static_cast<int>(top.size()) == top_k && !BetterPlan(r, top.back())) return;
    auto pos = std::upper_bound(top.begin(), top.end(), r, BetterPlan);
    top.insert(pos, r);
    if (static_cast<int>(top.size()) > top_k) top.pop_back();
  }
};

// Starts one more worker; false when the system refuses another thread (the workers already
// running take every branch in turn, so the answer is the same, only slower).
template <typename Work>
bool StartThread(std::vector<std::thread>* pool, const Work& work, Worker* w) {
  try {
    pool->emplace_back(work, w);
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

// Runs `work` on each of *workers, one thread each (the calling thread takes the first; fewer
// threads where the system refuses one), and merges their results into `into`.
template <typename Work>
SearchResult RunWorkers(std::vector<Worker>* workers, const Work& work, const SearchOptions& o, SearchResult into) {
  std::vector<std::thread> pool;
  for (size_t t = 1; t < workers->size() && StartThread(&pool, work, &(*workers)[t]); ++t) {
  }
  work(&(*workers)[0]);
  for (std::thread& t : pool) t.join();
  for (const Worker& w : *workers) MergeResults(&into, w.result, o.top_k, o.distinct);
  return into;
}

// Adds what a worker did since (considered, valid) were read to the live counters.
inline void Publish(SearchProgress* progress, int64_t considered_before, int64_t valid_before, const Worker& w) {
  if (progress == nullptr) return;
  progress->considered += w.result.considered - considered_before;
  progress->valid += w.result.valid - valid_before;
  if (!w.result.top.empty()) {
    double best = progress->best.load();
    const double mine = w.result.top.front().objective;
    while ((best == 0 || mine < best) && !progress->best.compare_exchange_weak(best, mine)) {
    }
  }
}


}  // namespace preflight::search_internal
