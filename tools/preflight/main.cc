// The preflight command line: parses flags, calls the library, maps results to exit codes.
// No modelling logic lives here.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"
#include "search_command.h"

namespace {

using preflight::Override;

// Flags that override one scenario field each; `--set key=value` covers the rest.
struct PlanFlag {
  const char* flag;
  const char* key;
  const char* help;
};

constexpr PlanFlag kPlanFlags[] = {
    {"--model", "model", "model: catalog id or config.json path"},
    {"--hardware", "hardware", "hardware: catalog id or YAML path"},
    {"--devices", "cluster.devices", "number of devices"},
    {"--tp", "parallel.tp", "tensor parallel degree"},
    {"--pp", "parallel.pp", "pipeline parallel degree"},
    {"--vpp", "parallel.vpp", "virtual pipeline stages per device"},
    {"--dp", "parallel.dp", "data parallel degree"},
    {"--cp", "parallel.cp", "context parallel degree"},
    {"--ep", "parallel.ep", "expert parallel degree"},
    {"--etp", "parallel.etp", "expert tensor parallel degree"},
    {"--sp", "parallel.sp", "sequence parallel (true/false)"},
    {"--zero", "parallel.zero", "ZeRO stage 0-3"},
    {"--schedule", "parallel.schedule", "gpipe|1f1b|interleaved|zb-h1|dualpipe"},
    {"--recompute", "parallel.recompute", "none|selective|full"},
    {"--micro-batch", "training.micro_batch", "sequences per micro-batch"},
    {"--global-batch", "training.global_batch", "sequences per step"},
    {"--seq-len", "training.seq_len", "sequence length"},
    {"--precision", "training.precision", "bf16|fp16|fp8|fp32"},
};

void AddScenarioFlags(CLI::App* cmd, std::vector<std::string>* values,
                      std::vector<std::string>* sets) {
  values->resize(std::size(kPlanFlags));
  for (size_t i = 0; i < std::size(kPlanFlags); ++i) {
    cmd->add_option(kPlanFlags[i].flag, (*values)[i], kPlanFlags[i].help);
  }
  cmd->add_option("--set", *sets, "override any scenario field: dotted.key=value (repeatable)");
}

bool CollectOverrides(const std::vector<std::string>& values, const std::vector<std::string>& sets,
                      std::vector<Override>* out, std::string* error) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!values[i].empty()) out->push_back({kPlanFlags[i].key, values[i]});
  }
  for (const std::string& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) {
      *error = "--set: expected dotted.key=value, got '" + s + "'";
      return false;
    }
    out->push_back({s.substr(0, eq), s.substr(eq + 1)});
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  preflight::MpiSession mpi(&argc, &argv);
  CLI::App app{"preflight: can this cluster train this model, how fast, at what cost, with which layout"};
  app.require_subcommand(1);

  preflight::cli::PlanArgs plan;
  std::vector<std::string> plan_values, plan_sets;
  CLI::App* plan_cmd = app.add_subcommand("plan", "memory (and time) of one scenario with its plan");
  plan_cmd->add_option("scenario", plan.scenario, "scenario YAML file")->required();
  plan_cmd->add_flag("--json", plan.json, "machine-readable output on stdout");
  AddScenarioFlags(plan_cmd, &plan_values, &plan_sets);

  preflight::cli::CatalogArgs catalog;
  CLI::App* catalog_cmd = app.add_subcommand("catalog", "list or show catalog hardware and models");
  catalog_cmd->add_option("action", catalog.action, "list | show")->required();
  catalog_cmd->add_option("id", catalog.id, "hardware or model id (for show)");
  catalog_cmd->add_flag("--json", catalog.json, "machine-readable output on stdout");

  preflight::cli::ValidateArgs validate;
  CLI::App* validate_cmd = app.add_subcommand("validate", "predict measured runs and report the error");
  validate_cmd->add_option("files", validate.files, "validation YAML files")->required();
  validate_cmd->add_flag("--json", validate.json, "machine-readable output on stdout");
  validate_cmd->add_flag("--all", validate.all, "print every row");
  validate_cmd->add_flag("--search-layouts", validate.search_layouts,
                         "also search each run with a stated layout and compare predicted step times");
  std::vector<std::string> validate_sets;
  validate_cmd->add_option("--set", validate_sets,
                           "override a field of every run: dotted.key=value (repeatable; what-if questions)");

  preflight::cli::SearchArgs search;
  std::vector<std::string> search_values, search_sets;
  CLI::App* search_cmd = app.add_subcommand("search", "find the best parallel layouts (threads; MPI ranks under mpirun)");
  search_cmd->add_option("scenario", search.scenario, "scenario YAML file (its parallel block is ignored, but for overlap flags)")->required();
  search_cmd->add_flag("--json", search.json, "machine-readable output on stdout");
  search_cmd->add_option("--objective", search.objective, "step_time|cost|days|energy");
  search_cmd->add_option("--top", search.top, "how many plans to return (default 10)");
  search_cmd->add_option("--threads", search.threads, "worker threads (default: all cores)");
  search_cmd->add_flag("--no-progress", search.no_progress, "no progress line on stderr");
  search_cmd->add_flag("--exhaustive", search.exhaustive, "evaluate every valid plan (no bound pruning; same answer, slower)");
  search_cmd->add_option("--devices", search.devices, "N, A..B (doubling), A..B:STEP or a,b,c: sweep and report the Pareto front of days vs cost");
  search_cmd->add_option("--max-tp", search.constraints.max_tp, "largest TP (default: the scale-up domain)");
  search_cmd->add_option("--max-pp", search.constraints.max_pp, "largest PP");
  search_cmd->add_option("--max-cp", search.constraints.max_cp, "largest CP");
  search_cmd->add_option("--max-ep", search.constraints.max_ep, "largest EP");
  search_cmd->add_option("--max-micro-batch", search.constraints.max_micro_batch, "largest micro-batch");
  search_cmd->add_option("--min-headroom", search.constraints.min_headroom, "memory left free, as a fraction of capacity");
  search_cmd->add_option("--fix-tp", search.constraints.tp, "only this TP");
  search_cmd->add_option("--fix-pp", search.constraints.pp, "only this PP");
  search_cmd->add_option("--fix-cp", search.constraints.cp, "only this CP");
  search_cmd->add_option("--fix-dp", search.constraints.dp, "only this DP");
  search_cmd->add_option("--fix-ep", search.constraints.ep, "only this EP");
  search_cmd->add_option("--fix-vpp", search.constraints.vpp, "only this VPP");
  search_cmd->add_option("--fix-zero", search.constraints.zero, "only this ZeRO stage");
  search_cmd->add_option("--fix-schedule", search.fix_schedule, "only this schedule");
  search_cmd->add_option("--fix-recompute", search.fix_recompute, "only this recompute mode");
  search_cmd->add_option("--fix-sp", search.fix_sp, "only with (true) or without (false) sequence parallelism");
  search_cmd->add_option("--model", search_values, "")->group("");
  search_cmd->add_option("--set", search_sets, "override any scenario field: dotted.key=value (repeatable)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return preflight::cli::BadInput(std::string("command line: ") + e.what());
  }

  if (plan_cmd->parsed()) {
    std::string error;
    if (!CollectOverrides(plan_values, plan_sets, &plan.overrides, &error)) {
      return preflight::cli::BadInput(error);
    }
    return preflight::cli::RunPlan(plan);
  }
  if (catalog_cmd->parsed()) return preflight::cli::RunCatalog(catalog);
  if (validate_cmd->parsed()) {
    std::string error;
    if (!CollectOverrides({}, validate_sets, &validate.overrides, &error)) return preflight::cli::BadInput(error);
    return preflight::cli::RunValidate(validate);
  }
  if (search_cmd->parsed()) {
    for (const std::string& m : search_values) search.overrides.push_back({"model", m});
    std::string error;
    if (!CollectOverrides({}, search_sets, &search.overrides, &error)) return preflight::cli::BadInput(error);
    return preflight::cli::RunSearch(search, mpi);
  }
  return preflight::cli::BadInput("expected a verb (see --help)");
}
