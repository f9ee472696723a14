// The preflight command line: parses flags, calls the library, maps results to exit codes.
// No modelling logic lives here.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "commands.h"
#include "compare_command.h"
#include "preflight/base/check.h"
#include "preflight/catalog/yaml_reader.h"
#include "search_command.h"

namespace {

using preflight::Override;

// An empty file name ("plan ''") says a path was expected, not ": cannot open file".
const CLI::Validator kFilePath(
    [](std::string& v) { return v.empty() ? std::string("expected a file path, got an empty one") : std::string(); },
    "", "file path");
// A flag given with an empty value ("--tp ''") is an error, not the file's value silently kept.
const CLI::Validator kNonEmpty(
    [](std::string& v) { return v.empty() ? std::string("expected a value, got an empty one") : std::string(); },
    "", "non-empty");

// Digits, with a sign or not.
bool IsWholeNumberText(const std::string& v) {
  const size_t start = !v.empty() && (v[0] == '+' || v[0] == '-') ? 1 : 0;
  return v.size() > start && v.find_first_not_of("0123456789", start) == std::string::npos;
}
// A search flag's number, checked before CLI11 converts it (whose own message names no expected
// value): a whole number in int range, handed on in plain decimal (CLI11 reads "010" as octal 8
// and "08" as no number).
const CLI::Validator kWholeNumber(
    [](std::string& v) {
      const size_t start = !v.empty() && v[0] == '+' ? 1 : 0;  // from_chars takes no '+'
      int n = 0;
      const auto [end, ec] = std::from_chars(v.data() + start, v.data() + v.size(), n);
      if (!IsWholeNumberText(v) || ec != std::errc() || end != v.data() + v.size()) {
        return "expected a whole number, got '" + v + "'";
      }
      v = std::to_string(n);
      return std::string();
    },
    "", "whole number");
// A scenario count's text: its range is the scenario's to check where the value is read (which
// names the field and its limits).
const CLI::Validator kWholeNumberText(
    [](std::string& v) { return IsWholeNumberText(v) ? std::string() : "expected a whole number, got '" + v + "'"; },
    "", "whole number");
const CLI::Validator kNumber(
    [](std::string& v) {
      double d = 0;
      return preflight::ParseFiniteNumber(v, &d) ? std::string() : "expected a number, got '" + v + "'";
    },
    "", "number");

// Flags that override one scenario field each; `--set key=value` covers the rest.
struct PlanFlag {
  const char* flag;
  const char* key;
  const char* help;
  // A count or a degree: its text is checked as a whole number when the command line is read,
  // since a later `--set` may replace the field unread (`--tp x --set parallel=auto`); the
  // scenario checks the range where the value is read.
  bool count = false;
};

constexpr PlanFlag kPlanFlags[] = {
    {"--model", "model", "model: catalog id or config.json path"},
    {"--hardware", "hardware", "hardware: catalog id or YAML path"},
    {"--devices", "cluster.devices", "number of devices", true},
    {"--tp", "parallel.tp", "tensor parallel degree", true},
    {"--pp", "parallel.pp", "pipeline parallel degree", true},
    {"--vpp", "parallel.vpp", "virtual pipeline stages per device", true},
    {"--dp", "parallel.dp", "data parallel degree", true},
    {"--cp", "parallel.cp", "context parallel degree", true},
    {"--ep", "parallel.ep", "expert parallel degree", true},
    {"--etp", "parallel.etp", "expert tensor parallel degree", true},
    {"--sp", "parallel.sp", "sequence parallel (true/false)"},
    {"--zero", "parallel.zero", "ZeRO stage 0-3", true},
    {"--schedule", "parallel.schedule", "gpipe|1f1b|interleaved|zb-h1|dualpipe"},
    {"--recompute", "parallel.recompute", "none|selective|full|selective-op|dots|names"},
    {"--micro-batch", "training.micro_batch", "sequences per micro-batch", true},
    {"--global-batch", "training.global_batch", "sequences per step", true},
    {"--seq-len", "training.seq_len", "sequence length", true},
    {"--precision", "training.precision", "bf16|fp16|fp8|fp4"},
};

// Of those, the ones compare takes: the job's, and the cluster's size (its --hardware lists the
// alternatives; the layout is each alternative's own or searched).
constexpr std::string_view kCompareScenarioFlagNames[] = {"--model", "--devices", "--global-batch", "--seq-len",
                                                          "--micro-batch", "--precision"};
// Of those, the ones search takes too: what it does not choose (its --devices is the sweep).
constexpr std::string_view kSearchScenarioFlagNames[] = {"--model", "--hardware", "--global-batch", "--seq-len",
                                                         "--precision"};
const PlanFlag& PlanFlagNamed(std::string_view flag) {
  for (const PlanFlag& f : kPlanFlags) {
    if (f.flag == flag) return f;
  }
  CHECK(false) << "not a plan flag: " << flag;  // a bug in kSearchScenarioFlagNames
  return kPlanFlags[0];
}

// Adds one scenario flag to `cmd`, its value kept in `value`.
void AddScenarioFlag(CLI::App* cmd, const PlanFlag& f, std::string* value) {
  CLI::Option* option = cmd->add_option(f.flag, *value, f.help)->check(kNonEmpty);
  if (f.count) option->check(kWholeNumberText);
}

void AddScenarioFlags(CLI::App* cmd, std::vector<std::string>* values,
                      std::vector<std::string>* sets) {
  values->resize(std::size(kPlanFlags));
  for (size_t i = 0; i < std::size(kPlanFlags); ++i) AddScenarioFlag(cmd, kPlanFlags[i], &(*values)[i]);
  // One value per flag: a word after it is the scenario, not a second value.
  cmd->add_option("--set", *sets, "override any scenario field: dotted.key=value (repeatable)")
      ->check(kNonEmpty)
      ->allow_extra_args(false);
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

// A verb's subset of the scenario flags (`names`, their values in `values` in the same order), then
// its --set values: the overrides in the order they apply.
template <size_t N>
bool CollectNamedOverrides(const std::string_view (&names)[N], const std::vector<std::string>& values,
                           const std::vector<std::string>& sets, std::vector<Override>* out, std::string* error) {
  for (size_t i = 0; i < N && i < values.size(); ++i) {
    if (!values[i].empty()) out->push_back({PlanFlagNamed(names[i]).key, values[i]});
  }
  return CollectOverrides({}, sets, out, error);
}

// Each verb's parsed arguments, the raw flags they are built from, and its subcommand.
struct PlanCommand {
  preflight::cli::PlanArgs args;
  std::vector<std::string> values, sets;
  CLI::App* cmd = nullptr;
};
struct CatalogCommand {
  preflight::cli::CatalogArgs args;
  CLI::App* cmd = nullptr;
};
struct ValidateCommand {
  preflight::cli::ValidateArgs args;
  std::vector<std::string> sets;
  CLI::App* cmd = nullptr;
};
struct CompareCommand {
  preflight::cli::CompareArgs args;
  std::vector<std::string> sets;
  std::vector<std::string> values;  // kCompareScenarioFlagNames, in order
  CLI::App* cmd = nullptr;
};
struct SearchCommand {
  preflight::cli::SearchArgs args;
  std::vector<std::string> sets;
  std::vector<std::string> values;  // kSearchScenarioFlagNames, in order
  CLI::App* cmd = nullptr;
};

void AddPlan(CLI::App* app, PlanCommand* c) {
  c->cmd = app->add_subcommand("plan", "memory, step time and campaign (days, failures, cost, energy) of one scenario");
  c->cmd->add_option("scenario", c->args.scenario, "scenario YAML file")->required()->check(kFilePath);
  c->cmd->add_flag("--json", c->args.json, "machine-readable output on stdout");
  AddScenarioFlags(c->cmd, &c->values, &c->sets);
}

void AddCatalog(CLI::App* app, CatalogCommand* c) {
  c->cmd = app->add_subcommand("catalog", "list or show the catalog: hardware, models, collective tables, host and reliability profiles");
  c->cmd->add_option("action", c->args.action, "list | show")->required();
  c->cmd->add_option("id", c->args.id, "for show: a catalog id (hardware, collective table, host profile, reliability profile, model) or the path of a file");
  c->cmd->add_flag("--json", c->args.json, "machine-readable output on stdout");
}

void AddValidate(CLI::App* app, ValidateCommand* c) {
  preflight::cli::ValidateArgs& v = c->args;
  c->cmd = app->add_subcommand("validate", "predict measured runs and report the error");
  c->cmd->add_option("files", v.files, "validation YAML files")->required()->check(kFilePath);
  c->cmd->add_flag("--json", v.json, "machine-readable output on stdout");
  c->cmd->add_flag("--all", v.all, "print every row");
  c->cmd->add_flag("--search-layouts", v.search_layouts,
                   "also search each run with a stated layout and compare predicted step times");
  // One value per flag: a word after it is a file, not a second value.
  c->cmd->add_option("--set", c->sets,
                     "override a field of every run: dotted.key=value (repeatable; what-if questions)")
      ->allow_extra_args(false);
  c->cmd->add_option("--by", v.by,
                     fmt::format("one more summary table, the rows grouped by FIELD[,FIELD...] of their run "
                                 "(repeatable): {}",
                                 fmt::join(preflight::cli::ValidateGroupFields(), ", ")))
      ->allow_extra_args(false);
}

// The search's limits and fixed degrees (SearchConstraints) as flags.
void AddSearchConstraints(CLI::App* cmd, preflight::cli::SearchArgs* s) {
  preflight::SearchConstraints& k = s->constraints;
  const auto whole = [cmd](const char* flag, auto& value, const char* help) {
    cmd->add_option(flag, value, help)->transform(kWholeNumber);
  };
  whole("--max-tp", k.max_tp, "largest TP (default: the scale-up domain)");
  whole("--max-pp", k.max_pp, "largest PP (0: no limit)");
  whole("--max-cp", k.max_cp, "largest CP (0: no limit)");
  whole("--max-ep", k.max_ep, "largest EP (0: no limit)");
  whole("--max-micro-batch", k.max_micro_batch, "largest micro-batch (0: no limit)");
  cmd->add_option("--min-headroom", k.min_headroom, "memory left free, as a fraction of capacity")->check(kNumber);
  whole("--fix-tp", k.tp, "only this TP");
  whole("--fix-pp", k.pp, "only this PP");
  whole("--fix-cp", k.cp, "only this CP");
  whole("--fix-dp", k.dp, "only this DP");
  whole("--fix-ep", k.ep, "only this EP");
  whole("--fix-vpp", k.vpp, "only this VPP");
  whole("--fix-zero", k.zero, "only this ZeRO stage");
  cmd->add_option("--fix-schedule", s->fix_schedule, "only this schedule")->check(kNonEmpty);
  cmd->add_option("--fix-recompute", s->fix_recompute, "only this recompute mode")->check(kNonEmpty);
  cmd->add_option("--fix-sp", s->fix_sp, "only with (true) or without (false) sequence parallelism")->check(kNonEmpty);
}

void AddSearch(CLI::App* app, SearchCommand* c) {
  preflight::cli::SearchArgs& s = c->args;
  c->cmd = app->add_subcommand("search", "find the best parallel layouts (threads; MPI ranks under mpirun)");
  c->cmd->add_option("scenario", s.scenario, "scenario YAML file (its parallel degrees are searched; its overlap flags, ZeRO-3 variants, offload and dp_shard are kept where they apply)")->required()->check(kFilePath);
  c->cmd->add_flag("--json", s.json, "machine-readable output on stdout");
  c->cmd->add_option("--objective", s.objective, "step_time|cost|days|energy");
  c->cmd->add_option("--top", s.top, "how many plans to return (1 to 1000, default 10)")->transform(kWholeNumber);
  c->cmd->add_option("--threads", s.threads, "worker threads (default: all cores)")->transform(kWholeNumber);
  c->cmd->add_flag("--no-progress", s.no_progress, "no progress line on stderr");
  c->cmd->add_flag("--exhaustive", s.exhaustive, "evaluate every valid plan (no bound pruning; same answer, slower)");
  c->cmd->add_flag("--distinct", s.distinct,
                   "one plan per layout (TP, CP, PP, DP, EP, ETP, schedule, ZeRO), its best VPP, SP, recompute and "
                   "micro-batch: K layouts, not K variants of the best");
  c->cmd->add_option("--devices", s.devices, "N (search at N devices), or A..B (doubling), A..B:STEP or a,b,c: sweep and report the Pareto front of days vs cost")
      ->check(kNonEmpty);
  AddSearchConstraints(c->cmd, &s);
  c->values.resize(std::size(kSearchScenarioFlagNames));
  for (size_t i = 0; i < std::size(kSearchScenarioFlagNames); ++i) {
    AddScenarioFlag(c->cmd, PlanFlagNamed(kSearchScenarioFlagNames[i]), &c->values[i]);
  }
  c->cmd->add_option("--set", c->sets, "override any scenario field: dotted.key=value (repeatable)")
      ->check(kNonEmpty)
      ->allow_extra_args(false);
}

void AddCompare(CLI::App* app, CompareCommand* c) {
  preflight::cli::CompareArgs& a = c->args;
  c->cmd = app->add_subcommand("compare", "one job on several clusters, side by side and ranked (days, cost, energy)");
  c->cmd->add_option("scenarios", a.files, "scenario YAML files (each an alternative, or each run on every --hardware)")
      ->required()
      ->check(kFilePath);
  c->cmd->add_option("--hardware", a.hardware,
                     "ID[,ID...]: run every scenario on each of these (catalog ids or hardware YAML paths)")
      ->check(kNonEmpty);
  c->cmd->add_option("--objective", a.objective, "what ranks them: days (default), cost, energy or step_time");
  c->cmd->add_flag("--search", a.search,
                   "search every alternative's layout (by the objective), not only those with parallel: auto");
  c->cmd->add_option("--threads", a.threads, "the searches' worker threads (default: all cores)")->transform(kWholeNumber);
  c->cmd->add_flag("--json", a.json, "machine-readable output on stdout");
  c->values.resize(std::size(kCompareScenarioFlagNames));
  for (size_t i = 0; i < std::size(kCompareScenarioFlagNames); ++i) {
    AddScenarioFlag(c->cmd, PlanFlagNamed(kCompareScenarioFlagNames[i]), &c->values[i]);
  }
  c->cmd->add_option("--set", c->sets, "override any field of every scenario: dotted.key=value (repeatable)")
      ->check(kNonEmpty)
      ->allow_extra_args(false);
}

// CLI11's messages for a command line of the wrong shape, in the form every other refusal takes
// ("FIELD: expected ..., got ..."); a message of another form passes as CLI11 wrote it.
std::string CommandLineMessage(const std::string& what) {
  struct Form {
    std::regex pattern;
    const char* rewrite;
  };
  static const Form kForms[] = {
      {std::regex("^(\\S+): At Most (\\d+) required but received (\\d+)$"), "$1: expected at most $2 value, got $3"},
      {std::regex("^(\\S+): (\\d+) required (\\S+) missing$"), "$1: expected $2 $3 value, got none"},
      {std::regex("^The following arguments? (?:was|were) not expected: (.*)$"),
       "expected the verb's options and files (--help lists them), got $1"},
      {std::regex("^(\\S+) is required$"), "$1: expected a value, got none (--help says which)"},
      {std::regex("^Could not convert: (\\S+) = (.*)$"), "$1: expected no value (a switch; or =true, =false), got '$2'"},
  };
  for (const Form& f : kForms) {
    if (std::regex_match(what, f.pattern)) return std::regex_replace(what, f.pattern, f.rewrite);
  }
  return what;
}

// The words no verb took, in the order given (CLI11's own message lists them last first); a word
// that is empty or holds a space is quoted.
std::string UnexpectedWords(const CLI::App& app, const CLI::ParseError& e) {
  std::vector<std::string> words = app.remaining(true);
  if (words.empty()) return CommandLineMessage(e.what());
  for (std::string& w : words) {
    if (w.empty() || w.find_first_of(" \t") != std::string::npos) w = "'" + w + "'";
  }
  return fmt::format("expected the verb's options and files (--help lists them), got {}", fmt::join(words, " "));
}

// Runs the verb that was parsed; exit code 0, 1 or 2 as the contract says.
int RunParsed(PlanCommand* plan, CatalogCommand* catalog, ValidateCommand* validate, SearchCommand* search,
              CompareCommand* compare, const preflight::MpiSession& mpi) {
  std::string error;
  // Under mpirun only the search is split over the ranks; every other verb answers once, on rank 0.
  if (mpi.rank() != 0 && !search->cmd->parsed()) return 0;
  if (plan->cmd->parsed()) {
    if (!CollectOverrides(plan->values, plan->sets, &plan->args.overrides, &error)) {
      return preflight::cli::BadInput("command line: " + error);
    }
    return preflight::cli::RunPlan(plan->args);
  }
  if (catalog->cmd->parsed()) return preflight::cli::RunCatalog(catalog->args);
  if (validate->cmd->parsed()) {
    if (!CollectOverrides({}, validate->sets, &validate->args.overrides, &error)) {
      return preflight::cli::BadInput("command line: " + error);
    }
    return preflight::cli::RunValidate(validate->args);
  }
  if (compare->cmd->parsed()) {
    if (!CollectNamedOverrides(kCompareScenarioFlagNames, compare->values, compare->sets, &compare->args.overrides,
                               &error)) {
      return preflight::cli::BadInput("command line: " + error);
    }
    return preflight::cli::RunCompare(compare->args);
  }
  if (search->cmd->parsed()) {
    if (!CollectNamedOverrides(kSearchScenarioFlagNames, search->values, search->sets, &search->args.overrides,
                               &error)) {
      return preflight::cli::BadInput("command line: " + error);
    }
    return preflight::cli::RunSearch(search->args, mpi);
  }
  return preflight::cli::BadInput("expected a verb (see --help)");
}

// Whether `word`, the first argument, is one of the app's verbs (or an option, which CLI11 reads).
bool IsVerb(CLI::App& app, const std::string& word) {
  if (word.empty() || word[0] == '-') return true;
  const std::vector<CLI::App*> verbs = app.get_subcommands([](CLI::App*) { return true; });
  return std::any_of(verbs.begin(), verbs.end(), [&](CLI::App* v) { return v->get_name() == word; });
}

// The verbs there are, in the order they were added: "plan, catalog, validate, search".
std::string VerbList(CLI::App& app) {
  std::string verbs;
  for (CLI::App* v : app.get_subcommands([](CLI::App*) { return true; })) {
    verbs += (verbs.empty() ? "" : ", ") + v->get_name();
  }
  return verbs;
}

// A first word that is no verb: say so and which verbs there are (CLI11 would say only that a
// subcommand is required); the architecture's other verbs are reserved, not built yet.
int RefuseVerb(CLI::App& app, const std::string& word) {
  static const std::vector<std::string> kReserved = {"check", "simulate", "calibrate", "conform"};
  const std::string verbs = VerbList(app);
  if (std::find(kReserved.begin(), kReserved.end(), word) != kReserved.end()) {
    return preflight::cli::BadInput("command line: '" + word + "' is reserved by the architecture and not built yet (verbs: " +
                                    verbs + ")");
  }
  return preflight::cli::BadInput("command line: unknown verb '" + word + "' (expected one of " + verbs +
                                  "; --help lists them)");
}

// No verb at all: which there are, in the form of the other command-line errors (CLI11 would say
// only that a subcommand is required).
int MissingVerb(CLI::App& app) {
  return preflight::cli::BadInput("command line: expected a verb (one of " + VerbList(app) +
                                  "; --help lists them), got nothing");
}

// Output that could not be written (a full disk, a closed pipe) is a failed run, not a success
// with nothing said: one line on stderr and exit 1.
int CheckOutputWritten(int rc) {
  errno = 0;
  std::cout.flush();
  if (std::cout.good() && std::fflush(stdout) == 0) return rc;
  const int err = errno;
  std::cerr << "preflight: stdout: could not write the output" << (err != 0 ? std::string(" (") + std::strerror(err) + ")" : "")
            << "\n";
  return rc == 2 ? 2 : 1;
}

// $PREFLIGHT_DATA, when set, names the data directory: a wrong one would read as an empty catalog
// (no hardware, no models) without a word, and one without reliability/ fails every plan on the
// default failure profile. 0 when it is unset or holds those folders.
int CheckDataDirectory() {
  const char* env = std::getenv("PREFLIGHT_DATA");
  if (env == nullptr || *env == '\0') return 0;
  std::error_code ec;  // a name too long or a loop of links: not a directory, not an exception
  const auto has = [&](const char* folder) { return std::filesystem::is_directory(std::filesystem::path(env) / folder, ec); };
  if (has("hardware") && has("models") && has("reliability")) return 0;
  return preflight::cli::BadInput(std::string("PREFLIGHT_DATA: expected a data directory holding hardware/, models/ and "
                                              "reliability/ (a copy of the source tree's data/), got '") +
                                  env + "'");
}

// An option that takes a value followed by another of the verb's options (`--set --tp 4`, `--devices
// --json`): CLI11 would take the second as the first's value and then blame that value or the stray
// word after it, not the option that lacks one. Says which option does; 0 when none does, and when
// help is asked for (CLI11 answers that before any other word). Words after `--` are files.
int RefuseOptionAsValue(CLI::App& app, int argc, char** argv) {
  CLI::App* verb = nullptr;
  try {
    verb = app.get_subcommand(argv[1]);
  } catch (const CLI::OptionNotFound&) {
    return 0;
  }
  const auto option = [verb](const std::string& word) -> const CLI::Option* {
    if (word.size() < 2 || word[0] != '-') return nullptr;
    return verb->get_option_no_throw(word.substr(0, word.find('=')));  // `--tp=4` names --tp
  };
  const auto help = [](const std::string& word) { return word == "-h" || word == "--help"; };
  int end = argc;
  for (int i = 2; i < argc; ++i) {
    if (std::string(argv[i]) == "--") end = std::min(end, i);
    if (i < end && help(argv[i])) return 0;
  }
  for (int i = 2; i + 1 < end; ++i) {
    const std::string word = argv[i];
    const size_t equals = word.find('=');
    if (equals != std::string::npos && equals + 1 < word.size()) continue;  // its value is in the word
    const CLI::Option* takes = option(word);  // `--tp=` gives none: CLI11 takes the next word
    if (takes == nullptr || takes->get_items_expected_min() <= 0) continue;
    const std::string next = argv[i + 1];
    if (option(next) != nullptr) {
      return preflight::cli::BadInput(
          fmt::format("command line: {}: expected a value, got the option {}", word.substr(0, equals), next));
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A reader that closed its end of a pipe is output that could not be written: the write fails
  // (EPIPE) and CheckOutputWritten says so, where the signal killed the process without a word.
  std::signal(SIGPIPE, SIG_IGN);
  preflight::MpiSession mpi(&argc, &argv);
  // Under mpirun every rank reads the same input and meets the same error: rank 0 alone says it
  // (std::cerr without a buffer writes nothing; the exit code stays each rank's own).
  if (mpi.rank() != 0) std::cerr.rdbuf(nullptr);
  CLI::App app{"preflight: can this cluster train this model, how fast, at what cost, with which layout"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("preflight ") + PREFLIGHT_VERSION);
  PlanCommand plan;
  CatalogCommand catalog;
  ValidateCommand validate;
  SearchCommand search;
  CompareCommand compare;
  AddPlan(&app, &plan);
  AddCatalog(&app, &catalog);
  AddValidate(&app, &validate);
  AddSearch(&app, &search);
  AddCompare(&app, &compare);
  if (argc > 1 && !IsVerb(app, argv[1])) return RefuseVerb(app, argv[1]);
  if (argc == 1) return MissingVerb(app);
  if (const int bad = RefuseOptionAsValue(app, argc, argv); bad != 0) return bad;
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return CheckOutputWritten(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return CheckOutputWritten(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    return CheckOutputWritten(app.exit(e));
  } catch (const CLI::ExtrasError& e) {
    return preflight::cli::BadInput("command line: " + UnexpectedWords(app, e));
  } catch (const CLI::ParseError& e) {
    return preflight::cli::BadInput("command line: " + CommandLineMessage(e.what()));
  }
  if (const int bad = CheckDataDirectory(); bad != 0) return bad;
  const int rc = RunParsed(&plan, &catalog, &validate, &search, &compare, mpi);
  return CheckOutputWritten(rc);
}
