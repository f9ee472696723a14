#include "commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <iostream>

#include "preflight/catalog/catalog.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/yaml_reader.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/load.h"
#include "preflight/model/model.h"
#include "preflight/report/plan_report.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/scenario/validate.h"
#include "preflight/search/search.h"

namespace preflight::cli {

namespace fs = std::filesystem;

int BadInput(const std::string& message) {
  // One line whatever the input echoed: control characters (a newline in a value or a key) are
  // written as escapes.
  std::string line;
  for (unsigned char c : message) {
    if (c == '\n') line += "\\n";
    else if (c == '\r') line += "\\r";
    else if (c < 0x20 || c == 0x7f) line += fmt::format("\\x{:02x}", c);
    else line += static_cast<char>(c);
  }
  // A value echoed whole can run to megabytes (a 100,000-character --set key): keep the start, which
  // names the file, the field and what was expected, and the end, and say how much was left out.
  constexpr size_t kHead = 700, kTail = 200;
  if (line.size() > kHead + kTail + 100) {
    const auto boundary = [&](size_t at) {  // back to the first byte of a UTF-8 character
      while (at > 0 && (static_cast<unsigned char>(line[at]) & 0xC0) == 0x80) --at;
      return at;
    };
    const size_t head = boundary(kHead), tail = boundary(line.size() - kTail);
    line = line.substr(0, head) + fmt::format(" [... {} characters left out ...] ", tail - head) + line.substr(tail);
  }
  std::cerr << "preflight: " << line << "\n";
  return 2;
}

int RunPlan(const PlanArgs& args) {
  Catalog catalog = Catalog::Default();
  auto scenario = LoadScenarioFile(args.scenario, catalog, args.overrides);
  if (!scenario.ok()) return BadInput(scenario.status().message());
  if (scenario->auto_parallel) {
    // `parallel: auto`: the search picks the plan (fastest step).
    SearchOptions o;
    o.top_k = 1;
    SearchResult found = Search(*scenario, SearchConstraints{}, o);
    if (found.top.empty()) {
      std::cout << (args.json ? JsonText(nlohmann::json{{"name", scenario->name}, {"plan", nullptr},
                                                        {"compat", {{"blocking", {"no valid plan fits (parallel: auto)"}},
                                                                    {"warnings", nlohmann::json::array()}}}})
                              : "no valid plan fits this job on this cluster (parallel: auto); see `preflight search`\n");
      return 1;
    }
    scenario->plan = found.top.front().plan;
    scenario->auto_parallel = false;
  }
  PlanResult result = Evaluate(*scenario, {});
  std::string out = args.json ? JsonText(PlanJson(result)) : PlanText(result);
  std::cout << out;
  return result.ExitCode();
}

namespace {

// The rows grouped by `key` (in order of first appearance), each summarised.
std::vector<std::pair<std::string, ValidationReport>> GroupRows(
    const ValidationReport& rep, const std::function<std::string(const ValidationRow&)>& key) {
  std::vector<std::pair<std::string, ValidationReport>> groups;
  for (const auto& row : rep.rows) {
    const std::string k = key(row);
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == k; });
    if (it == groups.end()) it = groups.insert(groups.end(), {k, ValidationReport{}});
    it->second.rows.push_back(row);
  }
  for (auto& g : groups) Summarize(&g.second);
  return groups;
}

// A run not predicted has neither a warning nor figures read: it is grouped apart.
std::string HostBoundGroup(const ValidationRow& r) {
  if (r.status != "ok") return "not predicted";
  return r.possibly_host_bound ? "possibly host-bound" : "not flagged";
}

std::string ProxyGroup(const ValidationRow& r) {
  if (r.status != "ok") return "not predicted";
  return r.proxy_figures > 0 ? "rests on proxy figures" : "device's own figures";
}

// One summary line: runs, MAPE, bias, time bias, worst error and run; dashes where no run was
// predicted (a MAPE of 0% over nothing would read as a perfect score) or no row is a time or rate.
std::string SummaryLine(const std::string& name, const ValidationReport& part) {
  const std::string skipped = part.skipped ? fmt::format(" ({} not predicted)", part.skipped) : "";
  if (part.predicted == 0) {
    return fmt::format("{:40} {:>6} {:>8} {:>8} {:>9} {:>9}  {}\n", name, 0, "-", "-", "-", "-",
                       skipped.empty() ? "" : skipped.substr(1));
  }
  const std::string time_bias = part.time_rows > 0 ? fmt::format("{:>+8.1f}%", 100 * part.time_bias) : "-";
  return fmt::format("{:40} {:>6} {:>7.1f}% {:>+7.1f}% {:>9} {:>8.1f}%  {}{}\n", name, part.predicted, 100 * part.mape,
                     100 * part.mean_error, time_bias, 100 * part.max_abs_error, part.worst, skipped);
}

std::string GroupText(const std::string& title, const std::vector<std::pair<std::string, ValidationReport>>& groups) {
  std::string out = fmt::format("{:40} {:>6} {:>8} {:>8} {:>9} {:>9}  {}\n", title, "rows", "MAPE", "bias", "time bias",
                                "max |err|", "worst run");
  for (const auto& [name, part] : groups) out += SummaryLine(name, part);
  return out;
}

// The summary statistics of `part` under their JSON keys; null where no run was predicted.
nlohmann::json SummaryJson(const ValidationReport& part) {
  const auto stat = [&](double v) { return part.predicted > 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
  return {{"mape", stat(part.mape)},
          {"mean_error", stat(part.mean_error)},
          {"time_bias", part.time_rows > 0 ? nlohmann::json(part.time_bias) : nlohmann::json(nullptr)},
          {"max_abs_error", stat(part.max_abs_error)},
          {"worst", part.predicted > 0 ? nlohmann::json(part.worst) : nlohmann::json(nullptr)}};
}

nlohmann::json GroupJson(const std::vector<std::pair<std::string, ValidationReport>>& groups) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, part] : groups) {
    j[name] = SummaryJson(part);
    j[name]["runs"] = part.predicted;
    j[name]["skipped"] = part.skipped;
    j[name]["ran_but_predicted_oom"] = part.ran_but_predicted_oom.size();
  }
  return j;
}

// One line per row, the name and metric columns as wide as the longest shown.
std::string RowsText(const std::vector<const ValidationRow*>& rows) {
  size_t name_w = 3, metric_w = 6;
  for (const ValidationRow* row : rows) {
    name_w = std::max(name_w, row->name.size());
    metric_w = std::max(metric_w, row->metric.size());
  }
  std::string out = fmt::format("{:{}} {:{}} {:>12} {:>12} {:>8}\n", "run", name_w, "metric", metric_w, "measured",
                                "predicted", "error");
  for (const ValidationRow* row : rows) {
    if (row->status != "ok") {
      out += fmt::format("{:{}} {:{}} {:>12.4g} {:>12} {:>8}  {}\n", row->name, name_w, row->metric, metric_w,
                         row->measured, "-", "-", row->status);
      continue;
    }
    out += fmt::format("{:{}} {:{}} {:>12.4g} {:>12.4g} {:>+7.1f}%\n", row->name, name_w, row->metric, metric_w,
                       row->measured, row->predicted, 100 * row->error);
  }
  return out;
}

// The measured runs whose plan the memory estimate says does not fit: they ran, so each is a
// memory-model error (or a setting missing from the row), listed with its predicted headroom.
std::string OomText(const ValidationReport& rep) {
  std::string lines;
  int predicted = 0, last = -1;  // runs, not rows: the rows of one run are adjacent
  for (const ValidationRow& row : rep.rows) {
    if (row.status != "ok" || row.run == last) continue;
    last = row.run;
    ++predicted;
    if (!row.predicted_fits) lines += fmt::format("  {} (headroom {:+.1f}%)\n", row.name, 100 * row.memory_headroom);
  }
  return fmt::format("\nmeasured runs predicted not to fit: {} of {}\n", rep.ran_but_predicted_oom.size(), predicted) +
         lines;
}

std::string ValidationText(const ValidationReport& rep, bool all) {
  std::string out = GroupText("file", GroupRows(rep, [](const ValidationRow& r) { return r.file; }));
  out += SummaryLine("all", rep);
  out += '\n';
  out += GroupText("hardware", GroupRows(rep, [](const ValidationRow& r) { return r.hardware; }));
  out += '\n';
  out += GroupText("plan's host-bound warning", GroupRows(rep, HostBoundGroup));
  out += '\n';
  out += GroupText("figures measured on another device", GroupRows(rep, ProxyGroup));
  out += OomText(rep);
  std::vector<const ValidationRow*> rows, not_predicted;
  for (const auto& row : rep.rows) (all || row.status == "ok" ? rows : not_predicted).push_back(&row);
  if (!all) {
    std::sort(rows.begin(), rows.end(),
              [](const ValidationRow* a, const ValidationRow* b) { return std::fabs(a->error) > std::fabs(b->error); });
    if (rows.size() > 10) rows.resize(10);
    rows.insert(rows.end(), not_predicted.begin(), not_predicted.end());  // each with its reason
    out += "\nworst rows and every run not predicted (--all for every row):\n";
  }
  return out + RowsText(rows);
}

nlohmann::json ValidationJson(const ValidationReport& rep) {
  nlohmann::json runs = nlohmann::json::array();
  for (const auto& row : rep.rows) {
    nlohmann::json j = {{"name", row.name}, {"file", row.file}, {"run", row.run}, {"hardware", row.hardware},
                        {"metric", row.metric}, {"measured", row.measured}, {"status", row.status}};
    // What a prediction gives, null for a run not predicted.
    const bool ok = row.status == "ok";
    const auto predicted = [ok](nlohmann::json v) { return ok ? std::move(v) : nlohmann::json(nullptr); };
    j["possibly_host_bound"] = predicted(row.possibly_host_bound);
    j["proxy_figures"] = predicted(row.proxy_figures);
    j["predicted_fits"] = predicted(row.predicted_fits);
    j["memory_headroom"] = predicted(row.memory_headroom);
    j["predicted"] = predicted(row.predicted);
    j["error"] = predicted(row.error);
    j["time_error"] = ok && row.has_time_error ? nlohmann::json(row.time_error) : nlohmann::json(nullptr);
    j["step_s"] = predicted(row.time.step.value());
    j["breakdown"] = ok ? StepBreakdownJson(row.time) : nlohmann::json(nullptr);
    runs.push_back(j);
  }
  nlohmann::json j = SummaryJson(rep);
  j["runs"] = runs;
  j["predicted"] = rep.predicted;
  j["skipped"] = rep.skipped;
  j["ran_but_predicted_oom"] = rep.ran_but_predicted_oom;
  j["by_file"] = GroupJson(GroupRows(rep, [](const ValidationRow& r) { return r.file; }));
  j["by_hardware"] = GroupJson(GroupRows(rep, [](const ValidationRow& r) { return r.hardware; }));
  j["by_host_bound_warning"] = GroupJson(GroupRows(rep, HostBoundGroup));
  j["by_proxy_figures"] = GroupJson(GroupRows(rep, ProxyGroup));
  return j;
}

}  // namespace

int RunValidate(const ValidateArgs& args) {
  Catalog catalog = Catalog::Default();
  std::vector<Scenario> runs;
  for (const std::string& file : args.files) {
    auto list = LoadScenarioList(file, catalog, args.overrides);
    if (!list.ok()) return BadInput(list.status().message());
    // An empty list would report "0 runs" and a MAPE of nothing (every run of a list is measured).
    const bool any_measured = std::any_of(list->begin(), list->end(),
                                          [](const Scenario& s) { return !s.measured.metrics.empty(); });
    if (!any_measured) return BadInput(file + ": runs: expected at least one run with `measured` figures");
    for (Scenario& s : *list) runs.push_back(std::move(s));
  }
  AutoPlanner planner = [](const Scenario& s, Plan* plan) {
    SearchOptions o;
    o.top_k = 1;
    SearchResult r = Search(s, SearchConstraints{}, o);
    if (r.top.empty()) return false;
    *plan = r.top.front().plan;
    return true;
  };
  EvaluateOptions options;
  options.simulate_failures = false;  // validate reads no campaign figure that failures change
  ValidationReport rep = Validate(runs, options, planner);
  nlohmann::json j = ValidationJson(rep);
  std::string text = ValidationText(rep, args.all);
  if (args.search_layouts) {
    nlohmann::json layouts = nlohmann::json::array();
    text += fmt::format("\nsearched layout vs published layout (predicted step time):\n{:48} {:>10} {:>10} {:>7}  {}\n",
                        "run", "published", "searched", "ratio", "searched plan");
    int worse = 0;
    for (const Scenario& s : runs) {
      if (s.auto_parallel) continue;
      PlanResult given = Evaluate(s, options);
      if (!given.has_time) continue;
      SearchOptions o;
      o.top_k = 1;
      SearchResult r = Search(s, SearchConstraints{}, o);
      if (r.top.empty()) continue;
      const RankedPlan& best = r.top.front();
      const double ratio = best.time.step.value() / given.time.step.value();
      worse += ratio > 1.0 + 1e-9 ? 1 : 0;
      const Plan& p = best.plan;
      std::string plan = fmt::format("tp{} cp{} pp{} vpp{} dp{} ep{} etp{} sp{} zero{} {} {} mb{}", p.tp, p.cp, p.pp,
                                     p.vpp, p.dp, p.ep, p.etp, p.sp ? 1 : 0, p.zero, ScheduleName(p.schedule),
                                     RecomputeLabel(p), p.micro_batch);
      text += fmt::format("{:48} {:>10.4g} {:>10.4g} {:>7.3f}  {}\n", s.name, given.time.step.value(),
                          best.time.step.value(), ratio, plan);
      layouts.push_back({{"name", s.name}, {"published_step_s", given.time.step.value()},
                         {"searched_step_s", best.time.step.value()}, {"ratio", ratio}, {"searched_plan", plan}});
    }
    text += fmt::format("searched layout slower than the published one in {} runs\n", worse);
    j["layouts"] = layouts;
    j["searched_worse"] = worse;
  }
  std::cout << (args.json ? JsonText(j) : text);
  // Nothing predicted (every run an invalid plan, or a search without a fitting plan): no figure
  // to give, as plan and search exit 1 when the answer is infeasible.
  return rep.predicted > 0 ? 0 : 1;
}

namespace {

// 1024 -> "1 KiB", 8589934592 -> "8 GiB".
std::string ByteSize(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) bytes /= 1024, ++u;
  return fmt::format("{:.4g} {}", bytes, units[u]);
}

// "all_reduce over 8 (8 per domain), 1 KiB to 8 GiB": what a measured table covers.
std::string CurvesSummary(const CollectiveTable& t) {
  std::string out;
  for (const CollectiveTable::Curve& c : t.curves()) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} over {} ({} per domain), {} to {}", kCollectiveOpNames[static_cast<int>(c.op)], c.ranks,
                       c.ranks_per_domain, ByteSize(c.rows.front()[0]), ByteSize(c.rows.back()[0]));
  }
  return out;
}

int CatalogList(bool json) {
  Catalog catalog = Catalog::Default();
  nlohmann::json j = {{"hardware", nlohmann::json::array()}, {"models", nlohmann::json::array()}};
  std::string text = "hardware:\n";
  for (const std::string& id : catalog.HardwareIds()) {
    auto spec = catalog.Hardware(id);
    if (!spec.ok()) return BadInput(spec.status().message());
    const Figure& bf16 = spec->peak(Dtype::kBf16);
    j["hardware"].push_back({{"id", id}, {"vendor", spec->vendor}, {"name", spec->name}});
    text += fmt::format("  {:24} {:8} {:34} bf16 {}\n", id, spec->vendor, spec->name,
                        bf16.known() ? fmt::format("{:g} TFLOP/s", bf16.value) : "unknown");
  }
  j["collective_tables"] = nlohmann::json::array();
  text += "collective tables (measured; a scenario picks one with cluster.collective_table):\n";
  for (const std::string& id : catalog.CollectiveTableIds()) {
    auto table = catalog.CollectiveTableById(id);
    if (!table.ok()) return BadInput(table.status().message());
    j["collective_tables"].push_back({{"id", id}, {"hardware", table->hardware}, {"source", table->source}});
    text += fmt::format("  {:24} {:24} {}\n", id, table->hardware, CurvesSummary(*table));
  }
  j["host_profiles"] = nlohmann::json::array();
  text += "host profiles (measured host time per layer; a scenario picks one with training.host_profile):\n";
  for (const std::string& id : catalog.HostProfileIds()) {
    auto profile = catalog.HostProfileById(id);
    if (!profile.ok()) return BadInput(profile.status().message());
    j["host_profiles"].push_back({{"id", id}, {"stack", profile->stack}, {"source", profile->source}});
    text += fmt::format("  {:34} {:.0f} us per layer with full recompute, {:.0f} us without; {}\n", id,
                        profile->LayerSeconds(true).value() * 1e6, profile->LayerSeconds(false).value() * 1e6,
                        profile->stack);
  }
  j["reliability_profiles"] = nlohmann::json::array();
  text += "reliability profiles (published failures and checkpoints; a scenario picks one with reliability.profile):\n";
  for (const std::string& id : catalog.ReliabilityProfileIds()) {
    auto profile = catalog.ReliabilityProfileById(id);
    if (!profile.ok()) return BadInput(profile.status().message());
    j["reliability_profiles"].push_back({{"id", id}, {"cluster", profile->cluster}});
    text += fmt::format("  {:24} {:.3g} failures per 1,000 node-days{}; {}\n", id,
                        profile->failures_per_node_day.value * 1000,
                        id == kDefaultReliabilityProfile ? " (the default)" : "", profile->cluster);
  }
  text += "models:\n";
  for (const std::string& id : catalog.ModelIds()) {
    auto arch = LoadArchitecture(catalog, id);
    if (!arch.ok()) return BadInput(arch.status().message());
    ParamCounts p = CountParameters(*arch);
    j["models"].push_back({{"id", id}, {"model_type", arch->model_type}, {"params_total", p.total},
                           {"params_active", p.active}});
    text += fmt::format("  {:24} {:12} {:10.2f} B params ({:.2f} B active)\n", id, arch->model_type,
                        p.total / 1e9, p.active / 1e9);
  }
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// A measured collective table: where it was measured and every row (size, time, bus bandwidth).
int ShowCollectiveTable(const std::string& id, const CollectiveTable& t, bool json) {
  nlohmann::json j = {{"id", id}, {"hardware", t.hardware}, {"source", t.source}, {"file", t.file},
                      {"curves", nlohmann::json::array()}};
  std::string text = fmt::format("{}: collective times measured {}\n  source: {}\n", id,
                                 t.hardware.empty() ? "(the file names no hardware)" : "on " + t.hardware, t.source);
  for (const CollectiveTable::Curve& c : t.curves()) {
    const char* op = kCollectiveOpNames[static_cast<int>(c.op)];
    nlohmann::json rows = nlohmann::json::array();
    text += fmt::format("  {} over {} ranks ({} per domain): size, time, bus bandwidth\n", op, c.ranks, c.ranks_per_domain);
    for (const auto& [bytes, us] : c.rows) {
      const double busbw = BusBandwidthFactor(c.op, c.ranks) * bytes / (us * 1e-6) / 1e9;
      rows.push_back({bytes, us});
      text += fmt::format("    {:>10}  {:10.1f} us  {:7.2f} GB/s\n", ByteSize(bytes), us, busbw);
    }
    j["curves"].push_back({{"op", op}, {"ranks", c.ranks}, {"ranks_per_domain", c.ranks_per_domain}, {"rows", rows}});
  }
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// A measured host profile: what ran, where, and its figures.
int ShowHostProfile(const std::string& id, const HostProfile& h, bool json) {
  nlohmann::json j = {{"id", id},
                      {"source", h.source},
                      {"stack", h.stack},
                      {"file", h.file},
                      {"layer_us",
                       {{"forward", h.layer_forward.value() * 1e6},
                        {"backward", h.layer_backward.value() * 1e6},
                        {"checkpointed", h.layer_checkpointed.value() * 1e6},
                        {"checkpointed_forward", h.layer_checkpointed_forward.value() * 1e6}}},
                      {"gpu_waits_per_layer_forward", h.gpu_waits_per_layer_forward},
                      {"collective_call_us", h.collective_call.value() * 1e6},
                      {"micro_batch_us", h.micro_batch.value() * 1e6},
                      {"input_us",
                       {{"before_sync", h.input_before_sync.value() * 1e6},
                        {"after_sync", h.input_after_sync.value() * 1e6}}}};
  std::string text = fmt::format(
      "{}: host time of {}\n  source: {}\n  per layer and micro-batch: forward {:.1f} us, backward {:.1f} us; "
      "with full recompute (checkpointed forward, recomputed forward, backward) {:.1f} us\n"
      "  per micro-batch around the layers (embedding, head, loss): {:.1f} us\n"
      "  per micro-batch input path: {:.1f} us before the host waits for the GPU, {:.1f} us after it\n",
      id, h.stack, h.source, h.layer_forward.value() * 1e6, h.layer_backward.value() * 1e6,
      h.layer_checkpointed.value() * 1e6, h.micro_batch.value() * 1e6, h.input_before_sync.value() * 1e6,
      h.input_after_sync.value() * 1e6);
  if (h.gpu_waits_per_layer_forward > 0) {
    text += fmt::format(
        "  the host waits for the GPU {} times in each layer forward (checkpointed forward {:.1f} us): "
        "forward and backward are each bound by their slower side\n",
        h.gpu_waits_per_layer_forward, h.layer_checkpointed_forward.value() * 1e6);
  }
  text += h.collective_call.value() > 0
              ? fmt::format("  per collective call inside a layer (the layer times are at TP 1): {:.1f} us\n",
                            h.collective_call.value() * 1e6)
              : "  collective calls: not measured (a profile timed without a GPU cannot time them)\n";
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// A reliability profile: every figure with its source.
int ShowReliabilityProfile(const std::string& id, const ReliabilityProfile& p, bool json) {
  nlohmann::json j = {{"id", id}, {"cluster", p.cluster}, {"file", p.file}};
  std::string text = fmt::format("{}: failures and checkpoints of {}\n", id, p.cluster);
  for (const std::string& key : ReliabilityFigureKeys()) {
    const ReliabilityFigure* f = FigureAt(p, key);
    if (!f->given) {
      j[key] = nullptr;
      continue;
    }
    j[key] = {{"value", f->value}, {"source", f->source}};
    if (!f->note.empty()) j[key]["note"] = f->note;
    text += fmt::format("  {:40} {:<10g} {}{}\n", key, f->value, f->source, f->note.empty() ? "" : " (" + f->note + ")");
  }
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

int ShowHardware(const Catalog& catalog, const HardwareSpec& spec, bool json) {
  nlohmann::json j = HardwareJson(spec);
  std::string text = HardwareText(spec);
  j["collective_tables"] = nlohmann::json::array();
  for (const std::string& name : catalog.CollectiveTableIds()) {
    auto table = catalog.CollectiveTableById(name);
    if (!table.ok()) return BadInput(table.status().message());
    if (table->hardware != spec.id) continue;
    j["collective_tables"].push_back({{"id", name}, {"source", table->source}});
    text += fmt::format("  measured collectives `{}` (cluster.collective_table: {}): {}; {}\n", name, name,
                        CurvesSummary(*table), table->source);
  }
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// The attention layout `catalog show` prints for a model: MLA's ranks, or the query and KV heads
// with what the step model prices beside them (windowed layers, biases, sinks, q/k norms).
std::string AttentionSummary(const Architecture& a) {
  if (a.attention == AttentionKind::kMla) {
    return fmt::format("MLA, q rank {}, kv rank {}, rope {} + nope {} per head, v {}", a.mla.q_lora_rank,
                       a.mla.kv_lora_rank, a.mla.rope_dim, a.mla.nope_dim, a.mla.v_dim);
  }
  std::string s = fmt::format("{} query heads, {} KV heads", a.heads, a.kv_heads);
  if (a.sliding_window > 0) s += fmt::format(", a {}-token window on even layers", a.sliding_window);
  if (a.qkv_bias) s += a.attn_out_bias ? ", q/k/v/o biases" : ", q/k/v biases";
  if (a.attention_sinks) s += ", a sink logit per head";
  if (a.qk_norm) s += ", q/k norms";
  return s;
}

int ShowModel(const std::string& id, const std::string& path, const nlohmann::json& config, bool json) {
  auto arch = ArchitectureFromHfConfig(config, id, path);
  if (!arch.ok()) return BadInput(arch.status().message());
  ParamCounts p = CountParameters(*arch);
  nlohmann::json j = {{"id", id}, {"file", path}, {"model_type", arch->model_type},
                      {"params_total", p.total}, {"params_active", p.active},
                      {"params_with_mtp", p.TotalWithMtp()}, {"params_checkpoint", p.CheckpointTotal()},
                      {"config", config}};
  std::string text = fmt::format(
      "{} ({}) from {}\n  layers {} hidden {} heads {} kv_heads {} head_dim {} ffn {} vocab {}\n"
      "  params total {} active {} (with MTP {}; as stored with MTP's embedding/head copies {})\n",
      id, arch->model_type, path, arch->layers, arch->hidden, arch->heads, arch->kv_heads,
      arch->head_dim, arch->ffn, arch->vocab, p.total, p.active, p.TotalWithMtp(), p.CheckpointTotal());
  text += "  attention: " + AttentionSummary(*arch) + "\n";
  if (arch->IsMoe()) {
    text += fmt::format("  MoE: {} experts, top-{}, expert ffn {}, shared ffn {}, {} MoE layers{}{}\n",
                        arch->moe.experts, arch->moe.top_k, arch->moe.expert_ffn,
                        arch->moe.shared_ffn, arch->MoeLayerCount(),
                        arch->moe.router_bias ? ", router bias" : "", arch->moe.expert_bias ? ", expert biases" : "");
  }
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// A measured GEMM table, checked against the device it belongs to: where it was measured and its
// best rate per dtype.
int ShowGemmTable(const Catalog& catalog, const std::string& path, bool json) {
  auto bare = LoadGemmTable(path);
  if (!bare.ok()) return BadInput(bare.status().message());
  // The table belongs to a catalog device (its id names one), whose peaks bound its figures.
  const std::vector<std::string> ids = catalog.HardwareIds();
  if (std::find(ids.begin(), ids.end(), bare->id) == ids.end()) {
    return BadInput(path + ": id: expected the id of a catalog device (see `preflight catalog list`), got '" +
                    bare->id + "'");
  }
  auto spec = catalog.Hardware(bare->id);
  if (!spec.ok()) return BadInput(spec.status().message());
  auto table = LoadGemmTableFor(*spec, path);
  if (!table.ok()) return BadInput(table.status().message());
  // As `plan` reads it (cluster.gemm_table): a proxy names another catalog device.
  if (const Status proxy = catalog.CheckProxyOf(path, "proxy_of", spec->id, (*table)->proxy_of); !proxy.ok()) {
    return BadInput(proxy.message());
  }
  const GemmTable& t = **table;
  nlohmann::json j = {{"id", t.id}, {"file", t.file}, {"source", t.source},
                      {"clock", t.sustained ? "sustained" : "burst"}, {"max_tflops", nlohmann::json::object()}};
  if (!t.proxy_of.empty()) j["proxy_of"] = t.proxy_of;
  std::string text = fmt::format("{}: GEMM throughput by shape for {} ({} clock{})\n  source: {}\n", t.file, t.id,
                                 t.sustained ? "sustained" : "burst",
                                 t.proxy_of.empty() ? "" : ", measured on " + t.proxy_of, t.source);
  for (int i = 0; i < kNumDtypes; ++i) {
    const Dtype dtype = static_cast<Dtype>(i);
    if (!t.Has(dtype)) continue;
    j["max_tflops"][std::string(kDtypeNames[i])] = t.MaxRate(dtype) / 1e12;
    text += fmt::format("  {}: up to {:.1f} TFLOP/s\n", kDtypeNames[i], t.MaxRate(dtype) / 1e12);
  }
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// A file of the user's own: a model's config is JSON; a YAML file is told apart by the keys only
// its kind has (collectives:, or hardware: without a scenario's model: or a hardware file's
// peak_tflops:; a host profile's layer_us:, stack: or micro_batch_us:; shapes: of a GEMM table,
// which a host profile may also carry; any reliability figure), and is otherwise a hardware file;
// so a collective table without collectives: or a reliability profile without one of its figures is
// still read, and refused, as what it is.
int ShowFile(const Catalog& catalog, const std::string& path, bool json) {
  if (path.ends_with(".json")) {
    std::string source;
    auto config = catalog.ModelConfig(path, &source);
    if (!config.ok()) return BadInput(config.status().message());
    return ShowModel(fs::path(path).stem().string(), source, *config, json);
  }
  auto root = LoadYamlFile(path);
  if (!root.ok()) return BadInput(root.status().message());
  const YAML::Node& r = *root;
  const auto has = [&](const char* key) { return r.IsMap() && r[key].IsDefined(); };
  const std::string stem = fs::path(path).stem().string();
  if (has("model") && (has("training") || has("parallel") || has("cluster"))) {
    return BadInput(path + ": expected a catalog file (hardware, GEMM or collective table, host or reliability "
                           "profile, model config), got a scenario (`preflight plan` reads it)");
  }
  if (has("collectives") || (has("hardware") && !has("model") && !has("peak_tflops"))) {
    auto table = LoadCollectiveTable(path);
    if (!table.ok()) return BadInput(table.status().message());
    return ShowCollectiveTable(stem, *table, json);
  }
  if (has("layer_us") || has("stack") || has("micro_batch_us")) {
    auto profile = LoadHostProfile(path);
    if (!profile.ok()) return BadInput(profile.status().message());
    return ShowHostProfile(stem, *profile, json);
  }
  if (has("shapes")) return ShowGemmTable(catalog, path, json);
  const std::vector<std::string>& figures = ReliabilityFigureKeys();
  if (std::any_of(figures.begin(), figures.end(), [&](const std::string& k) { return has(k.c_str()); })) {
    auto profile = LoadReliabilityProfile(path);
    if (!profile.ok()) return BadInput(profile.status().message());
    return ShowReliabilityProfile(stem, *profile, json);
  }
  auto spec = catalog.Hardware(path);
  if (!spec.ok()) return BadInput(spec.status().message());
  return ShowHardware(catalog, *spec, json);
}

int CatalogShow(const std::string& id, bool json) {
  Catalog catalog = Catalog::Default();
  if (LooksLikePath(id)) return ShowFile(catalog, id, json);
  auto spec = catalog.Hardware(id);
  if (spec.ok()) return ShowHardware(catalog, *spec, json);
  if (spec.status().code() != StatusCode::kNotFound) return BadInput(spec.status().message());
  auto table = catalog.CollectiveTableById(id);
  if (table.ok()) return ShowCollectiveTable(id, *table, json);
  if (table.status().code() != StatusCode::kNotFound) return BadInput(table.status().message());
  auto profile = catalog.HostProfileById(id);
  if (profile.ok()) return ShowHostProfile(id, *profile, json);
  if (profile.status().code() != StatusCode::kNotFound) return BadInput(profile.status().message());
  auto reliability = catalog.ReliabilityProfileById(id);
  if (reliability.ok()) return ShowReliabilityProfile(id, *reliability, json);
  if (reliability.status().code() != StatusCode::kNotFound) return BadInput(reliability.status().message());
  std::string path;
  auto config = catalog.ModelConfig(id, &path);
  if (!config.ok()) {
    return BadInput("catalog show: unknown id '" + id +
                    "' (neither hardware, collective table, host profile, reliability profile nor model; see `preflight catalog list`)");
  }
  return ShowModel(id, path, *config, json);
}

}  // namespace

int RunCatalog(const CatalogArgs& args) {
  if (args.action == "list") {
    if (!args.id.empty()) return BadInput("catalog list: expected no argument, got '" + args.id + "'");
    return CatalogList(args.json);
  }
  if (args.action == "show") {
    if (args.id.empty()) return BadInput("catalog show: expected an id");
    return CatalogShow(args.id, args.json);
  }
  return BadInput("catalog: expected `list` or `show ID`, got '" + args.action + "'");
}

}  // namespace preflight::cli
