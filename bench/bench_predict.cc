// Cost of one prediction: step time (and memory) of one plan, with the per-model context
// built once, as the search will use it. Reports figures; asserts nothing.
//
//   build/release/bin/bench_predict --benchmark_repetitions=5 --benchmark_report_aggregates_only
#include <benchmark/benchmark.h>

#include <string>

#include "preflight/catalog/catalog.h"
#include "preflight/cost/memory.h"
#include "preflight/cost/step_time.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"

namespace {

preflight::Scenario Load(const std::string& file) {
  preflight::Catalog catalog(std::string(PREFLIGHT_SOURCE_DIR) + "/data");
  auto s = preflight::LoadScenarioFile(std::string(PREFLIGHT_SOURCE_DIR) + "/" + file, catalog, {});
  if (!s.ok()) {
    fprintf(stderr, "%s\n", s.status().message().c_str());
    std::abort();
  }
  return *s;
}

void BM_StepTime(benchmark::State& state, const char* file) {
  preflight::Scenario s = Load(file);
  preflight::ParamCounts params = preflight::CountParameters(s.arch);
  preflight::CostContext ctx = preflight::MakeCostContext(s.arch, params, s.job, s.cluster);
  for (auto _ : state) {
    preflight::StepTime t = preflight::EstimateStep(ctx, s.plan);
    benchmark::DoNotOptimize(t);
  }
}

void BM_StepTimeAndMemory(benchmark::State& state, const char* file) {
  preflight::Scenario s = Load(file);
  preflight::ParamCounts params = preflight::CountParameters(s.arch);
  preflight::CostContext ctx = preflight::MakeCostContext(s.arch, params, s.job, s.cluster);
  for (auto _ : state) {
    preflight::StepTime t = preflight::EstimateStep(ctx, s.plan);
    preflight::MemoryEstimate m =
        preflight::EstimateMemory(s.arch, params, s.plan, s.job, s.cluster.hbm_capacity, {});
    benchmark::DoNotOptimize(t);
    benchmark::DoNotOptimize(m);
  }
}

// The campaign's failure Monte Carlo (2,000 runs of the whole training) under the scenario's
// reliability profile, from a step time computed once: what `plan` adds to a prediction.
void BM_CampaignWithFailures(benchmark::State& state, const char* file) {
  preflight::Scenario s = Load(file);
  preflight::ParamCounts params = preflight::CountParameters(s.arch);
  preflight::CostContext ctx = preflight::MakeCostContext(s.arch, params, s.job, s.cluster);
  const preflight::StepTime t = preflight::EstimateStep(ctx, s.plan);
  for (auto _ : state) {
    preflight::Campaign c = preflight::MakeCampaign(s, params, t);
    benchmark::DoNotOptimize(c);
  }
}

BENCHMARK_CAPTURE(BM_StepTime, llama3_70b_1024_h100, "examples/llama3.1-70b-h100.yaml");
BENCHMARK_CAPTURE(BM_StepTime, deepseek_v3_2048_h800, "examples/deepseek-v3-h800.yaml");
// A torus: the plan's groups placed on the slice's axes (PlaceTorusMesh) at every prediction.
BENCHMARK_CAPTURE(BM_StepTime, maxtext_128b_512_v5e, "bench/scenarios/maxtext-128b-512xv5e.yaml");
BENCHMARK_CAPTURE(BM_StepTimeAndMemory, llama3_70b_1024_h100, "examples/llama3.1-70b-h100.yaml");
BENCHMARK_CAPTURE(BM_StepTimeAndMemory, deepseek_v3_2048_h800, "examples/deepseek-v3-h800.yaml");
BENCHMARK_CAPTURE(BM_CampaignWithFailures, llama3_70b_1024_h100, "examples/llama3.1-70b-h100.yaml")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CampaignWithFailures, deepseek_v3_2048_h800, "examples/deepseek-v3-h800.yaml")
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
