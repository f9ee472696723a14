// Search speed on the four cases of the search issue. Reports plans per second (every plan of the
// space, pruned subtrees counted), cost-model evaluations per second and the wall time of one
// full search, with bound pruning (exhaustive:0) and without (exhaustive:1, every valid plan
// through the memory and step-time models); asserts nothing. cost:1 ranks by cost (held
// device-hours x price) instead of step time, on the pruned search.
//
//   build/release/bin/bench_search --benchmark_repetitions=3 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/search/search.h"

namespace {

void BM_Search(benchmark::State& state, const char* file) {
  preflight::Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  auto s = preflight::LoadScenarioFile(std::string(PREFLIGHT_SOURCE_DIR) + "/bench/scenarios/" + file,
                                       catalog, {});
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.status().message().c_str());
    std::abort();
  }
  preflight::SearchOptions o;
  o.top_k = 10;
  o.threads = static_cast<int>(state.range(0));
  o.exhaustive = state.range(1) != 0;
  o.objective = state.range(2) != 0 ? preflight::Objective::kCost : preflight::Objective::kStepTime;
  int64_t plans = 0, evaluations = 0, valid = 0;
  for (auto _ : state) {
    preflight::SearchResult r = preflight::Search(*s, {}, o);
    plans += r.considered;
    evaluations += r.model_evaluations;
    valid = r.valid;
    benchmark::DoNotOptimize(r);
  }
  state.counters["plans_per_s"] = benchmark::Counter(static_cast<double>(plans), benchmark::Counter::kIsRate);
  state.counters["evals_per_s"] = benchmark::Counter(static_cast<double>(evaluations), benchmark::Counter::kIsRate);
  state.counters["plans"] = benchmark::Counter(static_cast<double>(plans) / state.iterations());
  state.counters["valid"] = static_cast<double>(valid);
}

#define PREFLIGHT_SEARCH_BENCH(name, file)                                         \
  BENCHMARK_CAPTURE(BM_Search, name, file)                                          \
      ->ArgsProduct({{1, 2}, {0, 1}, {0}})                                          \
      ->Args({1, 0, 1})                                                             \
      ->Args({2, 0, 1})                                                             \
      ->ArgNames({"threads", "exhaustive", "cost"})                                 \
      ->UseRealTime()                                                               \
      ->Unit(benchmark::kMillisecond)

PREFLIGHT_SEARCH_BENCH(gpt3_13b_64xa100, "gpt3-13b-64xa100.yaml");
PREFLIGHT_SEARCH_BENCH(megatron_530b_5128xa100, "megatron-530b-5128xa100.yaml");
PREFLIGHT_SEARCH_BENCH(llama31_405b_16384xh100, "llama3.1-405b-16384xh100.yaml");
PREFLIGHT_SEARCH_BENCH(deepseek_v3_2048xh800, "deepseek-v3-2048xh800.yaml");

}  // namespace

BENCHMARK_MAIN();
