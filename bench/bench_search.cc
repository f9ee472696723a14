// Search speed on the four cases of the search issue. Reports plans per second (every plan of the
// space, pruned subtrees counted), cost-model evaluations per second and the wall time of one
// full search; asserts nothing.
//
//   build/release/bin/bench_search --benchmark_repetitions=3 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <cstdio>
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

BENCHMARK_CAPTURE(BM_Search, gpt3_13b_64xa100, "gpt3-13b-64xa100.yaml")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Search, megatron_530b_5128xa100, "megatron-530b-5128xa100.yaml")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Search, llama31_405b_16384xh100, "llama3.1-405b-16384xh100.yaml")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Search, deepseek_v3_2048xh800, "deepseek-v3-2048xh800.yaml")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
