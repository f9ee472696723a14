#include "search_command.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "commands.h"
#include "preflight/report/plan_report.h"
#include "preflight/scenario/evaluate.h"

namespace preflight::cli {
namespace {

// Redraws one status line on stderr every 200 ms once the search has run for a second.
class ProgressBar {
 public:
  ProgressBar(SearchProgress* progress, bool enabled) : progress_(progress) {
    if (enabled) thread_ = std::thread([this] { Loop(); });
  }
  ~ProgressBar() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (drawn_) std::cerr << "\r\033[K" << std::flush;
  }

 private:
  void Loop() {
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return done_; })) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (s < 1.0) continue;
      const double n = static_cast<double>(progress_->considered.load());
      const double best = progress_->best.load();
      std::cerr << fmt::format("\r\033[Ksearch: {:.3g} plans, {:.3g} plans/s, {} valid, best {}", n, n / s,
                               progress_->valid.load(), best > 0 ? fmt::format("{:.4g}", best) : "-")
                << std::flush;
      drawn_ = true;
    }
  }

  SearchProgress* progress_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool drawn_ = false;
};

PlanResult EvaluateRanked(const Scenario& s, const RankedPlan& r) {
  Scenario at = s;
  at.plan = r.plan;
  at.auto_parallel = false;
  return Evaluate(at, {});
}

nlohmann::json PlanEntryJson(const Scenario& s, const RankedPlan& r) {
  const PlanResult evaluated = EvaluateRanked(s, r);
  nlohmann::json full = PlanJson(evaluated);
  return {{"objective", r.objective}, {"plan", full["plan"]}, {"memory", full["memory"]},
          {"time", full["time"]}, {"campaign", full["campaign"]},
          {"possibly_host_bound", evaluated.possibly_host_bound}};
}

// Says so when the campaign figures count the default 1e12 tokens (no training.tokens given).
std::string TokensNote(const Scenario& s) {
  return s.job.tokens > 0 ? "" : "note: training.tokens not given: days, cost and energy count 1e12 tokens\n";
}

// Says which of the plans listed hold more devices than they use, which cost bills.
std::string HeldNote(const Scenario& s, const SearchResult& r) {
  std::string held;
  for (size_t i = 0; i < r.top.size(); ++i) {
    const int64_t n = DevicesHeld(s.cluster, r.top[i].plan);
    if (n > s.cluster.devices) held += fmt::format("{}#{} holds {}", held.empty() ? "" : ", ", i + 1, n);
  }
  if (held.empty()) return "";
  return fmt::format("note: cost bills the devices a plan holds, idle ones included (the rest of each scale-up domain\n"
                     "its tiles leave unused): of {} devices, {}\n",
                     s.cluster.devices, held);
}

// Says when a plan listed leaves less than a tenth of device memory free: the memory estimate ran
// low on the measured peak-memory rows (docs/validation.md), so such a plan may not fit.
std::string HeadroomNote(const Scenario& s, const SearchResult& r) {
  const double capacity = s.cluster.hbm_capacity.value();
  if (r.top.empty() || capacity <= 0) return "";
  size_t tightest = 0;
  for (size_t i = 1; i < r.top.size(); ++i) {
    if (r.top[i].memory.worst.Total().value() > r.top[tightest].memory.worst.Total().value()) tightest = i;
  }
  const double headroom = 1.0 - r.top[tightest].memory.worst.Total().value() / capacity;
  if (headroom >= 0.1) return "";
  return fmt::format("note: plan #{} leaves {:.1f}% of device memory free; the memory estimate ran low on the measured\n"
                     "peak-memory rows (docs/validation.md): --min-headroom 0.1 keeps a margin\n",
                     tightest + 1, 100 * headroom);
}

std::string PlanRow(const RankedPlan& r) {
  const Plan& p = r.plan;
  // "bal": the layers do not divide over the stages and are spread (parallel.layer_split: balanced);
  // "hsdpN": ZeRO shards over N of the DP ranks (parallel.dp_shard).
  return fmt::format("tp{:<2} cp{:<2} pp{:<3} vpp{:<2} dp{:<5} ep{:<3} etp{:<2} sp{} zero{} {:<11} {:<14} mb{:<3}{}{}",
                     p.tp, p.cp, p.pp, p.vpp, p.dp, p.ep, p.etp, p.sp ? 1 : 0, p.zero,
                     ScheduleName(p.schedule), RecomputeLabel(p), p.micro_batch, p.balanced_layers ? " bal" : "",
                     p.dp_shard > 0 && p.dp_shard < p.dp ? fmt::format(" hsdp{}", p.dp_shard) : std::string());
}

std::string SearchText(const Scenario& s, const SearchResult& r, Objective o) {
  std::string out = fmt::format(
      "{} on {} x {}: {} plans in {:.3f} s ({:.3g} plans/s), {} valid and fitting, {} through the cost model\n",
      s.arch.name, s.cluster.devices, s.cluster.spec.id, r.considered, r.elapsed_s,
      r.considered / std::max(r.elapsed_s, 1e-9), r.valid, r.model_evaluations);
  out += "rejected:";
  for (int i = 1; i < kNumRejectReasons; ++i) {
    if (r.rejected[i] > 0) out += fmt::format(" {} {}", RejectReasonName(i), r.rejected[i]);
  }
  out += fmt::format("\n\n{:>3}  {:<97} {:>9} {:>10} {:>6} {:>8}  {} ({})\n", "#", "plan", "step s", "tok/s/dev",
                     "MFU", "mem GiB", ObjectiveName(o), ObjectiveUnit(o, s));
  int rank = 1;
  for (const RankedPlan& p : r.top) {
    out += fmt::format("{:>3}  {:<97} {:>9.3f} {:>10.1f} {:>5.1f}% {:>8.1f}  {:.4g}\n", rank++, PlanRow(p),
                       p.time.step.value(), p.time.tokens_per_s_per_device, 100 * p.time.mfu,
                       p.memory.worst.Total().gib(), p.objective);
  }
  if (r.top.empty() && r.considered == 0) {
    out += "no layout of the search space meets the constraints (a fixed degree outside it? the domain bounds\n"
           "TP unless --max-tp widens it, and EP needs experts)\n";
  } else if (r.top.empty()) {
    out += "no valid plan fits: see the rejection counts above\n";
  }
  if (ObjectiveUnit(o, s) == "device_hours") {
    out += fmt::format("\nnote: the catalog has no {} for {}: ranked by device-hours, the same order\n",
                       o == Objective::kCost ? "price" : "power", s.cluster.spec.id);
  }
  if (o == Objective::kCost) out += HeldNote(s, r);
  if (o == Objective::kCost || o == Objective::kDays || o == Objective::kEnergy) out += TokensNote(s);
  if (s.plan.first_stage_layers > 0 || s.plan.last_stage_layers > 0) {
    out += "note: the search splits layers evenly (or balanced) and leaves the scenario's first_stage_layers and\n"
           "last_stage_layers aside; to re-run a plan with `plan`, set both to 0\n";
  }
  out += HeadroomNote(s, r);
  // The scenario's settings that the command line dropped, or that change nothing (as `plan` warns).
  for (const std::string& w : s.idle_settings) out += "warning: " + w + "\n";
  // The ranking rests on the assumed host cost per kernel when the best plan's kernels are short.
  if (!r.top.empty()) {
    const PlanResult best = EvaluateRanked(s, r.top.front());
    for (const std::string& w : best.warnings) {
      if (best.possibly_host_bound && w.rfind("possibly host-bound", 0) == 0) out += "\nwarning (plan #1): " + w + "\n";
    }
  }
  return out;
}

nlohmann::json SearchJson(const Scenario& s, const SearchResult& r, Objective o) {
  nlohmann::json rejected = nlohmann::json::object();
  for (int i = 1; i < kNumRejectReasons; ++i) rejected[std::string(RejectReasonName(i))] = r.rejected[i];
  nlohmann::json plans = nlohmann::json::array();
  for (const RankedPlan& p : r.top) plans.push_back(PlanEntryJson(s, p));
  return {{"evaluated", r.considered}, {"valid", r.valid}, {"model_evaluations", r.model_evaluations},
          {"elapsed_s", r.elapsed_s}, {"plans_per_s", r.considered / std::max(r.elapsed_s, 1e-9)},
          {"objective", std::string(ObjectiveName(o))}, {"objective_unit", std::string(ObjectiveUnit(o, s))},
          {"rejected", rejected}, {"plans", plans}};
}

nlohmann::json OptionalJson(const std::optional<double>& v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }

// `v` formatted with `format`, else `missing`.
std::string OptionalText(const std::optional<double>& v, fmt::format_string<const double&> format, const char* missing) {
  return v ? fmt::format(format, *v) : missing;
}

// What the sweep's front (`*`) compares.
std::string ParetoNote(ParetoBasis basis) {
  if (basis == ParetoBasis::kP50Held) {
    return "pareto (*): P50 days against P50 device-hours held (failures, restarts and the devices each plan's\n"
           "tiles leave idle in its scale-up domains counted)\n";
  }
  return "pareto (*): ideal days against ideal device-hours held (not every point has a failure outlook:\n"
         "reliability: none, or a run that does not finish)\n";
}

// Every rank takes part in each count's search; rank 0 holds the merged answers.
std::vector<SweepPoint> SweepAll(const Scenario& s, const std::vector<int64_t>& counts, const SearchArgs& args,
                                 const SearchOptions& opts, const MpiSession& mpi) {
  return SweepDevices(s, counts, args.constraints, opts,
                      [&mpi](const Scenario& at, const SearchConstraints& c, const SearchOptions& one) {
                        return DistributedSearch(at, c, one, mpi);
                      });
}

// Rank 0 prints the sweep (after the progress line is gone).
int PrintSweep(const Scenario& s, const std::vector<SweepPoint>& points, const SearchArgs& args, Objective o,
               const MpiSession& mpi) {
  if (mpi.rank() != 0) return 0;
  const ParetoBasis basis = SweepParetoBasis(points);
  nlohmann::json arr = nlohmann::json::array();
  std::string text = fmt::format("{:>8} {:>8}  {:<97} {:>9} {:>10} {:>10} {:>12} {:>14} {:>14} {:>14}  {}\n", "devices",
                                 "held", "best plan", "step s", "days", "P50 days", "device-h", "cost (mid) $",
                                 "P50 held dev-h", "P50 cost $", "pareto");
  for (const SweepPoint& p : points) {
    if (!p.found) {
      text += fmt::format("{:>8} {:>8}  no valid plan fits\n", p.devices, "-");
      arr.push_back({{"devices", p.devices}, {"found", false}});
      continue;
    }
    Scenario at = s;
    at.cluster.devices = p.devices;
    nlohmann::json entry = PlanEntryJson(at, p.best);
    entry["devices"] = p.devices;
    entry["found"] = true;
    entry["days"] = p.days;
    entry["device_hours"] = p.device_hours;
    entry["cost_usd_mid"] = p.cost_usd_mid ? nlohmann::json(*p.cost_usd_mid) : nlohmann::json(nullptr);
    entry["devices_held"] = p.devices_held;
    entry["days_p50"] = OptionalJson(p.days_p50);
    entry["device_hours_held_p50"] = OptionalJson(p.device_hours_held_p50);
    entry["cost_usd_mid_p50"] = OptionalJson(p.cost_usd_mid_p50);
    entry["on_pareto_front"] = p.on_pareto_front;
    arr.push_back(entry);
    // The P50 figures count failures, checkpoints and restarts ("-" with reliability: none).
    text += fmt::format("{:>8} {:>8}  {:<97} {:>9.3f} {:>10.2f} {:>10} {:>12.4g} {:>14} {:>14} {:>14}  {}\n", p.devices,
                        p.devices_held, PlanRow(p.best), p.best.time.step.value(), p.days,
                        OptionalText(p.days_p50, "{:.2f}", "-"), p.device_hours,
                        OptionalText(p.cost_usd_mid, "{:.4g}", "no price"),
                        OptionalText(p.device_hours_held_p50, "{:.4g}", "-"),
                        OptionalText(p.cost_usd_mid_p50, "{:.4g}", p.days_p50 ? "no price" : "-"),
                        p.on_pareto_front ? "*" : "");
  }
  text += ParetoNote(basis);
  std::cout << (args.json ? JsonText(nlohmann::json{{"objective", std::string(ObjectiveName(o))},
                                                    {"objective_unit", std::string(ObjectiveUnit(o, s))},
                                                    {"pareto_basis", std::string(ParetoBasisName(basis))},
                                                    {"sweep", arr}})
                          : text + TokensNote(s));
  bool any = false;
  for (const SweepPoint& p : points) any = any || p.found;
  return any ? 0 : 1;
}

bool ApplyConstraintFlags(SearchArgs* args, std::string* error) {
  SearchConstraints& c = args->constraints;
  if (!args->fix_schedule.empty()) {
    Schedule s;
    if (!ParseSchedule(args->fix_schedule, &s)) return *error = "--fix-schedule: expected gpipe|1f1b|interleaved|zb-h1|dualpipe, got '" + args->fix_schedule + "'", false;
    c.schedule = s;
  }
  if (!args->fix_recompute.empty()) {
    Recompute r;
    // The search enumerates Megatron's modes only (search.cc): the op-level, dots and named
    // policies are for a given layout.
    if (!ParseRecompute(args->fix_recompute, &r) || r == Recompute::kSelectiveOp || r == Recompute::kDots ||
        r == Recompute::kNames) {
      return *error = "--fix-recompute: expected none|selective|full, got '" + args->fix_recompute + "'", false;
    }
    c.recompute = r;
  }
  if (!args->fix_sp.empty()) {
    if (args->fix_sp != "true" && args->fix_sp != "false") return *error = "--fix-sp: expected true or false, got '" + args->fix_sp + "'", false;
    c.sp = args->fix_sp == "true";
  }
  if (!(c.min_headroom >= 0 && c.min_headroom < 1)) {
    return *error = fmt::format("--min-headroom: expected a fraction in [0, 1), got {}", c.min_headroom), false;
  }
  if (args->threads < 0 || args->threads > kMaxThreads) {
    return *error = fmt::format("--threads: expected 0 (every core) to {}, got {}", kMaxThreads, args->threads), false;
  }
  const std::pair<const char*, int64_t> limits[] = {{"--max-tp", c.max_tp}, {"--max-pp", c.max_pp}, {"--max-cp", c.max_cp},
                                                    {"--max-ep", c.max_ep}, {"--max-micro-batch", c.max_micro_batch}};
  for (const auto& [flag, v] : limits) {
    if (v < 0) {
      const char* zero = std::string_view(flag) == "--max-tp" ? "the scale-up domain" : "no limit";
      return *error = fmt::format("{}: expected a whole number from 0 (0: {}), got {}", flag, zero, v), false;
    }
  }
  const std::pair<const char*, std::optional<int64_t>> fixed[] = {{"--fix-tp", c.tp}, {"--fix-pp", c.pp}, {"--fix-cp", c.cp},
                                                                  {"--fix-dp", c.dp}, {"--fix-ep", c.ep}, {"--fix-vpp", c.vpp}};
  for (const auto& [flag, v] : fixed) {
    if (v && *v < 1) return *error = fmt::format("{}: expected a positive whole number, got {}", flag, *v), false;
  }
  if (c.zero && (*c.zero < 0 || *c.zero > 3)) {
    return *error = fmt::format("--fix-zero: expected 0, 1, 2 or 3, got {}", *c.zero), false;
  }
  if (args->top < 1 || args->top > 1000) {
    return *error = fmt::format("--top: expected a whole number from 1 to 1000, got {}", args->top), false;
  }
  return true;
}

}  // namespace

bool ParseDeviceList(const std::string& spec, std::vector<int64_t>* out, std::string* error) {
  auto number = [&](const std::string& t, int64_t* v) {
    try {
      size_t used = 0;
      long long x = std::stoll(t, &used);
      if (used != t.size() || x <= 0 || x > kMaxClusterDevices) return false;
      *v = x;
      return true;
    } catch (const std::exception&) {
      return false;
    }
  };
  *error = "--devices: expected N, A..B, A..B:STEP or a comma-separated list of at most " + std::to_string(kMaxSweepCounts) +
           " counts from 1 to " + std::to_string(kMaxClusterDevices) + ", got '" + spec + "'";
  out->clear();
  const size_t dots = spec.find("..");
  if (dots != std::string::npos) {
    int64_t a, b, step = 0;
    std::string rest = spec.substr(dots + 2);
    const size_t colon = rest.find(':');
    if (colon != std::string::npos) {
      if (!number(rest.substr(colon + 1), &step)) return false;
      rest = rest.substr(0, colon);
    }
    if (!number(spec.substr(0, dots), &a) || !number(rest, &b) || b < a) return false;
    for (int64_t n = a; n <= b; n = step > 0 ? n + step : n * 2) {
      if (out->size() == kMaxSweepCounts) return false;
      out->push_back(n);
    }
    return true;
  }
  size_t start = 0;
  while (start <= spec.size()) {
    size_t comma = spec.find(',', start);
    if (comma == std::string::npos) comma = spec.size();
    int64_t v;
    if (!number(spec.substr(start, comma - start), &v)) return false;
    if (out->size() == kMaxSweepCounts) return false;
    out->push_back(v);
    start = comma + 1;
  }
  return !out->empty();
}

int RunSearch(SearchArgs args, const MpiSession& mpi) {
  std::string error;
  if (!ApplyConstraintFlags(&args, &error)) return BadInput("command line: " + error);
  Objective objective;
  if (!ParseObjective(args.objective, &objective)) {
    return BadInput("command line: --objective: expected step_time|cost|days|energy, got '" + args.objective + "'");
  }
  std::vector<int64_t> counts;
  if (!args.devices.empty()) {
    if (!ParseDeviceList(args.devices, &counts, &error)) return BadInput("command line: " + error);
    args.overrides.push_back({"cluster.devices", std::to_string(counts.front())});
  }
  Catalog catalog = Catalog::Default();
  auto scenario = LoadScenarioFile(args.scenario, catalog, args.overrides);
  if (!scenario.ok()) return BadInput(scenario.status().message());
  // DeepSpeed's 16-bit gradient copy comes with its own ZeRO-1 optimizer (plan refuses it at 2 or 3).
  if (args.constraints.zero && *args.constraints.zero > MaxZeroStage(scenario->job)) {
    return BadInput(fmt::format("--fix-zero: expected 0 or 1 with {}'s training.grad_16bit_copy (DeepSpeed's "
                                "BF16_Optimizer runs its own ZeRO-1), got {}",
                                args.scenario, *args.constraints.zero));
  }

  // Each count's space, before any search runs (a sweep's last count is often its largest).
  for (int64_t n : counts.empty() ? std::vector<int64_t>{scenario->cluster.devices} : counts) {
    Scenario at = *scenario;
    at.cluster.devices = n;
    int64_t layouts = 0;
    if (!SearchSpaceWithin(at, args.constraints, kMaxSearchLayouts, "the search", &layouts, &error)) {
      return BadInput(error);
    }
  }

  SearchProgress progress;
  SearchOptions opts;
  opts.objective = objective;
  opts.top_k = args.top;
  opts.threads = args.threads;
  opts.progress = &progress;
  opts.exhaustive = args.exhaustive;
  opts.distinct = args.distinct;
  const bool show = !args.json && !args.no_progress && isatty(STDERR_FILENO) && mpi.rank() == 0;
  if (counts.size() > 1) {
    std::vector<SweepPoint> points;
    {
      ProgressBar bar(&progress, show);  // cleared before the table prints
      points = SweepAll(*scenario, counts, args, opts, mpi);
    }
    return PrintSweep(*scenario, points, args, objective, mpi);
  }
  SearchResult result;
  {
    ProgressBar bar(&progress, show);
    result = DistributedSearch(*scenario, args.constraints, opts, mpi);
  }
  if (mpi.rank() != 0) return 0;
  std::cout << (args.json ? JsonText(SearchJson(*scenario, result, objective))
                          : SearchText(*scenario, result, objective));
  return result.top.empty() ? 1 : 0;
}

}  // namespace preflight::cli
