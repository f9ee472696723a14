// File: search/search_test_support.h
//
// For the search unit tests only (includes GoogleTest): a scenario loaded from the source tree,
// whether two searches return the same plans, and the check that the bound's pruning keeps the
// exhaustive top K.
//
//   using test_support::Load;
//   const Scenario s = Load("examples/llama3.1-70b-h100.yaml", {{"cluster.devices", "64"}});
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/scenario/scenario.h"
#include "preflight/search/search.h"

namespace preflight::test_support {

// The scenario `file` (relative to the source tree) with `overrides`, on the source tree's catalog.
inline Scenario Load(const std::string& file, const std::vector<Override>& overrides = {}) {
  Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  auto s = LoadScenarioFile(std::string(PREFLIGHT_SOURCE_DIR) + "/" + file, catalog, overrides);
  EXPECT_TRUE(s.ok()) << s.status().message();
  return *s;
}

// The same plans in the same order, with the same objectives.
inline bool SamePlans(const SearchResult& a, const SearchResult& b) {
  if (a.top.size() != b.top.size()) return false;
  for (size_t i = 0; i < a.top.size(); ++i) {
    const Plan &p = a.top[i].plan, &q = b.top[i].plan;
    if (p.tp != q.tp || p.cp != q.cp || p.pp != q.pp || p.dp != q.dp || p.vpp != q.vpp ||
        p.ep != q.ep || p.etp != q.etp || p.sp != q.sp || p.zero != q.zero ||
        p.schedule != q.schedule || p.recompute != q.recompute || p.micro_batch != q.micro_batch ||
        a.top[i].objective != b.top[i].objective) {
      return false;
    }
  }
  return true;
}

// Pruned and exhaustive searches of `s` under `c` return the same top K, and the pruned one cut
// branches by its bound.
inline void ExpectPruningKeepsTheExhaustiveTopK(const Scenario& s, const SearchConstraints& c,
                                                int threads) {
  SearchOptions o;
  o.top_k = 5;
  o.threads = threads;
  SearchResult pruned = Search(s, c, o);
  o.exhaustive = true;
  SearchResult full = Search(s, c, o);
  ASSERT_FALSE(full.top.empty());
  EXPECT_TRUE(SamePlans(pruned, full));
  EXPECT_GT(pruned.rejected[kRejectBound], 0);
}

}  // namespace preflight::test_support
