#include "preflight/report/hardware_report.h"

#include <fmt/format.h>

#include <vector>

#include "preflight/catalog/gemm_table.h"
#include "preflight/cost/step_time.h"

namespace preflight {
namespace {

using json = nlohmann::json;

json FigureJson(const Figure& f) {
  json j;
  if (f.known()) {
    j["value"] = f.value;
    j["source"] = f.source;
    if (f.proxy()) j["proxy_of"] = f.proxy_of;
    if (f.uncertain) j["uncertain"] = true;
  } else if (f.unsupported()) {
    j["unsupported"] = true;
    j["source"] = f.source;
  } else {
    j["unknown"] = true;
  }
  if (!f.note.empty()) j["note"] = f.note;
  return j;
}

std::string FigureText(const Figure& f, const char* unit) {
  if (f.known()) return fmt::format("{:g}{}", f.value, unit);
  return f.unsupported() ? "unsupported" : "unknown";
}

// The measured GEMM table by shape the catalog attaches to a device, or null: where it comes
// from, its clock (a burst table is scaled by the sustained ratio) and, per dtype, its best rate and
// the sizes it measured (beyond them the step model holds or extrapolates the edge).
json GemmTableJson(const HardwareSpec& h) {
  if (!h.gemm_table) return nullptr;
  const GemmTable& t = *h.gemm_table;
  json j = {{"file", t.file}, {"source", t.source}, {"clock", t.sustained ? "sustained" : "burst"},
            {"max_tflops", json::object()}, {"sizes", json::object()}};
  if (!t.proxy_of.empty()) j["proxy_of"] = t.proxy_of;
  for (int i = 0; i < kNumDtypes; ++i) {
    const Dtype dtype = static_cast<Dtype>(i);
    if (!t.Has(dtype)) continue;
    const auto [m, n, k] = t.Extent(dtype);
    j["max_tflops"][std::string(kDtypeNames[i])] = t.MaxRate(dtype) / 1e12;
    auto range = [](const std::pair<double, double>& r) {  // whole sizes (the loader checks)
      return json::array({static_cast<int64_t>(r.first), static_cast<int64_t>(r.second)});
    };
    j["sizes"][std::string(kDtypeNames[i])] = {{"m", range(m)}, {"n", range(n)}, {"k", range(k)}};
  }
  if (json origins = GemmGridOriginsJson(t); !origins.empty()) j["grid_origins"] = origins;
  return j;
}

}  // namespace

json GemmGridOriginsJson(const GemmTable& t) {
  json out = json::object();
  for (Dtype d : t.GridsWithOwnOrigin()) {
    json origin = {{"source", t.SourceOf(d)}};
    if (!t.ProxyOf(d).empty()) origin["proxy_of"] = t.ProxyOf(d);
    out[std::string(DtypeName(d))] = origin;
  }
  return out;
}

std::string GemmGridOriginText(const GemmTable& t, Dtype dtype) {
  return t.SourceOf(dtype) + (t.ProxyOf(dtype).empty() ? "" : ", measured on " + t.ProxyOf(dtype));
}

namespace {

// A kernel's rates by sequence length, as the catalog gives them: one entry per head dimension.
json AttentionCurvesJson(const AttentionCurves& curves) {
  json list = json::array();
  for (const AttentionCurve& c : curves.by_head_dim) {
    json rows = json::array();
    for (const AttentionCurve::Point& p : c.points) rows.push_back({p.seq_len, p.forward, p.backward});
    json j = {{"source", c.source}, {"rows", rows}};
    if (c.head_dim > 0) j["head_dim"] = static_cast<int64_t>(c.head_dim);
    if (!c.note.empty()) j["note"] = c.note;
    if (!c.proxy_of.empty()) j["proxy_of"] = c.proxy_of;
    list.push_back(j);
  }
  return list;
}

// The default fused-attention kernel's rates, its name and any other kernels measured.
json AttentionJson(const HardwareSpec& h) {
  json j = {{"forward", FigureJson(h.attention_fwd_tflops)}, {"backward", FigureJson(h.attention_bwd_tflops)}};
  if (!h.attention_kernel.empty()) j["kernel"] = h.attention_kernel;
  if (!h.attention_curves.empty()) j["by_seq_len"] = AttentionCurvesJson(h.attention_curves);
  for (const HardwareSpec::AttentionKernel& k : h.other_attention_kernels) {
    j["others"][k.name] = {{"forward", FigureJson(k.forward)}, {"backward", FigureJson(k.backward)}};
    if (!k.curves.empty()) j["others"][k.name]["by_seq_len"] = AttentionCurvesJson(k.curves);
  }
  return j;
}

// The axes a torus's slice rows give sides for (torus_slices is read only with known axes).
size_t TorusAxes(const HardwareSpec& h) {
  return h.scale_up_torus_dimensions.known() ? static_cast<size_t>(h.scale_up_torus_dimensions.value) : 3;
}

// The slice shapes of a torus as the file gives them (null where it gives none).
json TorusSlicesJson(const HardwareSpec& h) {
  if (h.torus_slices.empty()) return nullptr;
  const size_t axes = TorusAxes(h);
  json rows = json::array();
  for (const HardwareSpec::TorusSlice& s : h.torus_slices) {
    json sides = json::array();
    for (size_t a = 0; a < axes; ++a) sides.push_back(s.sides[a]);
    rows.push_back({{"sides", sides}, {"wraps", s.wraps}});
  }
  return {{"source", h.torus_slices_source}, {"rows", rows}};
}

// "2x2x1 (no wraparound), ..., 4x4x4, ..." for the text report.
std::string TorusSlicesText(const HardwareSpec& h) {
  const size_t axes = TorusAxes(h);
  std::string out;
  for (const HardwareSpec::TorusSlice& s : h.torus_slices) {
    if (!out.empty()) out += ", ";
    for (size_t a = 0; a < axes; ++a) out += fmt::format("{}{}", a ? "x" : "", s.sides[a]);
    if (!s.wraps) out += " (no wraparound)";
  }
  return out;
}

}  // namespace

json HardwareJson(const HardwareSpec& h) {
  json peaks;
  for (int i = 0; i < kNumDtypes; ++i) peaks[std::string(kDtypeNames[i])] = FigureJson(h.peak_tflops[i]);
  json gemm;
  for (int i = 0; i < kNumDtypes; ++i) {
    if (h.gemm_fraction[i].state != Figure::State::kUnknown || !h.gemm_fraction[i].note.empty()) {
      gemm[std::string(kDtypeNames[i])] = FigureJson(h.gemm_fraction[i]);
    }
  }
  json sustained;
  for (int i = 0; i < kNumDtypes; ++i) {
    if (h.sustained_fraction[i].known()) sustained[std::string(kDtypeNames[i])] = FigureJson(h.sustained_fraction[i]);
  }
  json price = {{"known", h.price.known}};
  if (h.price.known) {
    price = {{"known", true}, {"low", h.price.low_usd}, {"high", h.price.high_usd}, {"date", h.price.date},
             {"source", h.price.source}};
  }
  return {{"id", h.id},
          {"vendor", h.vendor},
          {"name", h.name},
          {"software_stack", h.software_stack},
          {"launch_year", FigureJson(h.launch_year)},
          {"peak_tflops", peaks},
          {"memory", {{"capacity_gib", FigureJson(h.hbm_capacity_gib)},
                      {"bandwidth_tbytes_per_s", FigureJson(h.hbm_bandwidth_tbytes_per_s)}}},
          {"scale_up", {{"name", h.scale_up_name},
                        {"unidirectional_gbytes_per_s", FigureJson(h.scale_up_gbytes_per_s)},
                        {"domain_devices", FigureJson(h.scale_up_domain_devices)},
                        {"topology", h.scale_up_full_mesh ? "full_mesh" : h.scale_up_torus ? "torus" : "switched"},
                        {"peer_gbytes_per_s", FigureJson(h.scale_up_peer_gbytes_per_s)},
                        {"torus_dimensions", FigureJson(h.scale_up_torus_dimensions)},
                        {"torus_slices", TorusSlicesJson(h)}}},
          {"scale_out", {{"gbits_per_s_per_device", FigureJson(h.scale_out_gbits_per_s)},
                         {"node_devices", FigureJson(h.node_devices)}}},
          {"compute_units", FigureJson(h.compute_units)},
          {"collective_compute_units", FigureJson(h.collective_compute_units)},
          {"power_w", FigureJson(h.power_w)},
          {"host_link_gbytes_per_s", FigureJson(h.host_link_gbytes_per_s)},
          {"price_usd_per_device_hour", price},
          {"efficiency", {{"gemm_fraction", gemm},
                          {"sustained_fraction", sustained.is_null() ? json::object() : sustained},
                          {"hbm_fraction", FigureJson(h.hbm_fraction)},
                          {"gemm_kernel_us", FigureJson(h.gemm_kernel_us)},
                          {"gemm_odd_width_slowdown", FigureJson(h.gemm_odd_width_slowdown)},
                          {"gemm_unaligned_width_slowdown",
                           {{"four_byte_rows", FigureJson(h.gemm_4_byte_rows_slowdown)},
                            {"eight_byte_rows", FigureJson(h.gemm_8_byte_rows_slowdown)}}},
                          {"allreduce_busbw_gbytes_per_s",
                           {{"scale_up", FigureJson(h.allreduce_busbw_scale_up_gbytes_per_s)},
                            {"scale_out", FigureJson(h.allreduce_busbw_scale_out_gbytes_per_s)}}},
                          {"fused_attention_tflops", AttentionJson(h)},
                          {"gemm_table", GemmTableJson(h)}}}};
}

namespace {

// How a dtype with a sustained figure of its own scales its burst figures: by sustained / burst,
// the burst figure its own or its 16-bit partner's (BurstGemmFraction), or not at all.
std::string ScaledText(const HardwareSpec& h, Dtype d) {
  if (!BurstGemmFraction(h, d).known()) return "no burst figure: the large-GEMM rate itself";
  const Dtype burst = GemmFigureDtype(h, h.gemm_fraction, d);
  const std::string against = burst == d ? "" : fmt::format(", against {}'s burst figure", DtypeName(burst));
  return fmt::format("burst figures scaled by {:.3f}{}", SustainedRatio(h, d), against);
}

// Each dtype's sustained GEMM figure and the factor its burst figures are scaled by; a dtype
// without one takes its 16-bit partner's or another's factor (SustainedRatio).
std::string SustainedText(const HardwareSpec& h) {
  std::string known;
  for (int i = 0; i < kNumDtypes; ++i) {
    const Figure& sustained = h.sustained_fraction[i];
    if (!sustained.known()) continue;
    known += fmt::format("{}{} GEMM {} ({})", known.empty() ? "" : "; ", kDtypeNames[i], FigureText(sustained, ""),
                         ScaledText(h, static_cast<Dtype>(i)));
  }
  return known.empty()
             ? std::string("sustained at the power limit: unknown (burst figures used; an upper bound on speed)\n")
             : "sustained at the power limit: " + known +
                   "; bf16 and fp16 take each other's figures where their peaks are equal (one tensor-core rate), and a "
                   "dtype still without both scales its burst figures by the factor of the first of bf16, fp8, fp4, fp16 "
                   "and tf32 with both (the clock at the power limit is the device's)\n";
}

// Peaks, memory, links, price, achieved rates, sustained rates, overlap and host link.
std::string FiguresText(const HardwareSpec& h) {
  std::string out = fmt::format("{} — {} {} ({})\n", h.id, h.vendor, h.name, h.software_stack);
  out += "dense peak TFLOP/s:";
  for (int i = 0; i < kNumDtypes; ++i) {
    out += fmt::format(" {} {}", kDtypeNames[i], FigureText(h.peak_tflops[i], ""));
  }
  out += "\n";
  out += fmt::format("HBM {} at {} TB/s\n", FigureText(h.hbm_capacity_gib, " GiB"),
                     FigureText(h.hbm_bandwidth_tbytes_per_s, ""));
  out += fmt::format("scale-up {}: {} GB/s per direction, domain {} devices\n", h.scale_up_name,
                     FigureText(h.scale_up_gbytes_per_s, ""), FigureText(h.scale_up_domain_devices, ""));
  if (!h.torus_slices.empty()) out += "torus slices: " + TorusSlicesText(h) + "\n";
  out += fmt::format("scale-out {} Gb/s per device; power {} W\n", FigureText(h.scale_out_gbits_per_s, ""),
                     FigureText(h.power_w, ""));
  if (h.price.known) {
    out += fmt::format("price ${:.2f}-{:.2f} per device-hour ({}; {})\n", h.price.low_usd,
                       h.price.high_usd, h.price.date, h.price.source);
  } else {
    out += "price unknown\n";
  }
  out += fmt::format("achieved: bf16 GEMM {}, HBM {}, all-reduce busbw scale-up {} GB/s, scale-out {} GB/s\n",
                     FigureText(h.gemm_fraction[DtypeIndex(Dtype::kBf16)], ""),
                     FigureText(h.hbm_fraction, ""),
                     FigureText(h.allreduce_busbw_scale_up_gbytes_per_s, ""),
                     FigureText(h.allreduce_busbw_scale_out_gbytes_per_s, ""));
  out += SustainedText(h);
  out += h.collective_compute_units.known() && h.compute_units.known()
             ? fmt::format("overlapped communication: a collective holds {} of {} compute units while it runs\n",
                           FigureText(h.collective_compute_units, ""), FigureText(h.compute_units, ""))
             : std::string("overlapped communication: compute units a collective holds unknown (hidden "
                           "communication costs no compute; a lower bound on time)\n");
  out += fmt::format("host link (activation offload copies): {} GB/s host to device\n",
                     FigureText(h.host_link_gbytes_per_s, ""));
  return out;
}

// The fused-attention kernels' rates, with their curves by sequence length.
std::string AttentionText(const HardwareSpec& h) {
  std::string out;
  out += fmt::format("fused attention{}: forward {} TFLOP/s, backward {} TFLOP/s",
                     h.attention_kernel.empty() ? "" : " (" + h.attention_kernel + ")",
                     FigureText(h.attention_fwd_tflops, ""), FigureText(h.attention_bwd_tflops, ""));
  for (const HardwareSpec::AttentionKernel& k : h.other_attention_kernels) {
    out += fmt::format("; {} {}/{}", k.name, FigureText(k.forward, ""), FigureText(k.backward, ""));
  }
  out += h.other_attention_kernels.empty() ? "\n" : " (training.attention_kernel)\n";
  std::vector<HardwareSpec::AttentionKernel> kernels{*h.AttentionRates("")};
  kernels.insert(kernels.end(), h.other_attention_kernels.begin(), h.other_attention_kernels.end());
  for (const HardwareSpec::AttentionKernel& k : kernels) {
    for (const AttentionCurve& c : k.curves.by_head_dim) {
      out += fmt::format("  {}{} by sequence length (forward/backward TFLOP/s):", k.name.empty() ? "default" : k.name,
                         c.head_dim > 0 ? fmt::format(", head dim {:.0f},", c.head_dim) : "");
      for (const AttentionCurve::Point& p : c.points) {
        out += fmt::format(" {:.0f}: {:.0f}/{:.0f}", p.seq_len, p.forward, p.backward);
      }
      out += fmt::format(" ({})\n", c.source);
    }
  }
  return out;
}

// The GEMM table by shape, or what times GEMMs without one.
std::string GemmText(const HardwareSpec& h) {
  std::string out;
  out += h.gemm_table ? fmt::format("GEMM by shape: {} ({}){}\n", h.gemm_table->file, h.gemm_table->source,
                                    h.gemm_table->proxy_of.empty() ? "" : ", measured on " + h.gemm_table->proxy_of)
                      : fmt::format("GEMM by shape: no measured table (large-GEMM efficiency{})\n",
                                    h.compute_units.known() ? " and waves" : "; no SM count, so no waves");
  for (Dtype d : h.gemm_table ? h.gemm_table->GridsWithOwnOrigin() : std::vector<Dtype>{}) {
    out += fmt::format("  its {} grid: {}\n", DtypeName(d), GemmGridOriginText(*h.gemm_table, d));
  }
  const Figure& fixed = h.gemm_kernel_us;
  out += fixed.known() ? fmt::format("GEMM kernel: {:g} us per kernel beyond the large-GEMM rate{}, for a dtype without a measured table{}\n",
                                     fixed.value, h.compute_units.known() ? " and its waves" : "",
                                     fixed.proxy() ? ", measured on " + fixed.proxy_of : "")
                       : std::string("GEMM kernel: no fixed time measured (none charged)\n");
  const Figure& odd = h.gemm_odd_width_slowdown;
  out += odd.known() ? fmt::format("GEMM with an odd dimension (16-bit): {:g}x the aligned time{}\n", odd.value,
                                   odd.proxy() ? ", measured on " + odd.proxy_of : "")
                     : std::string("GEMM with an odd dimension: no slowdown measured (none charged)\n");
  const Figure& four = h.gemm_4_byte_rows_slowdown;
  const Figure& eight = h.gemm_8_byte_rows_slowdown;
  if (four.known() || eight.known()) {
    const auto ratio = [](const Figure& f) { return f.known() ? fmt::format("{:g}x", f.value) : std::string("not measured"); };
    out += fmt::format("GEMM with an even dimension no multiple of 8 (16-bit): {} (2 mod 4), {} (4 mod 8){}\n",
                       ratio(four), ratio(eight),
                       four.proxy() || eight.proxy() ? ", measured on " + (four.proxy() ? four.proxy_of : eight.proxy_of) : "");
  } else {
    out += "GEMM with an even dimension no multiple of 8: no slowdown measured (none charged)\n";
  }
  return out;
}

// The source of every figure the file gives (--json holds them with the figures; the price's is on
// the price line above), a labelled proxy marked with
// the device it was measured on and a value its source doubts marked uncertain.
std::string SourcesText(const HardwareSpec& h) {
  std::string out;
  out += "sources:\n";
  auto add = [&](const std::string& what, const Figure& f) {
    if (!f.known() && !f.unsupported()) return;
    const std::string marks = (f.proxy() ? " [proxy: measured on " + f.proxy_of + "]" : std::string()) +
                              (f.uncertain ? " [uncertain]" : "");
    out += fmt::format("  {}{}: {}\n", what, marks, f.source);
  };
  for (int i = 0; i < kNumDtypes; ++i) add(std::string(kDtypeNames[i]) + " peak", h.peak_tflops[i]);
  add("launch year", h.launch_year);
  add("HBM capacity", h.hbm_capacity_gib);
  add("HBM bandwidth", h.hbm_bandwidth_tbytes_per_s);
  add("scale-up", h.scale_up_gbytes_per_s);
  add("scale-up domain", h.scale_up_domain_devices);
  add("scale-up per peer", h.scale_up_peer_gbytes_per_s);
  add("scale-up torus axes", h.scale_up_torus_dimensions);
  if (!h.torus_slices.empty()) out += "  torus slices: " + h.torus_slices_source + "\n";
  add("scale-out", h.scale_out_gbits_per_s);
  add("devices per node", h.node_devices);
  add("power", h.power_w);
  add("host link", h.host_link_gbytes_per_s);
  add("compute units", h.compute_units);
  add("compute units a collective holds", h.collective_compute_units);
  for (int i = 0; i < kNumDtypes; ++i) {
    add(std::string(kDtypeNames[i]) + " GEMM efficiency", h.gemm_fraction[i]);
    add(std::string(kDtypeNames[i]) + " sustained GEMM efficiency", h.sustained_fraction[i]);
  }
  add("HBM efficiency", h.hbm_fraction);
  add("GEMM kernel fixed time", h.gemm_kernel_us);
  add("odd-width GEMM slowdown", h.gemm_odd_width_slowdown);
  add("GEMM slowdown, widths 2 mod 4", h.gemm_4_byte_rows_slowdown);
  add("GEMM slowdown, widths 4 mod 8", h.gemm_8_byte_rows_slowdown);
  add("all-reduce busbw scale-up", h.allreduce_busbw_scale_up_gbytes_per_s);
  add("all-reduce busbw scale-out", h.allreduce_busbw_scale_out_gbytes_per_s);
  const std::string kernel = h.attention_kernel.empty() ? "fused attention" : h.attention_kernel;
  add(kernel + " forward", h.attention_fwd_tflops);
  add(kernel + " backward", h.attention_bwd_tflops);
  for (const HardwareSpec::AttentionKernel& k : h.other_attention_kernels) {
    add(k.name + " forward", k.forward);
    add(k.name + " backward", k.backward);
  }
  return out;
}

}  // namespace

std::string HardwareText(const HardwareSpec& h) {
  return FiguresText(h) + AttentionText(h) + GemmText(h) + SourcesText(h);
}

}  // namespace preflight
