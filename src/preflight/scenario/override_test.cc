// Tests of the overrides of scenario/scenario.h (--set key=value): ApplyOverride sets nested keys
// and replaces a key's alternative; LoadScenarioFile applies overrides before parsing and checks
// them like the file; every example file loads and, where it states a plan, evaluates.
#include "preflight/scenario/scenario.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/scenario_test_support.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

using test_support::Contains;
using test_support::kScenario;
using test_support::LoadText;
using test_support::Replace;
using test_support::SourceDir;

TEST(OverrideTest, ApplyOverrideSetsNestedKeys) {
  YAML::Node root = YAML::Load("parallel: {tp: 2}\nmodel: llama-3.1-8b\n");
  ASSERT_TRUE(ApplyOverride(root, {"parallel.tp", "8"}).ok());
  ASSERT_TRUE(ApplyOverride(root, {"parallel.pp", "4"}).ok());
  ASSERT_TRUE(ApplyOverride(root, {"model", "llama-3.1-70b"}).ok());
  ASSERT_TRUE(ApplyOverride(root, {"training.seq_len", "8192"}).ok())
      << "creates the missing mapping";
  ASSERT_TRUE(ApplyOverride(root, {"a.b.c", "x"}).ok());
  EXPECT_EQ(root["parallel"]["tp"].Scalar(), "8");
  EXPECT_EQ(root["parallel"]["pp"].Scalar(), "4");
  EXPECT_EQ(root["model"].Scalar(), "llama-3.1-70b");
  EXPECT_EQ(root["training"]["seq_len"].Scalar(), "8192");
  EXPECT_EQ(root["a"]["b"]["c"].Scalar(), "x");
}

TEST(OverrideTest, ScalarBecomesMappingWhenAKeyIsSetInside) {
  YAML::Node root = YAML::Load("parallel: auto\n");
  ASSERT_TRUE(ApplyOverride(root, {"parallel.tp", "8"}).ok());
  ASSERT_TRUE(root["parallel"].IsMap());
  EXPECT_EQ(root["parallel"]["tp"].Scalar(), "8");
}

// A scenario gives one of global_batch and global_batch_tokens (of host_profile and
// host_overhead_per_kernel_us): overriding one replaces the other, as --global-batch on a file that
// states tokens means to.
TEST(OverrideTest, OverrideReplacesItsAlternative) {
  YAML::Node root = YAML::Load("training: {global_batch_tokens: 16777216, host_profile: x}\n");
  ASSERT_TRUE(ApplyOverride(root, {"training.global_batch", "1024"}).ok());
  EXPECT_FALSE(root["training"]["global_batch_tokens"]);
  EXPECT_EQ(root["training"]["global_batch"].Scalar(), "1024");
  ASSERT_TRUE(ApplyOverride(root, {"training.global_batch_tokens", "8192"}).ok());
  EXPECT_FALSE(root["training"]["global_batch"]);
  ASSERT_TRUE(ApplyOverride(root, {"training.host_overhead_per_kernel_us", "10"}).ok());
  EXPECT_FALSE(root["training"]["host_profile"]);
  EXPECT_EQ(root["training"]["host_overhead_per_kernel_us"].Scalar(), "10");
  ASSERT_TRUE(ApplyOverride(root, {"training.host_profile", "none"}).ok());
  EXPECT_EQ(root["training"]["host_overhead_per_kernel_us"].Scalar(), "10")
      << "none switches the profile off and keeps the per-kernel figure";
  ASSERT_TRUE(ApplyOverride(root, {"training.seq_len", "4096"}).ok());
  EXPECT_TRUE(root["training"]["global_batch_tokens"]) << "other keys leave it alone";
}

TEST(OverrideTest, EmptyKeyIsInvalidArgument) {
  YAML::Node root = YAML::Load("a: 1\n");
  Status s = ApplyOverride(root, {"", "8"});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s.message(), "key=value")) << s.message();
}

TEST(OverrideTest, AKeyWithAnEmptyPartIsInvalidArgument) {
  for (const char* key : {".", ".a", "a.", "a..b"}) {
    YAML::Node root = YAML::Load("a: 1\n");
    Status s = ApplyOverride(root, {key, "8"});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << key;
    EXPECT_TRUE(Contains(s.message(), "without an empty part")) << s.message();
  }
}

// An error the command line caused is marked as such: at the overridden field, inside it, at the
// mapping that holds it, or (another field, wrong with the new values in place) with those values.
TEST(OverrideTest, ErrorsSayWhatTheCommandLineGave) {
  std::string path;
  StatusOr<Scenario> s = LoadText(kScenario, &path, {{"bogus.key", "1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": bogus: unknown field")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "(the value given on the command line: bogus.key=1)"))
      << s.status().message();
  s = LoadText(kScenario, &path, {{"parallel.tp.x", "1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "(the value given on the command line: parallel.tp.x=1)"))
      << s.status().message();
  s = LoadText(Replace(kScenario, "global_batch: 64", "global_batch_tokens: 262144"), &path,
               {{"training.seq_len", "3000"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": training.global_batch_tokens: expected a positive multiple"))
      << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "(with the command line's training.seq_len=3000)")) << s.status().message();
  // A file wrong on its own stays the file's error: the command line's values are not blamed.
  s = LoadText(Replace(kScenario, "seq_len: 4096", "seq_lenn: 4096"), &path, {{"training.micro_batch", "1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": training.seq_lenn: unknown field")) << s.status().message();
  EXPECT_FALSE(Contains(s.status().message(), "command line")) << s.status().message();
  // A key the file gives twice is the file's, even where the command line sets the same field.
  s = LoadText(Replace(kScenario, "model: llama-3.1-8b", "model: llama-3.1-8b\nmodel: llama-3.1-70b"), &path,
               {{"model", "llama-3.1-8b"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": model: given twice")) << s.status().message();
  EXPECT_FALSE(Contains(s.status().message(), "command line")) << s.status().message();
  // A mapping the command line gives with a key twice is the command line's.
  s = LoadText(kScenario, &path, {{"parallel", "{tp: 2, tp: 2}"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "given twice")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "(the value given on the command line: parallel={tp: 2, tp: 2})"))
      << s.status().message();
  // Of several values set inside the model, the one its message names is blamed, not the last.
  s = LoadText(kScenario, &path, {{"model.num_attention_heads", "0"}, {"model.vocab_size", "1000"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "model: num_attention_heads: expected")) << s.status().message();
  EXPECT_TRUE(Contains(s.status().message(), "(the value given on the command line: model.num_attention_heads=0)"))
      << s.status().message();
}

// In a validation list too, an error the command line's values cause in another field names them:
// the file's run, read again to tell the two apart, is not changed by the overrides.
TEST(OverrideTest, ListRunsKeepTheFilesRunApartFromTheOverrides) {
  const std::string run = Replace(kScenario, "global_batch: 64", "global_batch_tokens: 262144");
  std::string text = "- " + run;
  for (size_t at = text.find('\n'); at != std::string::npos && at + 1 < text.size(); at = text.find('\n', at + 1)) {
    text.insert(at + 1, "  ");
  }
  text += "  measured: {step_time_s: 1.0}\n";
  const std::string path = test_support::WriteFile(test_support::ScratchDir(), "list.yaml", text);
  ASSERT_TRUE(LoadScenarioList(path, Catalog::Default()).ok()) << "test bug: the file alone reads";
  StatusOr<std::vector<Scenario>> runs = LoadScenarioList(path, Catalog::Default(), {{"training.seq_len", "3000"}});
  ASSERT_FALSE(runs.ok());
  EXPECT_TRUE(Contains(runs.status().message(), "[0].training.global_batch_tokens: expected a positive multiple"))
      << runs.status().message();
  EXPECT_TRUE(Contains(runs.status().message(), "(with the command line's training.seq_len=3000)"))
      << runs.status().message();
}

// A `model.KEY` override reads a catalog model into the run; where the file's own model cannot be
// read, the error is the file's, not the command line's.
TEST(OverrideTest, ModelKeyOverrideReadsTheCatalogModel) {
  StatusOr<Scenario> s = LoadText(kScenario, nullptr, {{"model.num_hidden_layers", "8"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->arch.layers, 8);
  EXPECT_EQ(s->arch.hidden, 4096);
  std::string path;
  s = LoadText(Replace(kScenario, "model: llama-3.1-8b", "model: no-such-model"), &path,
               {{"model.num_hidden_layers", "8"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": model: unknown model id 'no-such-model'")) << s.status().message();
  EXPECT_FALSE(Contains(s.status().message(), "command line")) << s.status().message();
}

TEST(OverrideTest, LoadScenarioFileAppliesOverridesBeforeParsing) {
  const std::vector<Override> overrides = {{"model", "llama-3.1-70b"},
                                           {"parallel.tp", "8"},
                                           {"parallel.dp", "1"},
                                           {"training.seq_len", "8192"},
                                           {"parallel.schedule", "gpipe"}};
  StatusOr<Scenario> s = LoadText(kScenario, nullptr, overrides);
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->arch.name, "llama-3.1-70b");
  EXPECT_EQ(s->plan.tp, 8);
  EXPECT_EQ(s->plan.dp, 1);
  EXPECT_EQ(s->job.seq_len, 8192);
  EXPECT_EQ(s->plan.schedule, Schedule::kGpipe);
}

TEST(OverrideTest, OverridesAreCheckedLikeTheFile) {
  std::string path;
  StatusOr<Scenario> s = LoadText(kScenario, &path, {{"parallel.tp", "-1"}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message().rfind(path + ": parallel.tp:", 0), 0u) << s.status().message();
  s = LoadText(kScenario, &path, {{"parallel.colour", "red"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "parallel.colour")) << s.status().message();
}

// Whether any of the scenario's idle settings contains every one of `parts`.
bool NamesIdle(const Scenario& s, const std::vector<std::string>& parts) {
  return std::any_of(s.idle_settings.begin(), s.idle_settings.end(), [&](const std::string& note) {
    return std::all_of(parts.begin(), parts.end(), [&](const std::string& p) { return Contains(note, p); });
  });
}

// What-ifs that rule out the file's FP8-only settings (a device without FP8, a 16-bit precision)
// drop them with a note, as the FP8 copies are dropped on such a device: ARCHITECTURE.md's
// "DeepSeek-V3 on H800 or Ascend 910C?" is asked with --hardware.
TEST(OverrideTest, WhatIfsWithoutFp8DropTheFilesFp8Settings) {
  const std::string example = SourceDir() + "/examples/deepseek-v3-h800.yaml";
  const std::vector<Override> what_ifs[] = {
      {{"hardware", "ascend-910c"}}, {{"hardware", "a100-sxm-80gb"}}, {{"training.precision", "bf16"}}};
  for (const std::vector<Override>& overrides : what_ifs) {
    const std::string given = overrides.front().key + "=" + overrides.front().value;
    SCOPED_TRACE(given);
    StatusOr<Scenario> s = LoadScenarioFile(example, Catalog::Default(), overrides);
    ASSERT_TRUE(s.ok()) << s.status().message();
    EXPECT_FALSE(s->job.low_precision_activations);
    EXPECT_FALSE(s->job.fp8_dispatch);
    EXPECT_TRUE(NamesIdle(*s, {"training.low_precision_activations: true dropped", "the command line's " + given}));
    EXPECT_TRUE(NamesIdle(*s, {"training.fp8_dispatch: true dropped", "precision: fp8 on a device with an FP8 rate"}));
  }
  // The file's own FP8 device and precision keep them.
  StatusOr<Scenario> s = LoadScenarioFile(example, Catalog::Default(), {});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(s->job.low_precision_activations && s->job.fp8_dispatch);
  EXPECT_TRUE(s->idle_settings.empty());
  // Set by the command line itself beside a precision it rules out: the command line's error.
  std::string path;
  s = LoadText(kScenario, &path, {{"training.low_precision_activations", "true"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": training.low_precision_activations: expected precision: fp8"))
      << s.status().message();
  s = LoadScenarioFile(example, Catalog::Default(),
                       {{"training.precision", "bf16"}, {"training.fp8_dispatch", "true"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "training.fp8_dispatch: expected precision: fp8")) << s.status().message();
  // Stated by the file itself, the contradiction stays its error, whatever the command line gives.
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, low_precision_activations: true,"), &path,
               {{"hardware", "a100-sxm-80gb"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), path + ": training.low_precision_activations: expected precision: fp8"))
      << s.status().message();
}

// The file's fused-attention kernel, ruled out by flash_attention=false or by a device the catalog
// did not measure it on, is dropped for the default; DeepEP's SMs by another dispatcher; an FP8
// recipe by NVFP4 (idle, as beside bf16).
TEST(OverrideTest, WhatIfsDropTheSettingsTheyRuleOut) {
  const std::string fa3 = Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, attention_kernel: fa3,");
  StatusOr<Scenario> s = LoadText(fa3, nullptr, {{"training.flash_attention", "false"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_FALSE(s->job.flash_attention);
  EXPECT_EQ(s->job.attention_kernel, "");
  EXPECT_TRUE(NamesIdle(*s, {"training.attention_kernel: fa3 dropped: it needs flash_attention: true",
                             "the command line's training.flash_attention=false"}));
  s = LoadText(fa3, nullptr, {{"hardware", "a100-sxm-80gb"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.attention_kernel, "");
  EXPECT_TRUE(NamesIdle(*s, {"training.attention_kernel: fa3 dropped", "a100-sxm-80gb's kernels: fa2"}));
  // Named by the command line itself, the kernel is its error.
  s = LoadText(kScenario, nullptr, {{"training.flash_attention", "false"}, {"training.attention_kernel", "fa3"}});
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Contains(s.status().message(), "training.attention_kernel: expected no fused-attention kernel"))
      << s.status().message();
  s = LoadText(Replace(kScenario, "seq_len: 4096,", "seq_len: 4096, ep_dispatcher: deepep, ep_comm_units: 24,"),
               nullptr, {{"training.ep_dispatcher", "alltoall"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_TRUE(NamesIdle(*s, {"training.ep_comm_units: 24 dropped: it needs ep_dispatcher: deepep"}));
  s = LoadText(Replace(kScenario, "precision: bf16", "precision: fp8, fp8_recipe: current"), nullptr,
               {{"hardware", "gb200-nvl72"}, {"training.precision", "fp4"}});
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->job.precision, Dtype::kFp4);
  EXPECT_TRUE(NamesIdle(*s, {"training.fp8_recipe does nothing with precision: fp4"}));
}

// A validation file's runs take the same what-ifs: memory.yaml names kernels for its FP8 runs.
TEST(OverrideTest, ListRunsDropTheSettingsAWhatIfRulesOut) {
  const std::string path = SourceDir() + "/data/validation/memory.yaml";
  StatusOr<std::vector<Scenario>> runs =
      LoadScenarioList(path, Catalog::Default(), {{"training.flash_attention", "false"}});
  ASSERT_TRUE(runs.ok()) << runs.status().message();
  EXPECT_TRUE(std::any_of(runs->begin(), runs->end(), [](const Scenario& s) {
    return NamesIdle(s, {"].training.attention_kernel: fa2 dropped"});
  }));
}

// `parallel` given empty or null on the command line is searched, as `parallel:` in a file is.
TEST(OverrideTest, ParallelEmptyOrNullIsSearched) {
  for (const char* value : {"", "null", "~", "auto"}) {
    StatusOr<Scenario> s = LoadText(kScenario, nullptr, {{"parallel", value}});
    ASSERT_TRUE(s.ok()) << "'" << value << "': " << s.status().message();
    EXPECT_TRUE(s->auto_parallel) << "'" << value << "'";
  }
}

TEST(OverrideTest, ExampleFilesLoad) {
  for (const auto& entry : fs::directory_iterator(SourceDir() + "/examples")) {
    if (entry.path().extension() != ".yaml") continue;
    StatusOr<Scenario> s = LoadScenarioFile(entry.path().string(), Catalog::Default(), {});
    ASSERT_TRUE(s.ok()) << s.status().message();
    if (s->auto_parallel) continue;
    PlanResult r = Evaluate(*s, {});
    EXPECT_TRUE(r.check.ok()) << entry.path() << ": " << r.check.message;
  }
}

}  // namespace
}  // namespace preflight
