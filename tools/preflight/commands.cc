#include "commands.h"

#include <fmt/format.h>

#include <iostream>

#include "preflight/catalog/catalog.h"
#include "preflight/model/hf_config.h"
#include "preflight/model/model.h"
#include "preflight/report/plan_report.h"
#include "preflight/scenario/evaluate.h"

namespace preflight::cli {

int BadInput(const std::string& message) {
  std::cerr << "preflight: " << message << "\n";
  return 2;
}

int RunPlan(const PlanArgs& args) {
  Catalog catalog = Catalog::Default();
  auto scenario = LoadScenarioFile(args.scenario, catalog, args.overrides);
  if (!scenario.ok()) return BadInput(scenario.status().message());
  if (scenario->auto_parallel) {
    return BadInput(args.scenario + ": parallel: expected a plan (tp, pp, dp, ...); `auto` needs `preflight search`");
  }
  PlanResult result = Evaluate(*scenario, {});
  std::string out = args.json ? PlanJson(result).dump(2) + "\n" : PlanText(result);
  std::cout << out;
  return result.ExitCode();
}

namespace {

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
  text += "models:\n";
  for (const std::string& id : catalog.ModelIds()) {
    std::string path;
    auto config = catalog.ModelConfig(id, &path);
    if (!config.ok()) return BadInput(config.status().message());
    auto arch = ArchitectureFromHfConfig(*config, id, path);
    if (!arch.ok()) return BadInput(arch.status().message());
    ParamCounts p = CountParameters(*arch);
    j["models"].push_back({{"id", id}, {"model_type", arch->model_type}, {"params_total", p.total},
                           {"params_active", p.active}});
    text += fmt::format("  {:24} {:12} {:10.2f} B params ({:.2f} B active)\n", id, arch->model_type,
                        p.total / 1e9, p.active / 1e9);
  }
  std::cout << (json ? j.dump(2) + "\n" : text);
  return 0;
}

int CatalogShow(const std::string& id, bool json) {
  Catalog catalog = Catalog::Default();
  auto spec = catalog.Hardware(id);
  if (spec.ok()) {
    std::cout << (json ? HardwareJson(*spec).dump(2) + "\n" : HardwareText(*spec));
    return 0;
  }
  if (spec.status().code() != StatusCode::kNotFound || LooksLikePath(id)) {
    return BadInput(spec.status().message());
  }
  std::string path;
  auto config = catalog.ModelConfig(id, &path);
  if (!config.ok()) {
    return BadInput("catalog show: unknown id '" + id + "' (neither hardware nor model; see `preflight catalog list`)");
  }
  auto arch = ArchitectureFromHfConfig(*config, id, path);
  if (!arch.ok()) return BadInput(arch.status().message());
  ParamCounts p = CountParameters(*arch);
  nlohmann::json j = {{"id", id}, {"file", path}, {"model_type", arch->model_type},
                      {"params_total", p.total}, {"params_active", p.active},
                      {"params_with_mtp", p.TotalWithMtp()}, {"config", *config}};
  std::string text = fmt::format(
      "{} ({}) from {}\n  layers {} hidden {} heads {} kv_heads {} head_dim {} ffn {} vocab {}\n"
      "  params total {} active {} (with MTP {})\n",
      id, arch->model_type, path, arch->layers, arch->hidden, arch->heads, arch->kv_heads,
      arch->head_dim, arch->ffn, arch->vocab, p.total, p.active, p.TotalWithMtp());
  if (arch->IsMoe()) {
    text += fmt::format("  MoE: {} experts, top-{}, expert ffn {}, shared ffn {}, {} MoE layers\n",
                        arch->moe.experts, arch->moe.top_k, arch->moe.expert_ffn,
                        arch->moe.shared_ffn, arch->MoeLayerCount());
  }
  std::cout << (json ? j.dump(2) + "\n" : text);
  return 0;
}

}  // namespace

int RunCatalog(const CatalogArgs& args) {
  if (args.action == "list") return CatalogList(args.json);
  if (args.action == "show") {
    if (args.id.empty()) return BadInput("catalog show: expected an id");
    return CatalogShow(args.id, args.json);
  }
  return BadInput("catalog: expected `list` or `show ID`, got '" + args.action + "'");
}

}  // namespace preflight::cli
