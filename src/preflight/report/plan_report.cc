#include "preflight/report/plan_report.h"

#include <fmt/format.h>

#include <cmath>

#include "preflight/cost/collectives.h"
#include "preflight/cost/step_time.h"
#include "preflight/report/internal/plan_facts.h"

namespace preflight {
using report_internal::AttentionBlockTokens;
using report_internal::AttentionKernelInUse;
using report_internal::IntervalRule;
using report_internal::PlacedPerDomain;
using report_internal::PlacementText;
namespace {

using json = nlohmann::json;

json ErrorSummaryJson(const ErrorSummary& e) {
  if (e.runs == 0) return {{"runs", 0}};
  return {{"runs", e.runs},
          {"mape", e.mape},
          {"bias", e.bias},
          {"p90_abs_error", e.p90_abs_error},
          {"worst", e.worst},
          {"worst_error", e.worst_error}};
}

// `accuracy` of plan --json: the device's errors on measured runs, null where none checks it.
json AccuracyJson(const std::optional<DeviceAccuracy>& a) {
  if (!a) return nullptr;
  return {{"hardware", a->hardware},
          {"files", a->files},
          {"time", ErrorSummaryJson(a->time)},
          {"memory", ErrorSummaryJson(a->memory)},
          {"ran_but_predicted_oom", a->ran_but_predicted_oom}};
}

json MemoryJson(const PlanResult& r) {
  const MemoryBreakdown& b = r.memory.worst;
  return {{"per_device_bytes", b.Total().value()},
          {"capacity_bytes", r.memory.capacity.value()},
          {"fits", r.memory.fits},
          {"headroom_fraction", r.memory.headroom_fraction},
          {"worst_stage", r.memory.worst_stage},
          {"in_flight_micro_batches", r.memory.in_flight_micro_batches},
          {"breakdown",
           {{"weights", b.weights.value()},
            {"gradients", b.gradients.value()},
            {"optimizer", b.optimizer.value()},
            {"activations", b.activations.value()},
            {"other", b.other.value()},
            {"optimizer_step", b.optimizer_step.value()}}}};
}

json OpsJson(const OpList& ops) {
  json arr = json::array();
  for (const Op& op : ops.ops) {
    arr.push_back({{"op", std::string(OpKindName(op.kind))},
                   {"layers", op.layers},
                   {"fwd_flops_per_token", op.TotalFwdFlopsPerToken()}});
  }
  return arr;
}

json ProxyFiguresJson(const std::vector<ProxyFigure>& figures) {
  json arr = json::array();
  for (const ProxyFigure& p : figures) arr.push_back({{"figure", p.figure}, {"measured_on", p.measured_on}});
  return arr;
}

// Exposed communication by parallelism kind; a layer holds no pipeline or data-parallel time, so
// its JSON lists tp, cp and ep only.
json ExposedCommJson(const ExposedComm& c, bool with_pp_dp) {
  json j = {{"tp", c.tp.value()}, {"cp", c.cp.value()}, {"ep", c.ep.value()}};
  if (with_pp_dp) {
    j["pp"] = c.pp.value();
    j["dp"] = c.dp.value();
  }
  return j;
}

json LayerTimeJson(const LayerTime& l) {
  return {{"total_s", l.total.value()},
          {"forward_s", l.forward.value()},
          {"attention_forward_s", l.attention_forward.value()},
          {"backward_s", l.backward.value()},
          {"attention_backward_s", l.attention_backward.value()},
          {"recompute_s", l.recompute.value()},
          {"elementwise_s", l.elementwise.value()},
          {"exposed_comm_by_kind", ExposedCommJson(l.exposed_comm, /*with_pp_dp=*/false)},
          {"comm_contention_s", l.contention.value()},
          {"host_wait_s", l.host_wait.value()}};
}

json TimeJson(const PlanResult& r) {
  const StepTime& t = r.time;
  json layers = json::object();
  if (r.layers.has_dense) layers["dense"] = LayerTimeJson(r.layers.dense);
  if (r.layers.has_moe) layers["moe"] = LayerTimeJson(r.layers.moe);
  return {{"step_s", t.step.value()},
          {"layer", std::move(layers)},
          {"proxy_figures", ProxyFiguresJson(r.proxy_figures)},
          {"tokens_per_s", t.tokens_per_s},
          {"tokens_per_s_per_device", t.tokens_per_s_per_device},
          {"tflops_per_device", t.tflops_per_device},
          {"mfu", t.mfu},
          {"hfu", t.hfu},
          {"mfu_convention", "model FLOPs (3 x forward, full attention, no recompute) / datasheet dense peak of the training precision"},
          {"breakdown", StepBreakdownJson(t)}};
}

// The failure model and what it gave; null with `reliability: none`.
json ReliabilityJson(const Campaign& c) {
  if (!c.outlook_known) return nullptr;
  const FailureModel& m = c.failures;
  const RunOutlook& o = c.outlook;
  const double mtbf_h = m.JobMtbf().value() / 3600;
  const double interval_min = o.interval.value() / 60;
  return {{"profile", c.reliability->id},
          {"figures_from_scenario", FiguresFromScenario(*c.reliability)},
          {"devices_per_node", c.reliability->devices_per_node.value},
          {"nodes", m.nodes},
          {"failures_per_node_day", m.failures_per_node_day},
          {"planned_per_node_day", m.planned_per_node_day},
          {"job_mtbf_h", std::isfinite(mtbf_h) ? json(mtbf_h) : json(nullptr)},
          {"checkpoint_bytes", c.checkpoint_size.value()},
          {"checkpoint_stall_s", m.checkpoint.value()},
          {"checkpoint_interval_min", std::isfinite(interval_min) ? json(interval_min) : json(nullptr)},
          {"interval_rule", IntervalRule(c)},
          {"detection_min", m.detection.value() / 60},
          {"restart_min", m.restart.value() / 60},
          {"downtime_min", std::isfinite(m.Downtime().value()) ? json(m.Downtime().value() / 60) : json(nullptr)},
          {"finishes", o.finishes},
          {"too_long", o.too_long},
          {"checkpoints", o.checkpoints},
          {"failures_mean", o.finishes ? json(o.failures_mean) : json(nullptr)},
          {"planned_mean", o.finishes ? json(o.planned_mean) : json(nullptr)},
          {"days_mean", o.finishes ? json(o.wall_mean.value() / 86400) : json(nullptr)},
          {"rework_days_mean", o.finishes ? json(o.rework_mean.value() / 86400) : json(nullptr)},
          {"trials", RunOptions{}.trials}};
}

json CampaignJson(const PlanResult& r) {
  const Campaign& c = r.campaign;
  json cost = c.cost_known ? json{{"low", c.cost_usd_low}, {"high", c.cost_usd_high}} : json(nullptr);
  const bool days_known = c.outlook_known && c.outlook.finishes;
  const double held = days_known ? c.DeviceHoursHeldP50() : 0;
  const double per_hour_low = c.device_hours > 0 ? c.cost_usd_low / c.device_hours : 0;
  const double per_hour_high = c.device_hours > 0 ? c.cost_usd_high / c.device_hours : 0;
  json cost_p50 = c.cost_known && days_known ? json{{"low", held * per_hour_low}, {"high", held * per_hour_high}}
                                             : json(nullptr);
  // The ideal days billed for every device held (the idle rest of each scale-up domain too), as
  // `search --objective cost` ranks them.
  json cost_held = c.cost_known ? json{{"low", c.cost_usd_low * c.HeldShare()}, {"high", c.cost_usd_high * c.HeldShare()}}
                                : json(nullptr);
  return {{"tokens", c.tokens},
          {"days_ideal", c.days_ideal},
          {"days_p50", days_known ? json(c.outlook.wall_p50.value() / 86400) : json(nullptr)},
          {"days_p90", days_known ? json(c.outlook.wall_p90.value() / 86400) : json(nullptr)},
          {"goodput", c.outlook_known ? json(c.outlook.goodput) : json(nullptr)},
          {"reliability", ReliabilityJson(c)},
          {"device_hours", c.device_hours},
          {"cost_usd", cost},
          {"devices_held", c.devices_held},
          {"cost_usd_held", cost_held},
          {"device_hours_p50", days_known ? json(held) : json(nullptr)},
          {"cost_usd_p50", cost_p50},
          {"energy_mwh", c.energy_known ? json(c.energy_mwh) : json(nullptr)},
          {"energy_mwh_with_rework", c.energy_known && days_known ? json(c.EnergyWithReworkMwh()) : json(nullptr)},
          {"energy_scope", "accelerators"},  // rated device power x PUE; hosts and network not counted
          {"pue", r.scenario.cluster.pue}};
}

// The measured collective curves a scenario supplied (cluster.collective_table).
json CollectiveTableJson(const CollectiveTable& t) {
  json curves = json::array();
  for (const CollectiveTable::Curve& c : t.curves()) {
    curves.push_back({{"op", kCollectiveOpNames[static_cast<int>(c.op)]},
                      {"ranks", c.ranks},
                      {"ranks_per_domain", c.ranks_per_domain},
                      {"rows", c.log_bytes.size()}});
  }
  return {{"file", t.file}, {"source", t.source}, {"curves", curves}};
}

}  // namespace

json StepBreakdownJson(const StepTime& t) {
  return {{"compute", t.compute.value()},
          {"exposed_comm", t.exposed_comm.Total().value()},
          {"bubble", t.bubble.value()},
          {"optimizer", t.optimizer.value()},
          {"other", t.other.value()},
          {"host_launch", t.host_launch.value()},
          {"offload_copies", t.offload_copies.value()},
          {"comm_contention", t.comm_contention.value()},
          {"exposed_comm_by_kind", ExposedCommJson(t.exposed_comm, /*with_pp_dp=*/true)}};
}

json PlanFieldsJson(const Plan& p, const TrainingJob& job) {
  json j = {{"tp", p.tp},
          {"pp", p.pp},
          {"vpp", p.vpp},
          {"dp", p.dp},
          {"cp", p.cp},
          {"ep", p.ep},
          {"etp", p.etp},
          {"sp", p.sp},
          {"zero", p.zero},
          {"schedule", std::string(ScheduleName(p.schedule))},
          {"recompute", std::string(RecomputeName(p.recompute))},
          {"micro_batch", p.micro_batch},
          {"global_batch", job.global_batch},
          {"micro_batches", MicroBatches(p, job)},
          {"layer_split", p.balanced_layers ? "balanced" : "even"}};
  // Always given (0: the even or balanced split), so that a searched plan, which never keeps a
  // scenario's uneven stages, says so.
  j["first_stage_layers"] = p.first_stage_layers;
  j["last_stage_layers"] = p.last_stage_layers;
  if (p.cpu_offload_layers > 0) j["cpu_offload_layers"] = p.cpu_offload_layers;
  if (p.dp_shard > 0 && p.dp_shard < p.dp) j["dp_shard"] = p.dp_shard;
  if (p.recompute == Recompute::kFull) {
    j["recompute_method"] = p.recompute_method == RecomputeMethod::kBlock ? "block" : "uniform";
    j["recompute_num_layers"] = p.recompute_num_layers;
  }
  if (p.recompute == Recompute::kSelective) {
    json modules = json::array();
    for (uint32_t bit = 1; bit & kAllRecomputeModules; bit <<= 1) {
      if (p.recompute_modules & bit) modules.push_back(RecomputeModuleNames(bit));
    }
    j["recompute_modules"] = modules;
  }
  if (p.recompute == Recompute::kNames) {
    const auto names = [](uint32_t bits) {
      json list = json::array();
      for (uint32_t bit = 1; bit <= kSavedLayerInput; bit <<= 1) {
        if (bits & bit) list.push_back(SavedTensorNames(bit));
      }
      return list;
    };
    j["recompute_saved"] = names(p.recompute_saved);
    j["recompute_offloaded"] = names(p.recompute_offloaded);
  }
  return j;
}

namespace {

// Why a valid plan cannot run: its worst stage over the device's memory (plan exits 1; the
// warnings say what would fit).
std::string DoesNotFitText(const PlanResult& r) {
  const double over = (r.memory.worst.Total().value() - r.memory.capacity.value()) / static_cast<double>(int64_t{1} << 30);
  return fmt::format("does not fit: {:.1f} GiB over on stage {} (compat.warnings names what would fit)", over,
                     r.memory.worst_stage);
}

}  // namespace

json PlanJson(const PlanResult& r) {
  const Scenario& s = r.scenario;
  json j;
  j["name"] = s.name;
  j["model"] = {{"name", s.arch.name},
                {"model_type", s.arch.model_type},
                {"params_total", r.params.total},
                {"params_active", r.params.active},
                {"params_with_mtp", r.params.TotalWithMtp()},
                {"params_checkpoint", r.params.CheckpointTotal()},
                {"flops_per_token", r.ops.model_flops_per_token},
                {"flops_convention", "MFU: 3 x forward GEMMs + full (non-causal) attention, no recompute"},
                {"ops", OpsJson(r.ops)}};
  j["hardware"] = {{"name", s.cluster.spec.id},
                   {"devices", s.cluster.devices},
                   {"devices_per_node", s.cluster.devices_per_node},
                   {"scale_up_domain", s.cluster.scale_up_domain}};
  // Where the job takes fewer devices of each domain than it holds (collectives.h PlacedDomain).
  if (!PlacementText(s).empty()) j["hardware"]["placed_per_domain"] = PlacedPerDomain(s);
  if (s.cluster.collectives) j["hardware"]["collective_table"] = CollectiveTableJson(*s.cluster.collectives);
  if (const std::string k = AttentionKernelInUse(s); !k.empty()) j["hardware"]["attention_kernel"] = k;
  if (const double len = AttentionBlockTokens(s); len > 0) {
    j["hardware"]["attention_block_tokens"] = len;
    j["hardware"]["attention_head_dim"] = FlashHeadDim(s.arch);
  }
  if (s.job.host_profile) {
    j["hardware"]["host_profile"] = {{"id", s.job.host_profile->id},
                                     {"file", s.job.host_profile->file},
                                     {"source", s.job.host_profile->source}};
  }
  j["plan"] = PlanFieldsJson(s.plan, s.job);
  j["plan"]["valid"] = r.check.ok();
  if (!r.check.ok()) {
    j["plan"]["invalid_reason"] = std::string(PlanIssueName(r.check.issue));
    j["plan"]["invalid_message"] = r.check.message;
  }
  j["memory"] = r.has_memory ? MemoryJson(r) : json(nullptr);
  j["time"] = r.has_time ? TimeJson(r) : json(nullptr);
  j["campaign"] = r.has_time ? CampaignJson(r) : json(nullptr);
  json blocking = json::array();
  if (!r.check.ok()) blocking.push_back(r.check.message);
  if (r.has_memory && !r.memory.fits) blocking.push_back(DoesNotFitText(r));
  j["compat"] = {{"blocking", blocking}, {"warnings", r.warnings}};
  if (r.accuracy_checked) j["accuracy"] = AccuracyJson(r.accuracy);
  return j;
}

std::string JsonText(const nlohmann::json& j) {
  return j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace preflight
