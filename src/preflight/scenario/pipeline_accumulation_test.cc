// Tests of the pipeline around the gradient-accumulation pass and ZB-H1's fill, through whole
// scenarios (scenario/evaluate.h): without grad_accumulation_fusion each micro-batch's backward adds
// its gradients to the main ones on every stage, so the other stages' passes lengthen the 1F1B
// bubble; a DualPipe rank's micro-batches each pass one of its two stages; and under ZB-H1 the
// wait before the last stage's first forward is a floor on its bubble.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario.h"
#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

StepTime StepOf(const std::string& example, std::vector<Override> overrides) {
  Catalog catalog(test_support::SourceDir() + "/data");
  auto s = LoadScenarioFile(test_support::SourceDir() + "/examples/" + example, catalog, overrides);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return {};
  const PlanResult r = Evaluate(*s, {});
  EXPECT_TRUE(r.has_time) << r.check.message;
  return r.time;
}

// GPT-3 175B on 32 A100s, TP 8, PP 4, 16 micro-batches of one sequence, fp32 main gradients.
std::vector<Override> Gpt3(const std::string& schedule, bool fusion) {
  return {{"cluster.devices", "32"},        {"parallel.tp", "8"},
          {"parallel.pp", "4"},             {"parallel.vpp", "1"},
          {"parallel.dp", "1"},             {"parallel.schedule", schedule},
          {"training.global_batch", "16"},  {"training.grad_dtype", "fp32"},
          {"training.grad_accumulation_fusion", fusion ? "true" : "false"}};
}

TEST(PipelineAccumulationTest, TheOtherStagesPassesLengthenThe1F1BBubble) {
  const StepTime fused = StepOf("gpt3-175b-a100.yaml", Gpt3("1f1b", true));
  const StepTime unfused = StepOf("gpt3-175b-a100.yaml", Gpt3("1f1b", false));
  const double passes = (unfused.other - fused.other).value();  // 16 passes on the pacing device
  ASSERT_GT(passes, 0);
  // The other three stages' passes (about 3/16 of the pacing device's 16: stages differ by the
  // embedding and the head, and the largest is left out) join the bubble.
  const double added = (unfused.bubble - fused.bubble).value();
  EXPECT_GT(added, 0.8 * 3.0 / 16 * passes);
  EXPECT_LT(added, 1.0 * 3.0 / 16 * passes);
}

TEST(PipelineAccumulationTest, ADualPipeRankAccumulatesHalfItsParametersPerMicroBatch) {
  const double one_f_one_b = (StepOf("gpt3-175b-a100.yaml", Gpt3("1f1b", false)).other -
                              StepOf("gpt3-175b-a100.yaml", Gpt3("1f1b", true)).other)
                                 .value();
  const double dual = (StepOf("gpt3-175b-a100.yaml", Gpt3("dualpipe", false)).other -
                       StepOf("gpt3-175b-a100.yaml", Gpt3("dualpipe", true)).other)
                          .value();
  // A DualPipe rank holds two stages, about twice a 1F1B device's parameters, and each micro-batch
  // passes one of them: about the same passes a step (the stages differ by the embedding and head).
  EXPECT_NEAR(dual, one_f_one_b, 0.05 * one_f_one_b);
}

// GPT-2 small over 4 A100s at PP 4, 8 micro-batches: the last stage, with the 50k-wide head, paces
// the pipeline, and its first forward waits for the three stages before it, which no weight
// gradient can fill: a bubble of at least their forwards (it was 0).
TEST(PipelineAccumulationTest, ZeroBubbleKeepsTheFillBeforeTheLastStage) {
  const std::vector<Override> zb = {{"parallel.schedule", "zb-h1"}, {"parallel.pp", "4"}, {"cluster.devices", "4"},
                                    {"training.global_batch", "64"}};
  const StepTime t = StepOf("gpt2-small-a100-unpadded.yaml", zb);
  // Three stages of three layers each before the last, whose forward is three layers and the
  // unpadded head (2.17 times its GEMMs' padded time on the A100): well over a quarter of it.
  EXPECT_GT(t.bubble.value(), 0.25 * t.stage_forward.value()) << "the forwards of the stages before the last";
}

}  // namespace
}  // namespace preflight
