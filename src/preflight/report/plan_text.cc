// plan's text for a terminal (PlanText, report/plan_report.h).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "preflight/cost/collectives.h"
#include "preflight/cost/step_time.h"
#include "preflight/report/internal/plan_facts.h"
#include "preflight/report/plan_report.h"

namespace preflight {
using report_internal::AttentionBlockTokens;
using report_internal::AttentionKernelInUse;
using report_internal::Dollars;
using report_internal::IntervalRule;
using report_internal::PlacementText;

namespace {

// Where a plan reads the kernel's curves beyond what was measured, and which way that errs:
// shorter blocks or narrower heads run slower than the nearest measured rate (an upper bound on
// speed), wider heads faster (a lower bound); empty when the plan is inside the curves.
std::string AttentionCurveLimits(const Scenario& s, double block) {
  const std::optional<HardwareSpec::AttentionKernel> k = s.cluster.spec.AttentionRates(s.job.attention_kernel);
  if (!k || k->curves.empty()) return "";
  const std::vector<AttentionCurve>& c = k->curves.by_head_dim;
  double shortest = c.front().points.front().seq_len;
  for (const AttentionCurve& curve : c) shortest = std::min(shortest, curve.points.front().seq_len);
  std::string out;
  if (block < shortest) {
    out += fmt::format("; blocks shorter than the shortest measured ({:.0f} tokens) run at its rate, an upper "
                       "bound on speed", shortest);
  }
  const double d = FlashHeadDim(s.arch);
  if (c.size() > 1 && d < c.front().head_dim) {
    out += fmt::format("; heads of {:.0f} run at the narrowest measured curve ({:.0f}), an upper bound on speed", d,
                       c.front().head_dim);
  } else if (c.size() > 1 && d > c.back().head_dim) {
    out += fmt::format("; heads of {:.0f} run at the widest measured curve ({:.0f}), a lower bound on speed", d,
                       c.back().head_dim);
  }
  return out;
}

// plan's line naming the measured collective curves a scenario supplied (cluster.collective_table)
// and the groups they time.
std::string CollectiveTableText(const CollectiveTable& t) {
  std::string groups;
  for (const CollectiveTable::Curve& c : t.curves()) {
    groups += fmt::format("{}{} over {}", groups.empty() ? "" : ", ", kCollectiveOpNames[static_cast<int>(c.op)], c.ranks);
    if (c.ranks_per_domain < c.ranks) groups += fmt::format(" ({} per domain)", c.ranks_per_domain);
  }
  return fmt::format("           measured collectives: {} ({}): {}; they time the groups that match them "
                     "(same operation, ranks and ranks per domain), the model the rest\n",
                     t.file, t.source, groups);
}

std::string Gib(Bytes b) { return fmt::format("{:8.2f} GiB", b.gib()); }

// Where the GEMM rates come from: a measured table by shape (a device's data/gemm/ file, or
// cluster.gemm_table), or the large-GEMM rate and its waves where the device has none (a hardware
// file of one's own under a new id has none until one is named) or the table has no grid for the
// job's GEMM dtype (an fp4 run on a table measured in bf16 and fp8).
std::string GemmSourceText(const HardwareSpec& h, Dtype gemm) {
  if (!h.gemm_table) {
    return "           GEMMs at the large-GEMM rate and its waves: no table by shape for this device (data/gemm/, "
           "cluster.gemm_table)\n";
  }
  const GemmTable& t = *h.gemm_table;
  const Dtype table_dtype = t.GridFor(gemm);
  const std::vector<Dtype> read = GemmGridsRead(t, gemm);
  // Where the grids it reads were measured: the file's device, or each grid's own where one says so.
  std::string measured_on = t.proxy_of.empty() ? "" : "measured on " + t.proxy_of;
  if (std::any_of(read.begin(), read.end(), [&](Dtype d) { return t.HasOwnOrigin(d); })) {
    measured_on.clear();
    for (Dtype d : read) {
      if (t.ProxyOf(d).empty()) continue;
      measured_on += fmt::format("{}its {} grid measured on {}", measured_on.empty() ? "" : "; ", DtypeName(d), t.ProxyOf(d));
    }
  }
  const std::string file = t.file + (measured_on.empty() ? "" : " (" + measured_on + ")");
  if (!t.Has(table_dtype)) {
    return fmt::format("           {} GEMMs at the large-GEMM rate and its waves: {} has no {} grid{}\n",
                       DtypeName(gemm), file, DtypeName(gemm),
                       t.Has(Dtype::kBf16) ? "; the 16-bit ones by shape from it" : "");
  }
  return fmt::format("           GEMMs by shape: {}\n", file);
}

// The scenario, model and hardware lines of `plan`'s text.
std::string ModelAndHardwareText(const PlanResult& r) {
  const Scenario& s = r.scenario;
  std::string out;
  out += fmt::format("scenario   {}\n", s.name);
  out += fmt::format("model      {} ({}): {:.3f} B params total, {:.3f} B active per token\n",
                     s.arch.name, s.arch.model_type, r.params.total / 1e9, r.params.active / 1e9);
  if (r.params.mtp > 0) {
    out += fmt::format("           + {:.3f} B in {} MTP module(s): {:.3f} B with MTP\n",
                       r.params.mtp / 1e9, s.arch.mtp_layers, r.params.TotalWithMtp() / 1e9);
  }
  out += fmt::format("           {:.4g} model FLOPs per token (3 x forward, full attention, seq {})\n",
                     r.ops.model_flops_per_token, s.job.seq_len);
  out += fmt::format("hardware   {} x {} ({:.1f} GiB each, {} per node, scale-up domain {}{})\n",
                     s.cluster.devices, s.cluster.spec.id, s.cluster.hbm_capacity.gib(),
                     s.cluster.devices_per_node, s.cluster.scale_up_domain, PlacementText(s));
  if (s.cluster.collectives) out += CollectiveTableText(*s.cluster.collectives);
  out += GemmSourceText(s.cluster.spec, s.cluster.spec.GemmDtype(s.job.precision));
  return out;
}

// The software-stack lines: attention kernel, eager elementwise ops, the loss, the MoE dispatcher.
std::string KernelsText(const Scenario& s) {
  std::string out;
  if (const std::string k = AttentionKernelInUse(s); !k.empty()) {
    const double len = AttentionBlockTokens(s);
    out += fmt::format("           fused attention: {}{}{}\n", k,
                       s.job.attention_kernel.empty() ? "" : " (training.attention_kernel)",
                       len >= 1 ? fmt::format(", at its measured rate for {:.0f}-token blocks and heads of {:.0f}{}",
                                             len, FlashHeadDim(s.arch), AttentionCurveLimits(s, len))
                               : "");
  }
  if (!s.job.elementwise_fusion) {
    out += "           elementwise: eager PyTorch, op by op (training.elementwise_fusion: false)\n";
  }
  if (s.job.cross_entropy == CrossEntropy::kPytorch) {
    out += "           loss: PyTorch's F.cross_entropy on fp32 logits (training.cross_entropy: pytorch)\n";
  } else if (s.job.cross_entropy == CrossEntropy::kCompiled) {
    out += "           loss: F.cross_entropy under torch.compile, the fp32 upcast fused "
           "(training.cross_entropy: compiled)\n";
  }
  if (s.job.precision == Dtype::kFp8 && s.job.fp8_saved_inputs) {
    out += "           activations: FP8 GEMMs keep 1-byte casts of their inputs for the weight gradient "
           "(training.fp8_saved_inputs)\n";
  } else if (s.job.precision == Dtype::kFp4 && s.job.fp8_saved_inputs) {
    out += "           activations: NVFP4 GEMMs keep 4-bit casts of their inputs (and a scale byte per 16) for "
           "the weight gradient (training.fp8_saved_inputs)\n";
  }
  if (s.job.low_precision_activations) {
    out += "           activations: the attention output kept once in 12 bits (E5M6) and the experts' SwiGLU "
           "inputs in FP8, as DeepSeek-V3 stores them (training.low_precision_activations)\n";
  }
  if (s.job.fp8_dispatch && s.plan.ep > 1) {
    out += "           experts: tokens dispatched as FP8 casts, combined in 16 bits (training.fp8_dispatch)\n";
  }
  if (s.job.grad_16bit_copy && s.job.precision != Dtype::kFp32 && s.plan.zero <= 1) {
    out += "           gradients: 16-bit copies kept beside the fp32 ones until the next backward "
           "(training.grad_16bit_copy)\n";
  }
  if (s.job.ep_node_dedup && s.arch.IsMoe()) {
    const std::string& links = s.cluster.spec.scale_up_name;
    out += "           experts: DeepEP dispatch, each token over the network once per node its experts are on, "
           "then over the scale-up links" + (links.empty() ? std::string() : " (" + links + ")") +
           " (training.ep_dispatcher: deepep)\n";
  }
  return out;
}

// The host-profile line, when the scenario names one.
std::string HostProfileText(const Scenario& s) {
  if (!s.job.host_profile) return "";
  const HostProfile& h = *s.job.host_profile;
  const std::string input =
      h.input_after_sync.value() > 0 || h.input_before_sync.value() > 0
          ? fmt::format(", input path {:.0f} us before and {:.0f} us after the host waits for the GPU",
                        h.input_before_sync.value() * 1e6, h.input_after_sync.value() * 1e6)
          : "";
  const std::string waits =
      h.gpu_waits_per_layer_forward > 0
          ? fmt::format("; the layers wait for the GPU {} times per forward, so forward and backward are "
                        "each bound by their slower side and the GPU idles after each wait until the "
                        "host's next launch",
                        h.gpu_waits_per_layer_forward)
          : "";
  std::string calls;
  if (h.collective_call.value() > 0) {
    calls = fmt::format(" (at TP 1; {:.0f} us per collective call the plan adds)", h.collective_call.value() * 1e6);
  } else if (s.plan.tp > 1 || s.plan.ep > 1) {
    calls = " (at TP 1; the profile does not time collective calls, so at this TP/EP it is a lower bound)";
  }
  return fmt::format("           host time: {} ({}): {:.0f} us per layer and micro-batch{}, {:.0f} us around the "
                     "layers{}; the GPU waits where its work is shorter{}\n",
                     h.id, h.source, h.LayerSeconds(s.plan.recompute == Recompute::kFull).value() * 1e6, calls,
                     h.micro_batch.value() * 1e6, input, waits);
}

// The plan and batch lines.
// Named checkpoints in the plan line: what the device keeps and what host memory holds.
std::string NamesLabel(const Plan& p) {
  if (p.recompute != Recompute::kNames) return RecomputeLabel(p);
  const auto list = [](uint32_t bits) { return bits == 0 ? std::string("none") : SavedTensorNames(bits); };
  return fmt::format("names (saved {}; offloaded {})", list(p.recompute_saved), list(p.recompute_offloaded));
}

std::string LayoutText(const Scenario& s) {
  const Plan& p = s.plan;
  std::string out;
  out += fmt::format("plan       tp {} pp {} vpp {} dp {} cp {} ep {} etp {} sp {} zero {} schedule {} "
                     "recompute {}{}\n",
                     p.tp, p.pp, p.vpp, p.dp, p.cp, p.ep, p.etp, p.sp ? "on" : "off", p.zero,
                     ScheduleName(p.schedule),
                     p.recompute == Recompute::kSelective
                         ? fmt::format("selective ({})", RecomputeModuleNames(p.recompute_modules))
                         : NamesLabel(p),
                     (p.cpu_offload_layers > 0 ? fmt::format(" cpu-offload {} layers", p.cpu_offload_layers)
                                               : std::string()) +
                         (p.dp_shard > 0 && p.dp_shard < p.dp
                              ? fmt::format(" hsdp: zero over {} DP ranks{}, {} replicas", p.dp_shard,
                                            p.cp > 1 ? fmt::format(" x CP {}", p.cp) : std::string(), p.DpReplicas())
                              : std::string()));
  // A batch the layout cannot split (the plan's INVALID line says why) has no micro-batch count.
  const int64_t m = MicroBatches(p, s.job);
  out += fmt::format("batch      {} sequences of {} tokens, micro-batch {}{}\n", s.job.global_batch, s.job.seq_len,
                     p.micro_batch, m > 0 ? fmt::format(", {} micro-batches per pipeline", m) : std::string());
  return out;
}

// The memory table of the most loaded stage.
std::string MemoryText(const PlanResult& r) {
  const MemoryBreakdown& b = r.memory.worst;
  std::string out;
  out += fmt::format("memory     per device, pipeline stage {} (the most loaded):\n", r.memory.worst_stage);
  out += fmt::format("  weights      {}\n  gradients    {}\n  optimizer    {}\n", Gib(b.weights),
                     Gib(b.gradients), Gib(b.optimizer));
  out += fmt::format("  activations  {}   ({:.2f} micro-batches in flight)\n", Gib(b.activations),
                     r.memory.in_flight_micro_batches);
  out += fmt::format("  other        {}\n", Gib(b.other));
  if (b.optimizer_step.value() > 0) {
    out += fmt::format("  step copy    {}   (the optimizer step's fp32 copy of the 16-bit gradients, beyond the training peak)\n",
                       Gib(b.optimizer_step));
  }
  out += fmt::format("  total        {} of {} -> {} ({:+.1f}% headroom)\n", Gib(b.Total()), Gib(r.memory.capacity),
                     r.memory.fits ? "FITS" : "DOES NOT FIT", 100 * r.memory.headroom_fraction);
  return out;
}

// The step time with its breakdown, and the throughput line.
std::string TimeText(const StepTime& t) {
  std::string out;
  // A step under 10 ms (a small model) in milliseconds, where three decimals of seconds would print 0.
  const bool ms = t.step.value() < 1e-2;
  const double k = ms ? 1e3 : 1.0;
  out += fmt::format("time       step {:.3f} {}: compute {:.3f}, elementwise {:.3f}, exposed comm {:.3f} "
                     "(tp {:.3f} cp {:.3f} ep {:.3f} pp {:.3f} dp {:.3f}), bubble {:.3f}, optimizer {:.3f}",
                     k * t.step.value(), ms ? "ms" : "s", k * t.compute.value(), k * t.other.value(),
                     k * t.exposed_comm.Total().value(), k * t.exposed_comm.tp.value(), k * t.exposed_comm.cp.value(),
                     k * t.exposed_comm.ep.value(), k * t.exposed_comm.pp.value(), k * t.exposed_comm.dp.value(),
                     k * t.bubble.value(), k * t.optimizer.value());
  if (t.comm_contention.value() > 0) {
    out += fmt::format(", overlapped-comm contention {:.3f}", k * t.comm_contention.value());
  }
  if (t.host_launch.value() > 0) {
    out += fmt::format("; of the elementwise time, waiting for the host {:.3f}", k * t.host_launch.value());
  }
  if (t.offload_copies.value() > 0) {
    out += fmt::format("; of the elementwise time, offload copies not hidden {:.3f}", k * t.offload_copies.value());
  }
  out += "\n";
  out += fmt::format("           {:.0f} tokens/s ({:.1f} per device), {:.1f} model TFLOP/s per device, "
                     "MFU {:.1f}% (HFU {:.1f}%)\n",
                     t.tokens_per_s, t.tokens_per_s_per_device, t.tflops_per_device, 100 * t.mfu,
                     100 * t.hfu);
  return out;
}

// One kind of layer, per micro-batch: its products, elementwise passes and what the GPU waits in it.
std::string LayerText(const char* kind, const LayerTime& l) {
  const double ms = 1e3;
  std::string out = fmt::format("           {} layer, per micro-batch {:.3f} ms: products forward {:.3f} (attention {:.3f}), "
                                "backward {:.3f} (attention {:.3f}), recomputed {:.3f}; elementwise {:.3f}",
                                kind, ms * l.total.value(), ms * l.forward.value(), ms * l.attention_forward.value(),
                                ms * l.backward.value(), ms * l.attention_backward.value(), ms * l.recompute.value(),
                                ms * l.elementwise.value());
  const ExposedComm& c = l.exposed_comm;
  if (c.Total().value() > 0) {
    out += fmt::format("; exposed comm {:.3f} (tp {:.3f} cp {:.3f} ep {:.3f})", ms * c.Total().value(),
                       ms * c.tp.value(), ms * c.cp.value(), ms * c.ep.value());
  }
  if (l.contention.value() > 0) out += fmt::format("; contention {:.3f}", ms * l.contention.value());
  if (l.host_wait.value() > 0) out += fmt::format("; waiting for the host {:.3f}", ms * l.host_wait.value());
  return out + "\n";
}

std::string LayersText(const LayerTimes& l) {
  std::string out;
  if (l.has_dense) out += LayerText(l.has_moe ? "dense" : "each", l.dense);
  if (l.has_moe) out += LayerText(l.has_dense ? "MoE" : "each (MoE)", l.moe);
  return out;
}

// What the devices held through the P50 days bill, where the catalog has a price, and the energy
// with the work failures make the job do again, where it has a power.
std::string HeldText(const Campaign& c) {
  const double held = c.DeviceHoursHeldP50(), ideal_h = c.device_hours;
  std::string out = fmt::format("           held through P50: {:.3g} device-hours", held);
  if (c.cost_known && ideal_h > 0) out += ", " + Dollars(held * c.cost_usd_low / ideal_h, held * c.cost_usd_high / ideal_h);
  if (c.energy_known && c.outlook.rework_mean.value() > 0) {
    out += fmt::format("; {:.4g} MWh with the work redone", c.EnergyWithReworkMwh());
  }
  return out + "\n";
}

// The line of a run that does not finish: its work and checkpoints alone outlast the horizon.
std::string TooLongText() {
  constexpr double kSecondsPerYear = 365.25 * 86400;
  return fmt::format("           the run does not finish: its work and checkpoints alone take more than {:.3g} s "
                     "(about {:.0f} years)\n", kMaxRunSeconds, kMaxRunSeconds / kSecondsPerYear);
}

// The failures line: the profile's job MTBF, checkpoints and restarts, and what they make of the run.
std::string FailuresText(const Campaign& c) {
  if (!c.outlook_known) return "";
  const FailureModel& m = c.failures;
  const RunOutlook& o = c.outlook;
  const std::string own = fmt::format("{}", fmt::join(FiguresFromScenario(*c.reliability), ", "));
  std::string out = fmt::format("failures   {}{} ({:.4g} node{} of {:g}): ", c.reliability->id,
                                own.empty() ? "" : " with the scenario's " + own, m.nodes, m.nodes == 1 ? "" : "s",
                                c.reliability->devices_per_node.value);
  const double mtbf_h = m.JobMtbf().value() / 3600;
  if (!std::isfinite(mtbf_h)) {
    out += "no failures expected";
    if (std::isfinite(o.interval.value())) {
      out += fmt::format("; checkpoint {:.3g} GB stalls {:.3g} s every {:.3g} min (given)", c.checkpoint_size.value() / 1e9,
                         m.checkpoint.value(), o.interval.value() / 60);
    }
    out += "\n";
    if (o.too_long) return out + TooLongText();
    if (!o.finishes) return out + "           the run does not finish: its planned stops come faster than it trains between them\n";
    // Without checkpoints or planned stops the days are the ideal ones, printed on the campaign line.
    if (!(o.planned_mean > 0) && !(o.checkpoints > 0 && m.checkpoint.value() > 0)) return out;
    const std::string planned = o.planned_mean > 0 ? fmt::format(", {:.3g} planned stops expected", o.planned_mean) : "";
    return out +
           fmt::format("           {:.4g} days P50, {:.4g} P90; goodput {:.1f}%{}\n", o.wall_p50.value() / 86400,
                       o.wall_p90.value() / 86400, 100 * o.goodput, planned) +
           HeldText(c);
  }
  const std::string rule = IntervalRule(c);
  const double nominal = (m.detection + m.restart).value() / 60, downtime = m.Downtime().value() / 60;
  // A failure striking a restart sends it back to detection: said where it adds a tenth of a minute.
  std::string retried;
  if (!std::isfinite(downtime)) {
    retried = " (a restart never completes: failures come faster)";
  } else if (downtime - nominal >= 0.05) {
    retried = fmt::format(" ({:.3g} min with the failures that strike restarts)", downtime);
  }
  out += fmt::format("job MTBF {:.3g} h; checkpoint {:.3g} GB stalls {:.3g} s every {:.3g} min ({}); "
                     "detection + restart {:.3g} min{}\n",
                     mtbf_h, c.checkpoint_size.value() / 1e9, m.checkpoint.value(), o.interval.value() / 60,
                     rule == "daly" ? "Daly" : rule, nominal, retried);
  if (o.too_long) return out + TooLongText();
  if (!o.finishes) {
    // The cause is whichever the failures strike more often: a restart (detection and restart) or
    // a stretch of work between checkpoints (the interval and its stall).
    const double segment_min = (o.interval + m.checkpoint).value() / 60;
    const bool restarts = !std::isfinite(downtime) || nominal >= segment_min;
    return out + (restarts ? "           the run does not finish: failures come faster than a restart completes\n"
                           : "           the run does not finish: failures come faster than a checkpoint interval completes\n");
  }
  return out + fmt::format("           {:.4g} days P50, {:.4g} P90; goodput {:.1f}%, {:.3g} failures ({:.3g} days of work "
                           "redone) and {:.3g} planned stops expected\n",
                           o.wall_p50.value() / 86400, o.wall_p90.value() / 86400, 100 * o.goodput, o.failures_mean,
                           o.rework_mean.value() / 86400, o.planned_mean) +
         HeldText(c);
}

// The campaign line: days, device-hours, cost and energy where the catalog knows them.
std::string CampaignText(const Campaign& c, double pue) {
  std::string out = fmt::format("campaign   {:.3g} tokens in {:.4g} days (no failures), {:.3g} device-hours",
                                c.tokens, c.days_ideal, c.device_hours);
  if (c.cost_known) out += ", " + Dollars(c.cost_usd_low, c.cost_usd_high);
  if (c.devices_held > c.devices) {
    out += fmt::format(", holding {} devices (the rest of each scale-up domain it fills", c.devices_held);
    if (c.cost_known) {
      out += fmt::format("; the cost is the job's {} devices', {} for all held", c.devices,
                         Dollars(c.cost_usd_low * c.HeldShare(), c.cost_usd_high * c.HeldShare()));
    }
    out += ")";
  }
  if (c.energy_known) out += fmt::format(", {:.4g} MWh (accelerators at rated power) at PUE {:.2f}", c.energy_mwh, pue);
  return out + "\n" + FailuresText(c);
}

// "mean error 10.7%, bias +3.0%, 90% within 19.9%, worst -50.5% (its row)" of `e` (runs > 0).
std::string ErrorSummaryText(const ErrorSummary& e) {
  return fmt::format("mean error {:.1f}%, bias {:+.1f}%, 90% within {:.1f}%, worst {:+.1f}% ({})", 100 * e.mape,
                     100 * e.bias, 100 * e.p90_abs_error, 100 * e.worst_error, e.worst);
}

std::string Runs(int64_t n) { return fmt::format("{} measured run{}", n, n == 1 ? "" : "s"); }

// The device's errors on measured runs (`validate` over data/validation/), or that none checks it.
std::string AccuracyText(const PlanResult& r) {
  const std::string& id = r.scenario.cluster.spec.id;
  if (!r.accuracy || (r.accuracy->time.runs == 0 && r.accuracy->memory.runs == 0)) {
    return fmt::format("accuracy   no measured run on {} in preflight's validation (data/accuracy/): nothing "
                       "has checked these figures on this device\n",
                       id);
  }
  const DeviceAccuracy& a = *r.accuracy;
  std::string out = "accuracy   ";
  out += a.time.runs == 0 ? fmt::format("no measured step time on {}", id)
                          : fmt::format("step time on {} on {} (negative: predicted fast): {}", Runs(a.time.runs), id,
                                        ErrorSummaryText(a.time));
  out += "\n";
  std::string second;
  if (a.memory.runs > 0) second = "peak memory on " + Runs(a.memory.runs) + ": " + ErrorSummaryText(a.memory);
  if (a.ran_but_predicted_oom > 0) {
    second += (second.empty() ? "" : "; ") + fmt::format("{} that trained predicted not to fit",
                                                         Runs(a.ran_but_predicted_oom));
  }
  if (!second.empty()) out += "           " + second + "\n";
  return out;
}

}  // namespace

std::string PlanText(const PlanResult& r) {
  const Scenario& s = r.scenario;
  std::string out = ModelAndHardwareText(r) + KernelsText(s) + HostProfileText(s) + LayoutText(s);
  out += r.check.ok() ? MemoryText(r) : fmt::format("INVALID    {}\n", r.check.message);
  if (r.has_time) out += TimeText(r.time) + LayersText(r.layers) + CampaignText(r.campaign, s.cluster.pue);
  if (r.accuracy_checked && r.check.ok()) out += AccuracyText(r);
  for (const std::string& w : r.warnings) out += "warning    " + w + "\n";
  return out;
}

}  // namespace preflight
