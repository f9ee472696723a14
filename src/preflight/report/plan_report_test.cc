// Tests of report/plan_report.h: `plan --json` carries the keys ARCHITECTURE.md fixes, an invalid
// plan reports its blocking reason with no memory, and the text says FITS / DOES NOT FIT.
#include "preflight/report/plan_report.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "preflight/scenario/scenario.h"
#include "preflight/base/test_support.h"

namespace preflight {
namespace {

using json = nlohmann::json;

constexpr const char* kScenario = R"(name: report-test
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 2, pp: 1, dp: 4, sp: true, zero: 1, schedule: 1f1b, recompute: selective}
training: {seq_len: 4096, global_batch: 64, micro_batch: 1, precision: bf16, tokens: 1.0e12}
)";

PlanResult EvaluateText(const std::string& text, const std::vector<Override>& overrides = {}) {
  const std::string path =
      test_support::WriteFile(test_support::ScratchDir("preflight_plan_report_"), "scenario.yaml", text);
  StatusOr<Scenario> s = LoadScenarioFile(path, Catalog::Default(), overrides);
  EXPECT_TRUE(s.ok()) << s.status().message();
  if (!s.ok()) return PlanResult{};
  return Evaluate(*s, {});
}

void ExpectNumber(const json& j, const std::string& key) {
  ASSERT_TRUE(j.contains(key)) << "missing " << key << " in " << j.dump();
  EXPECT_TRUE(j[key].is_number()) << key << " = " << j[key].dump();
}

TEST(PlanJsonTest, ContractKeys) {
  PlanResult r = EvaluateText(kScenario);
  ASSERT_TRUE(r.check.ok()) << r.check.message;
  const json j = PlanJson(r);

  ASSERT_TRUE(j.contains("model"));
  EXPECT_EQ(j["model"]["name"], "llama-3.1-8b");
  for (const char* k : {"params_total", "params_active", "flops_per_token"})
    ExpectNumber(j["model"], k);
  EXPECT_EQ(j["model"]["params_total"].get<int64_t>(), 8'030'261'248);
  EXPECT_EQ(j["model"]["params_active"].get<int64_t>(), r.params.active);
  EXPECT_DOUBLE_EQ(j["model"]["flops_per_token"].get<double>(), r.ops.model_flops_per_token);

  ASSERT_TRUE(j.contains("hardware"));
  EXPECT_EQ(j["hardware"]["name"], "h100-sxm-80gb");
  EXPECT_EQ(j["hardware"]["devices"], 8);

  ASSERT_TRUE(j.contains("plan"));
  const json& p = j["plan"];
  for (const char* k :
       {"tp", "pp", "vpp", "dp", "cp", "ep", "zero", "micro_batch", "global_batch"}) {
    ExpectNumber(p, k);
  }
  EXPECT_EQ(p["tp"], 2);
  EXPECT_EQ(p["pp"], 1);
  EXPECT_EQ(p["vpp"], 1);
  EXPECT_EQ(p["dp"], 4);
  EXPECT_EQ(p["cp"], 1);
  EXPECT_EQ(p["ep"], 1);
  EXPECT_EQ(p["zero"], 1);
  EXPECT_EQ(p["schedule"], "1f1b");
  EXPECT_EQ(p["recompute"], "selective");
  EXPECT_EQ(p["micro_batch"], 1);
  EXPECT_EQ(p["global_batch"], 64);

  ASSERT_TRUE(j.contains("memory"));
  const json& m = j["memory"];
  ASSERT_TRUE(m.is_object());
  for (const char* k : {"per_device_bytes", "capacity_bytes"}) ExpectNumber(m, k);
  ASSERT_TRUE(m.contains("fits"));
  EXPECT_TRUE(m["fits"].is_boolean());
  EXPECT_EQ(m["fits"].get<bool>(), r.memory.fits);
  EXPECT_DOUBLE_EQ(m["capacity_bytes"].get<double>(), 80.0 * 1073741824.0);
  ASSERT_TRUE(m.contains("breakdown"));
  double sum = 0;
  for (const char* k : {"weights", "gradients", "optimizer", "activations", "other"}) {
    ExpectNumber(m["breakdown"], k);
    EXPECT_GE(m["breakdown"][k].get<double>(), 0) << k;
    sum += m["breakdown"][k].get<double>();
  }
  EXPECT_NEAR(m["per_device_bytes"].get<double>(), sum, sum * 1e-12);
  EXPECT_DOUBLE_EQ(m["per_device_bytes"].get<double>(), r.memory.worst.Total().value());

  ASSERT_TRUE(j.contains("compat"));
  ASSERT_TRUE(j["compat"]["blocking"].is_array());
  ASSERT_TRUE(j["compat"]["warnings"].is_array());
  EXPECT_TRUE(j["compat"]["blocking"].empty());
}

TEST(PlanJsonTest, TimeAndCampaignKeysWhenComputed) {
  PlanResult r = EvaluateText(kScenario);
  const json j = PlanJson(r);
  ASSERT_TRUE(j.contains("time"));
  ASSERT_TRUE(j.contains("campaign"));
  if (!r.has_time) {
    EXPECT_TRUE(j["time"].is_null());
    return;
  }
  for (const char* k : {"step_s", "tokens_per_s", "mfu"}) ExpectNumber(j["time"], k);
  EXPECT_EQ(j["hardware"]["attention_kernel"], "cudnn9");  // the catalog's default kernel on H100
  EXPECT_EQ(PlanJson(EvaluateText(kScenario, {{"training.attention_kernel", "fa2"}}))["hardware"]["attention_kernel"], "fa2");
  EXPECT_GT(j["time"]["step_s"].get<double>(), 0);
  // The parts of the step add up to it.
  double parts = 0;
  for (const char* k : {"compute", "exposed_comm", "bubble", "optimizer", "other", "comm_contention"}) {
    ExpectNumber(j["time"]["breakdown"], k);
    parts += j["time"]["breakdown"][k].get<double>();
  }
  EXPECT_NEAR(parts, j["time"]["step_s"].get<double>(), 1e-9 * j["time"]["step_s"].get<double>());
  for (const char* k : {"tokens", "days_ideal", "days_p50", "days_p90", "goodput", "device_hours",
                        "cost_usd", "energy_mwh"}) {
    EXPECT_TRUE(j["campaign"].contains(k)) << "campaign." << k;
  }
  // With the default reliability profile the failure figures are numbers, P50 beyond the ideal days.
  for (const char* k : {"days_p50", "days_p90", "goodput"}) ExpectNumber(j["campaign"], k);
  EXPECT_GT(j["campaign"]["days_p50"].get<double>(), j["campaign"]["days_ideal"].get<double>());
  EXPECT_EQ(j["campaign"]["reliability"]["profile"], "llama3-h100-16k");
  for (const char* k : {"job_mtbf_h", "checkpoint_bytes", "checkpoint_stall_s", "checkpoint_interval_min",
                        "failures_mean", "days_mean", "downtime_min"}) {
    ExpectNumber(j["campaign"]["reliability"], k);
  }
  // The devices are held (and billed) through the P50 days: the work's device-hours scaled by them.
  ExpectNumber(j["campaign"], "device_hours_p50");
  const double scale = j["campaign"]["days_p50"].get<double>() / j["campaign"]["days_ideal"].get<double>();
  EXPECT_NEAR(j["campaign"]["device_hours_p50"].get<double>(), scale * j["campaign"]["device_hours"].get<double>(),
              1e-9 * j["campaign"]["device_hours_p50"].get<double>());
  EXPECT_NEAR(j["campaign"]["cost_usd_p50"]["high"].get<double>(), scale * j["campaign"]["cost_usd"]["high"].get<double>(),
              1e-6 * j["campaign"]["cost_usd_p50"]["high"].get<double>());
  const json none = PlanJson(EvaluateText(kScenario, {{"reliability", "none"}}));
  for (const char* k : {"days_p50", "days_p90", "goodput", "reliability", "device_hours_p50", "cost_usd_p50"}) {
    EXPECT_TRUE(none["campaign"][k].is_null()) << k;
  }
}

// Without unplanned failures the planned stops still cost days: the text gives them, as the JSON does.
TEST(PlanTextTest, PlannedStopsAloneStillGiveTheDays) {
  const std::string text = PlanText(EvaluateText(kScenario, {{"reliability.failures_per_node_day", "0"},
                                                              {"reliability.planned_per_node_day", "0.5"}}));
  EXPECT_NE(text.find("no failures expected"), std::string::npos) << text;
  EXPECT_NE(text.find("planned stops expected"), std::string::npos) << text;
  EXPECT_NE(text.find("held through P50:"), std::string::npos) << text;
}

// A job that leaves part of its scale-up domains idle holds them: 128 GB200s at TP 8 x CP 2 hold 144
// (two domains of 72). The cost of the ideal days is the job's own devices'; the text and the JSON
// also give it for all held (as `search --objective cost` ranks), which neither showed.
TEST(PlanTextTest, HeldDevicesCostIsShownBesideTheJobs) {
  const PlanResult r = EvaluateText(R"(name: held
model: llama-3.1-70b
hardware: gb200-nvl72
cluster: {devices: 128}
parallel: {tp: 8, cp: 2, pp: 1, dp: 8, sp: true, zero: 1, recompute: full}
training: {seq_len: 8192, global_batch: 64, micro_batch: 1, precision: bf16, tokens: 1e12}
reliability: none
)");
  ASSERT_EQ(r.campaign.devices_held, 144);
  ASSERT_TRUE(r.campaign.cost_known);
  const json c = PlanJson(r)["campaign"];
  EXPECT_NEAR(c["cost_usd_held"]["low"].get<double>(), c["cost_usd"]["low"].get<double>() * 144 / 128, 1e-6);
  EXPECT_NEAR(c["cost_usd_held"]["high"].get<double>(), c["cost_usd"]["high"].get<double>() * 144 / 128, 1e-6);
  EXPECT_NE(PlanText(r).find("the cost is the job's 128 devices', $"), std::string::npos) << PlanText(r);
  EXPECT_NE(PlanText(r).find("for all held"), std::string::npos) << PlanText(r);
}

// Without failures, checkpoints at a given interval still stretch the run, and a run beyond the
// horizon still does not finish: the text says both, as the JSON does.
TEST(PlanTextTest, WithoutFailuresCheckpointsAndTheHorizonStillShow) {
  const PlanResult slow = EvaluateText(kScenario, {{"reliability.failures_per_node_day", "0"},
                                                   {"reliability.planned_per_node_day", "0"},
                                                   {"reliability.checkpoint_interval_min", "1"},
                                                   {"reliability.checkpoint_blocking_s", "60"}});
  const std::string text = PlanText(slow);
  EXPECT_NE(text.find("no failures expected; checkpoint"), std::string::npos) << text;
  EXPECT_NE(text.find("days P50"), std::string::npos) << text;
  EXPECT_EQ(text.find("planned stops expected"), std::string::npos) << text;
  EXPECT_LT(PlanJson(slow)["campaign"]["goodput"].get<double>(), 0.9);
  const PlanResult never = EvaluateText(kScenario, {{"reliability.failures_per_node_day", "0"},
                                                    {"reliability.planned_per_node_day", "0"},
                                                    {"training.tokens", "1e18"}});
  EXPECT_NE(PlanText(never).find("the run does not finish"), std::string::npos) << PlanText(never);
  // Failures every minute on 128 nodes against a 15-minute detection and restart: the restarts are what
  // never complete (finite, as the failures that strike restarts give it), not the checkpoint
  // intervals, which were named whenever the downtime was finite.
  const PlanResult restarting = EvaluateText(kScenario, {{"reliability.failures_per_node_day", "10"},
                                                         {"cluster.devices", "1024"},
                                                         {"parallel.dp", "512"},
                                                         {"training.global_batch", "1024"}});
  ASSERT_FALSE(restarting.campaign.outlook.finishes);
  EXPECT_NE(PlanText(restarting).find("failures come faster than a restart completes"), std::string::npos)
      << PlanText(restarting);
  EXPECT_EQ(PlanJson(never)["campaign"]["reliability"]["too_long"], true);
  // And with neither, the days are the ideal ones: no second line.
  const std::string plain = PlanText(EvaluateText(kScenario, {{"reliability.failures_per_node_day", "0"},
                                                              {"reliability.planned_per_node_day", "0"}}));
  EXPECT_EQ(plain.find("days P50"), std::string::npos) << plain;
}

// Failures make the job redo work: its days and its energy (the devices compute it at full power).
TEST(PlanJsonTest, ReworkCountsInTheEnergyWithIt) {
  const PlanResult r = EvaluateText(kScenario, {{"reliability.failures_per_node_day", "0.5"}});
  ASSERT_TRUE(r.has_time);
  const json c = PlanJson(r)["campaign"];
  const double rework = c["reliability"]["rework_days_mean"].get<double>();
  EXPECT_GT(rework, 0);
  EXPECT_LT(rework, c["reliability"]["days_mean"].get<double>() - c["days_ideal"].get<double>());
  EXPECT_NEAR(c["energy_mwh_with_rework"].get<double>(),
              c["energy_mwh"].get<double>() * (1 + rework / c["days_ideal"].get<double>()),
              1e-9 * c["energy_mwh"].get<double>());
  EXPECT_NE(PlanText(r).find("days of work redone"), std::string::npos) << PlanText(r);
  EXPECT_NE(PlanText(r).find("MWh with the work redone"), std::string::npos) << PlanText(r);
  const json none = PlanJson(EvaluateText(kScenario, {{"reliability", "none"}}))["campaign"];
  EXPECT_TRUE(none["energy_mwh_with_rework"].is_null());
}

TEST(PlanTextTest, FailuresLineNamesTheProfile) {
  const std::string text = PlanText(EvaluateText(kScenario));
  EXPECT_NE(text.find("failures   llama3-h100-16k (1 node of 8): job MTBF"), std::string::npos) << text;
  EXPECT_NE(text.find("days P50"), std::string::npos) << text;
  EXPECT_EQ(PlanText(EvaluateText(kScenario, {{"reliability", "none"}})).find("failures   "), std::string::npos);
  // The scenario's own figures are named beside the profile's id, in the text and the JSON.
  const PlanResult own = EvaluateText(kScenario, {{"reliability.restart_min", "3"}});
  EXPECT_NE(PlanText(own).find("llama3-h100-16k with the scenario's restart_min (1 node of 8)"), std::string::npos)
      << PlanText(own);
  EXPECT_EQ(PlanJson(own)["campaign"]["reliability"]["figures_from_scenario"], json::array({"restart_min"}));
}

// The text's energy keeps four significant figures, as the days do: a small
// campaign once read "0 MWh" where the JSON had 0.25.
TEST(PlanTextTest, EnergyKeepsItsSignificantFigures) {
  const PlanResult r = EvaluateText(kScenario, {{"training.tokens", "1e8"}});
  ASSERT_TRUE(r.has_time);
  const double mwh = PlanJson(r)["campaign"]["energy_mwh"].get<double>();
  ASSERT_GT(mwh, 0);
  ASSERT_LT(mwh, 0.5);
  EXPECT_NE(PlanText(r).find(fmt::format(", {:.4g} MWh", mwh)), std::string::npos) << PlanText(r);
}

TEST(PlanJsonTest, InvalidPlanHasNoMemoryAndABlockingReason) {
  PlanResult r = EvaluateText(kScenario, {{"training.global_batch", "66"}});
  ASSERT_FALSE(r.check.ok());
  const json j = PlanJson(r);
  EXPECT_TRUE(j["memory"].is_null());
  ASSERT_TRUE(j["compat"]["blocking"].is_array());
  ASSERT_EQ(j["compat"]["blocking"].size(), 1u);
  EXPECT_EQ(j["compat"]["blocking"][0], r.check.message);
  EXPECT_NE(j["compat"]["blocking"][0].get<std::string>().find("66"), std::string::npos);
  EXPECT_EQ(j["plan"]["valid"], false);
  EXPECT_EQ(j["plan"]["invalid_reason"], "micro_batches");
  // Still describes the model and hardware.
  EXPECT_EQ(j["model"]["params_total"].get<int64_t>(), 8'030'261'248);
  EXPECT_EQ(j["hardware"]["devices"], 8);
}

// A job that takes fewer devices of each scale-up domain than it holds says how many, in the text
// and the JSON: TP 16 on GB200 NVL72 racks takes 64 of each 72; an 8-GPU node is taken whole.
TEST(PlanJsonTest, NamesTheDevicesTakenOfEachDomain) {
  const PlanResult node = EvaluateText(kScenario);
  EXPECT_FALSE(PlanJson(node)["hardware"].contains("placed_per_domain"));
  EXPECT_EQ(PlanText(node).find("the job takes"), std::string::npos);
  const PlanResult rack = EvaluateText(kScenario, {{"hardware", "gb200-nvl72"},
                                                   {"cluster.devices", "256"},
                                                   {"parallel.tp", "16"},
                                                   {"parallel.dp", "16"},
                                                   {"training.global_batch", "64"}});
  ASSERT_TRUE(rack.check.ok()) << rack.check.message;
  EXPECT_EQ(PlanJson(rack)["hardware"]["placed_per_domain"], 64);
  EXPECT_NE(PlanText(rack).find("scale-up domain 72; the job takes 64 of each"), std::string::npos) << PlanText(rack);
  // 256 devices at 64 a rack span 4 racks: the job holds their 288 devices, which a rental bills.
  const json c = PlanJson(rack)["campaign"];
  EXPECT_EQ(c["devices_held"], 288);
  EXPECT_EQ(PlanJson(node)["campaign"]["devices_held"], 8);
  const double p50 = c["days_p50"].get<double>() / c["days_ideal"].get<double>();
  EXPECT_NEAR(c["device_hours_p50"].get<double>(), c["device_hours"].get<double>() * p50 * 288 / 256,
              1e-9 * c["device_hours_p50"].get<double>());
  EXPECT_NE(PlanText(rack).find("holding 288 devices"), std::string::npos) << PlanText(rack);
  // 80 devices fill one rack to its 64 and leave the second rack's other 56 to other jobs: 88.
  const PlanResult over = EvaluateText(kScenario, {{"hardware", "gb200-nvl72"}, {"cluster.devices", "80"}, {"parallel.tp", "16"},
                                                   {"parallel.dp", "5"}, {"training.global_batch", "80"}});
  ASSERT_TRUE(over.check.ok()) << over.check.message;
  EXPECT_EQ(PlanJson(over)["campaign"]["devices_held"], 88);
}

TEST(PlanJsonTest, DumpsAndParsesBack) {
  PlanResult r = EvaluateText(kScenario);
  const json j = PlanJson(r);
  const json back = json::parse(j.dump(2));
  EXPECT_EQ(back, j);
}

TEST(PlanJsonTest, WarningsAreListed) {
  PlanResult r = EvaluateText(kScenario, {{"parallel.sp", "false"}});
  ASSERT_FALSE(r.warnings.empty());
  const json j = PlanJson(r);
  ASSERT_EQ(j["compat"]["warnings"].size(), r.warnings.size());
  EXPECT_EQ(j["compat"]["warnings"][0], r.warnings[0]);
}

TEST(PlanTextTest, FitsAndDoesNotFit) {
  PlanResult fits = EvaluateText(kScenario);
  ASSERT_TRUE(fits.memory.fits);
  std::string text = PlanText(fits);
  EXPECT_NE(text.find("FITS"), std::string::npos) << text;
  EXPECT_EQ(text.find("DOES NOT FIT"), std::string::npos) << text;
  EXPECT_NE(text.find("llama-3.1-8b"), std::string::npos);
  EXPECT_NE(text.find("h100-sxm-80gb"), std::string::npos);

  PlanResult big = EvaluateText(
      kScenario, {{"model", "llama-3.1-405b"}, {"parallel.tp", "8"}, {"parallel.dp", "1"}});
  ASSERT_TRUE(big.check.ok()) << big.check.message;
  ASSERT_FALSE(big.memory.fits);
  std::string big_text = PlanText(big);
  EXPECT_NE(big_text.find("DOES NOT FIT"), std::string::npos) << big_text;
  const json j = PlanJson(big);
  EXPECT_EQ(j["memory"]["fits"], false);
  // It cannot run, as an invalid plan cannot: compat.blocking says so (exit 1 either way).
  ASSERT_EQ(j["compat"]["blocking"].size(), 1u);
  EXPECT_EQ(j["compat"]["blocking"][0].get<std::string>().rfind("does not fit: ", 0), 0u) << j["compat"].dump();
  EXPECT_EQ(big.ExitCode(), 1);
}

// The text names the FP8 rule for saved GEMM inputs where it applies: FP8 on a device with FP8,
// unless the scenario turns it off; not on bf16, nor where FP8 falls back (A100).
TEST(PlanTextTest, SaysWhenFp8GemmsKeepCasts) {
  const std::string line = "FP8 GEMMs keep 1-byte casts";
  EXPECT_EQ(PlanText(EvaluateText(kScenario)).find(line), std::string::npos);
  EXPECT_NE(PlanText(EvaluateText(kScenario, {{"training.precision", "fp8"}})).find(line), std::string::npos);
  EXPECT_EQ(PlanText(EvaluateText(kScenario, {{"training.precision", "fp8"}, {"training.fp8_saved_inputs", "false"}}))
                .find(line),
            std::string::npos);
  EXPECT_EQ(PlanText(EvaluateText(kScenario, {{"training.precision", "fp8"}, {"hardware", "a100-sxm-80gb"}}))
                .find(line),
            std::string::npos);
}

// DeepSpeed's BF16_Optimizer copy of the gradients is named where the memory counts it.
TEST(PlanTextTest, SaysWhen16BitGradientsAreKept) {
  const std::string line = "16-bit copies kept";
  EXPECT_EQ(PlanText(EvaluateText(kScenario)).find(line), std::string::npos);
  EXPECT_NE(PlanText(EvaluateText(kScenario, {{"training.grad_16bit_copy", "true"}})).find(line), std::string::npos);
}

TEST(PlanTextTest, InvalidPlanSaysWhy) {
  PlanResult r = EvaluateText(kScenario, {{"training.global_batch", "66"}});
  std::string text = PlanText(r);
  EXPECT_NE(text.find("INVALID"), std::string::npos) << text;
  EXPECT_NE(text.find(r.check.message), std::string::npos) << text;
  EXPECT_EQ(text.find("FITS"), std::string::npos) << "no memory verdict for an invalid plan";
}

// The device's errors on measured runs: said where the caller looked them up (plan), as a line of
// text and an `accuracy` object, or that no measured run checks the device; absent otherwise.
TEST(PlanReportTest, QuotesTheDevicesValidatedAccuracy) {
  PlanResult r = EvaluateText(kScenario);
  ASSERT_TRUE(r.check.ok()) << r.check.message;
  EXPECT_FALSE(PlanJson(r).contains("accuracy")) << "search and validate do not look it up";
  EXPECT_EQ(PlanText(r).find("accuracy"), std::string::npos);

  r.accuracy_checked = true;
  EXPECT_TRUE(PlanJson(r)["accuracy"].is_null());
  EXPECT_NE(PlanText(r).find("accuracy   no measured run on h100-sxm-80gb"), std::string::npos) << PlanText(r);

  DeviceAccuracy a;
  a.hardware = "h100-sxm-80gb";
  a.files = {"public-other.yaml"};
  a.time = {.runs = 34, .mape = 0.177, .bias = -0.114, .p90_abs_error = 0.326, .worst = "row-q", .worst_error = -0.521};
  a.ran_but_predicted_oom = 4;
  r.accuracy = a;
  const json j = PlanJson(r)["accuracy"];
  EXPECT_EQ(j["hardware"], "h100-sxm-80gb");
  EXPECT_EQ(j["time"]["runs"], 34);
  EXPECT_DOUBLE_EQ(j["time"]["mape"].get<double>(), 0.177);
  EXPECT_EQ(j["time"]["worst"], "row-q");
  EXPECT_EQ(j["memory"], json({{"runs", 0}}));
  EXPECT_EQ(j["ran_but_predicted_oom"], 4);
  const std::string text = PlanText(r);
  EXPECT_NE(text.find("accuracy   step time on 34 measured runs on h100-sxm-80gb (negative: predicted fast): mean "
                      "error 17.7%, bias -11.4%, 90% within 32.6%, worst -52.1% (row-q)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("           4 measured runs that trained predicted not to fit\n"), std::string::npos) << text;
}

TEST(PlanFieldsJsonTest, MicroBatches) {
  Plan p;
  p.tp = 8;
  p.pp = 16;
  p.dp = 128;
  p.micro_batch = 2;
  TrainingJob j;
  j.global_batch = 2048;
  const json f = PlanFieldsJson(p, j);
  EXPECT_EQ(f["micro_batches"], 8);
  EXPECT_EQ(f["global_batch"], 2048);
  EXPECT_EQ(f["sp"], false);
}

// A plan says where its GEMM rates come from: the device's table by shape, or the large-GEMM rate
// and its waves where it has none.
TEST(PlanTextTest, NamesWhereTheGemmRatesComeFrom) {
  EXPECT_NE(PlanText(EvaluateText(kScenario)).find("GEMMs by shape: "), std::string::npos);
  EXPECT_NE(PlanText(EvaluateText(kScenario)).find("gemm/h100-sxm-80gb.yaml"), std::string::npos);
  const std::string a100 = PlanText(EvaluateText(kScenario, {{"hardware", "a100-sxm-80gb"}}));
  EXPECT_NE(a100.find("GEMMs at the large-GEMM rate and its waves: no table by shape"), std::string::npos) << a100;
  // The B200's table holds bf16 and fp8: its FP4 GEMMs run at the large-GEMM rate, and the plan says so.
  const std::string fp4 =
      PlanText(EvaluateText(kScenario, {{"hardware", "b200-180gb"}, {"training.precision", "fp4"}}));
  EXPECT_NE(fp4.find("fp4 GEMMs at the large-GEMM rate and its waves: "), std::string::npos) << fp4;
  EXPECT_NE(fp4.find("b200-180gb.yaml has no fp4 grid; the 16-bit ones by shape from it"), std::string::npos) << fp4;
  EXPECT_EQ(fp4.find("GEMMs by shape: "), std::string::npos) << fp4;
  // The H100's FP8 grid was measured on an H200: the plan names the device of the grid it reads.
  const std::string fp8 = PlanText(EvaluateText(kScenario, {{"training.precision", "fp8"}}));
  EXPECT_NE(fp8.find("GEMMs by shape: "), std::string::npos) << fp8;
  EXPECT_NE(fp8.find("h100-sxm-80gb.yaml (its fp8 grid measured on h200-sxm-141gb)"), std::string::npos) << fp8;
  EXPECT_EQ(PlanText(EvaluateText(kScenario)).find("measured on h200"), std::string::npos) << "bf16: XLA's H100 grid";
  // The H800's: its FP8 GEMMs read the H200's grid, its 16-bit ones the H100's.
  const std::string h800 =
      PlanText(EvaluateText(kScenario, {{"hardware", "h800-sxm-80gb"}, {"training.precision", "fp8"}}));
  EXPECT_NE(h800.find("h800-sxm-80gb.yaml (its fp8 grid measured on h200-sxm-141gb; its bf16 grid measured on "
                      "h100-sxm-80gb)"),
            std::string::npos)
      << h800;
  EXPECT_NE(PlanText(EvaluateText(kScenario, {{"hardware", "h800-sxm-80gb"}})).find("h800-sxm-80gb.yaml (measured on h100-sxm-80gb)"),
            std::string::npos);
  // fp16 GEMMs read the bf16 grid.
  EXPECT_NE(PlanText(EvaluateText(kScenario, {{"training.precision", "fp16"}})).find("GEMMs by shape: "),
            std::string::npos);
}

// A plan names the block length its fused kernel's rate is read at: the sequence over CP.
TEST(PlanJsonTest, AttentionBlockLengthFollowsContextParallelism) {
  EXPECT_DOUBLE_EQ(PlanJson(EvaluateText(kScenario))["hardware"]["attention_block_tokens"].get<double>(), 4096);
  const json cp = PlanJson(EvaluateText(kScenario, {{"parallel.cp", "2"}, {"parallel.dp", "2"}}));
  EXPECT_DOUBLE_EQ(cp["hardware"]["attention_block_tokens"].get<double>(), 2048);
  EXPECT_NE(PlanText(EvaluateText(kScenario)).find("at its measured rate for 4096-token blocks and heads of 128"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(cp["hardware"]["attention_head_dim"].get<double>(), 128);
  EXPECT_FALSE(PlanJson(EvaluateText(kScenario, {{"training.flash_attention", "false"}}))["hardware"].contains(
      "attention_block_tokens"));
  // Outside the measured curves the plan says which way the nearest rate errs.
  EXPECT_EQ(PlanText(EvaluateText(kScenario)).find("bound on speed"), std::string::npos) << "4k blocks, heads of 128";
  const std::string short_blocks = PlanText(EvaluateText(kScenario, {{"training.seq_len", "256"}}));
  EXPECT_NE(short_blocks.find("blocks shorter than the shortest measured (512 tokens) run at its rate, an upper "
                              "bound on speed"),
            std::string::npos)
      << short_blocks;
  std::string deepseek = kScenario;
  deepseek.replace(deepseek.find("llama-3.1-8b"), std::string("llama-3.1-8b").size(), "deepseek-v2");
  const std::string mla = PlanText(EvaluateText(deepseek, {{"parallel.ep", "4"}}));
  EXPECT_NE(mla.find("heads of 192 run at the widest measured curve (128), a lower bound on speed"), std::string::npos)
      << mla;
}

}  // namespace
}  // namespace preflight
