#include "commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "preflight/base/utf8.h"
#include "preflight/catalog/catalog.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/yaml_reader.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/load.h"
#include "preflight/model/model.h"
#include "preflight/report/hardware_report.h"
#include "preflight/report/plan_report.h"
#include "preflight/scenario/evaluate.h"
#include "preflight/search/search.h"

namespace preflight::cli {

namespace fs = std::filesystem;

namespace {

// The length of the well-formed UTF-8 character at `i` of `s` (Utf8CharLength: 2 to 4 bytes) that a
// terminal or log reader shows as text (not one Utf8ControlLength names); else 1.
size_t Utf8Length(const std::string& s, size_t i) {
  const size_t n = Utf8CharLength(s, i);
  if (n < 2 || Utf8ControlLength(s, i) > 0) return 1;
  return n;
}

}  // namespace

int BadInput(const std::string& message) {
  // One line whatever the input echoed: control characters (a newline in a value or a key) are
  // written as escapes.
  // Bytes that are not UTF-8 (a binary file read as YAML) are escaped too, so that a terminal or a
  // log reader sees text.
  std::string line;
  for (size_t i = 0; i < message.size();) {
    const unsigned char c = static_cast<unsigned char>(message[i]);
    const size_t n = Utf8Length(message, i);
    if (n > 1) {
      line += message.substr(i, n);
      i += n;
      continue;
    }
    if (c == '\n') line += "\\n";
    else if (c == '\r') line += "\\r";
    else if (c < 0x20 || c >= 0x7f) line += fmt::format("\\x{:02x}", c);
    else line += static_cast<char>(c);
    ++i;
  }
  // A value echoed whole can run to megabytes (a 100,000-character --set key): keep the start, which
  // names the file, the field and what was expected, and the end, and say how many bytes were left out.
  constexpr size_t kHead = 700, kTail = 200;
  if (line.size() > kHead + kTail + 100) {
    const auto boundary = [&](size_t at) {  // back to the first byte of a UTF-8 character, which
      // lies at most 3 bytes before (bytes that are not UTF-8 are cut where they fall)
      for (int back = 0; back < 3 && at > 0 && (static_cast<unsigned char>(line[at]) & 0xC0) == 0x80; ++back) --at;
      return at;
    };
    const size_t head = boundary(kHead), tail = boundary(line.size() - kTail);
    line = line.substr(0, head) + fmt::format(" [... {} bytes left out ...] ", tail - head) + line.substr(tail);
  }
  std::cerr << "preflight: " << line << "\n";
  return 2;
}

bool SearchSpaceWithin(const Scenario& s, const SearchConstraints& c, int64_t limit, const std::string& what,
                       int64_t* layouts, std::string* error) {
  const SearchSpaceSize space = CountSearchSpace(s, c, limit);
  *layouts = space.layouts;
  const bool too_many = space.branches > kMaxSearchBranches;
  if (!too_many && space.layouts <= limit) return true;
  const std::string expected =
      too_many ? fmt::format("at most {} combinations of TP x CP x PP x DP x EP x ETP x schedule x VPP", kMaxSearchBranches)
               : fmt::format("at most {} layouts (TP x CP x PP x DP x EP x ETP x schedule x VPP that the plan rules "
                             "leave, each with its SP, ZeRO, recompute and micro-batch choices)",
                             limit);
  *error = fmt::format("{}: {}: expected a space of {} on {} devices, got more; narrow it (--max-pp, --max-cp, "
                       "--max-tp, --max-ep or a --fix-* flag of `search`, or a layout in the scenario)",
                       s.file, what, expected, s.cluster.devices);
  return false;
}

int RunPlan(const PlanArgs& args) {
  Catalog catalog = Catalog::Default();
  auto scenario = LoadScenarioFile(args.scenario, catalog, args.overrides);
  if (!scenario.ok()) return BadInput(scenario.status().message());
  bool searched = false;
  if (scenario->auto_parallel) {
    // `parallel: auto`: the search picks the plan (fastest step).
    int64_t layouts = 0;
    std::string error;
    if (!SearchSpaceWithin(*scenario, SearchConstraints{}, kMaxSearchLayouts, "parallel: auto", &layouts, &error)) {
      return BadInput(error);
    }
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
    searched = true;
  }
  PlanResult result = Evaluate(*scenario, {});
  auto accuracy = catalog.Accuracy(result.scenario.cluster.spec);
  if (!accuracy.ok()) return BadInput(accuracy.status().message());
  result.accuracy_checked = true;
  result.accuracy = *accuracy;
  if (searched) {
    result.warnings.insert(result.warnings.begin(),
                           "parallel: auto (or not given): the layout is the search's fastest step; `preflight search` "
                           "ranks the others");
  }
  nlohmann::json j;
  if (args.json) {
    j = PlanJson(result);
    if (searched) j["plan"]["searched"] = true;
  }
  std::string out = args.json ? JsonText(j) : PlanText(result);
  std::cout << out;
  return result.ExitCode();
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
    out += fmt::format("{}, {} to {}", CurveGroup(c), ByteSize(c.rows.front()[0]), ByteSize(c.rows.back()[0]));
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
                      {"unfused_softmax_op_us", h.unfused_softmax_op.value() * 1e6},
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
        "forward and backward are each bound by their slower side, and after each wait the GPU "
        "idles until the host's next launch\n",
        h.gpu_waits_per_layer_forward, h.layer_checkpointed_forward.value() * 1e6);
  }
  text += h.collective_call.value() > 0
              ? fmt::format("  per collective call inside a layer (the layer times are at TP 1): {:.1f} us\n",
                            h.collective_call.value() * 1e6)
              : "  collective calls: not measured (a profile timed without a GPU cannot time them)\n";
  text += h.unfused_softmax_op.value() > 0
              ? fmt::format("  per op Megatron's unfused softmax adds over its fused kernel: {:.1f} us\n",
                            h.unfused_softmax_op.value() * 1e6)
              : "  Megatron's unfused softmax: not measured (its ops cost host_overhead_per_kernel_us each)\n";
  std::cout << (json ? JsonText(j) : text);
  return 0;
}

// A reliability profile: every figure with its source.
int ShowReliabilityProfile(const std::string& id, const ReliabilityProfile& p, bool json) {
  nlohmann::json j = {{"id", id}, {"cluster", p.cluster}, {"file", p.file}};
  j["vendor"] = p.vendor.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.vendor);
  std::string text = fmt::format("{}: failures and checkpoints of {}{}\n", id, p.cluster,
                                 p.vendor.empty() ? "" : " (" + p.vendor + " devices)");
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
  // As `plan` reads it (cluster.gemm_table): a proxy names another catalog device.
  auto table = catalog.GemmTableFor(*spec, path);
  if (!table.ok()) return BadInput(table.status().message());
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
    if (t.HasOwnOrigin(dtype)) text += fmt::format("    its source: {}\n", GemmGridOriginText(t, dtype));
  }
  if (nlohmann::json origins = GemmGridOriginsJson(t); !origins.empty()) j["grid_origins"] = origins;
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
    // As for a GEMM table: the device it names is one of the catalog's (a scenario on it can use it).
    const std::vector<std::string> ids = catalog.HardwareIds();
    if (!table->hardware.empty() && std::find(ids.begin(), ids.end(), table->hardware) == ids.end()) {
      return BadInput(path + ": hardware: expected the id of a catalog device (see `preflight catalog list`), got '" +
                      table->hardware + "'");
    }
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
  // A model file that is there but cannot be read (a broken link, bad JSON) is named as such.
  if (!config.ok() && config.status().message().rfind("unknown model id", 0) != 0) {
    return BadInput(config.status().message());
  }
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
