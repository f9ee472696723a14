#include "preflight/catalog/hardware_spec.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <set>
#include <sstream>

namespace preflight {

std::string_view DtypeName(Dtype d) { return kDtypeNames[DtypeIndex(d)]; }

bool ParseDtype(std::string_view name, Dtype* out) {
  for (int i = 0; i < kNumDtypes; ++i) {
    if (kDtypeNames[i] == name) {
      *out = static_cast<Dtype>(i);
      return true;
    }
  }
  return false;
}

namespace {

// "<file>: <field>: expected <expected>, got <value>", for a number read out of a nested figure
// (`field` is its dotted path from the top of the file).
Status ValueError(const MapReader& r, const std::string& field, const std::string& expected, double value) {
  std::ostringstream m;
  // 15 digits: a value just past a bound (1.0000001 against 1) reads as given, not rounded onto it.
  m << std::setprecision(15) << r.file() << ": " << field << ": expected " << expected << ", got " << value;
  return InvalidArgument(m.str());
}

// A known figure that is a whole count from 1 to 1e6 (devices, compute units), else an error naming
// `field`.
Status CheckWholeCount(const MapReader& r, const std::string& field, const Figure& f, const std::string& what) {
  if (!f.known() || (f.value >= 1 && f.value <= 1e6 && f.value == std::floor(f.value))) return Status::Ok();
  return ValueError(r, field, "a whole number of " + what + " from 1 to 1e6", f.value);
}

// A known figure within [lo, hi], else an error naming `field`.
Status CheckRange(const MapReader& r, const std::string& field, const Figure& f, double lo, double hi) {
  if (!f.known() || (f.value >= lo && f.value <= hi)) return Status::Ok();
  std::ostringstream m;
  m << std::setprecision(10) << "a number from " << lo << " to " << hi;
  return ValueError(r, field, m.str(), f.value);
}

StatusOr<Figure> ParseSourced(const MapReader& r, Figure::State state) {
  Figure f;
  f.state = state;
  ASSIGN_OR_RETURN(f.source, r.String("source"));
  if (f.source.empty()) return r.Error("source", "a non-empty source");
  ASSIGN_OR_RETURN(f.note, r.StringOr("note", ""));
  return f;
}

}  // namespace

const Figure* WidthSlowdownFigure(const HardwareSpec& h, int64_t width, std::string_view* field) {
  const int64_t r = ((width % 8) + 8) % 8;
  if (r == 0) return nullptr;
  std::string_view key = "efficiency.gemm_odd_width_slowdown";
  const Figure* f = &h.gemm_odd_width_slowdown;
  if (r == 4) {
    key = "efficiency.gemm_unaligned_width_slowdown.eight_byte_rows", f = &h.gemm_8_byte_rows_slowdown;
  } else if (r % 2 == 0) {
    key = "efficiency.gemm_unaligned_width_slowdown.four_byte_rows", f = &h.gemm_4_byte_rows_slowdown;
  }
  if (field != nullptr) *field = key;
  return f;
}

StatusOr<Figure> ParseFigure(const MapReader& parent, std::string_view key,
                             bool allow_unsupported) {
  ASSIGN_OR_RETURN(MapReader r, parent.Map(key));
  if (r.Has("unknown")) {
    RETURN_IF_ERROR(r.CheckKnownKeys({"unknown", "note", "source"}));
    ASSIGN_OR_RETURN(bool unknown, r.Bool("unknown"));
    if (!unknown) return r.Error("unknown", "true (or give value and source instead)");
    Figure f;
    ASSIGN_OR_RETURN(f.note, r.StringOr("note", ""));
    return f;
  }
  if (r.Has("unsupported")) {
    if (!allow_unsupported) return r.Error("unsupported", "a figure (unsupported is only for dtypes)");
    RETURN_IF_ERROR(r.CheckKnownKeys({"unsupported", "note", "source"}));
    ASSIGN_OR_RETURN(bool unsupported, r.Bool("unsupported"));
    if (!unsupported) return r.Error("unsupported", "true");
    return ParseSourced(r, Figure::State::kUnsupported);
  }
  RETURN_IF_ERROR(r.CheckKnownKeys({"value", "source", "note", "proxy_of", "uncertain"}));
  ASSIGN_OR_RETURN(Figure f, ParseSourced(r, Figure::State::kValue));
  ASSIGN_OR_RETURN(f.value, r.Number("value"));
  ASSIGN_OR_RETURN(f.uncertain, r.BoolOr("uncertain", false));
  if (f.value < 0) return r.Error("value", "a non-negative number");
  RETURN_IF_ERROR(ParseProxyOf(r, &f.proxy_of));
  return f;
}

Status ParseProxyOf(const MapReader& r, std::string* out) {
  if (!r.Has("proxy_of")) return Status::Ok();
  ASSIGN_OR_RETURN(std::string id, r.String("proxy_of"));
  const bool id_chars = std::all_of(id.begin(), id.end(), [](char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
  });
  if (id.empty() || id.size() > 100 || !id_chars) {
    return r.Error("proxy_of", "the catalog id of the device the figure was measured on (lowercase letters, digits, '-', '_', '.')");
  }
  *out = std::move(id);
  return Status::Ok();
}

namespace {

Status ParseDtypeTable(const MapReader& parent, std::string_view key, bool all_required,
                       bool allow_unsupported, std::array<Figure, kNumDtypes>* out) {
  ASSIGN_OR_RETURN(MapReader r, parent.Map(key));
  RETURN_IF_ERROR(r.CheckKnownKeys({"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"}));
  for (int i = 0; i < kNumDtypes; ++i) {
    if (!r.Has(kDtypeNames[i])) {
      if (all_required) return r.Error(kDtypeNames[i], "a figure ({value, source} or {unknown: true})");
      continue;
    }
    ASSIGN_OR_RETURN((*out)[i], ParseFigure(r, kDtypeNames[i], allow_unsupported));
  }
  return Status::Ok();
}

// "YYYY-MM", or "YYYY" where the source gives no month.
bool IsPriceDate(const std::string& d) {
  auto digits = [&d](size_t from, size_t n) {
    for (size_t i = from; i < from + n; ++i) {
      if (d[i] < '0' || d[i] > '9') return false;
    }
    return true;
  };
  if (d.size() == 4) return digits(0, 4);
  if (d.size() != 7 || !digits(0, 4) || d[4] != '-' || !digits(5, 2)) return false;
  const int month = (d[5] - '0') * 10 + (d[6] - '0');
  return month >= 1 && month <= 12;
}

Status ParsePrice(const MapReader& parent, PriceRange* out) {
  ASSIGN_OR_RETURN(MapReader r, parent.Map("price_usd_per_device_hour"));
  if (r.Has("unknown")) {
    RETURN_IF_ERROR(r.CheckKnownKeys({"unknown", "note"}));
    ASSIGN_OR_RETURN(bool unknown, r.Bool("unknown"));
    if (!unknown) return r.Error("unknown", "true (or give low, high, date and source instead)");
    ASSIGN_OR_RETURN(out->note, r.StringOr("note", ""));
    return Status::Ok();
  }
  RETURN_IF_ERROR(r.CheckKnownKeys({"low", "high", "date", "source", "note"}));
  out->known = true;
  ASSIGN_OR_RETURN(out->low_usd, r.Number("low"));
  ASSIGN_OR_RETURN(out->high_usd, r.Number("high"));
  if (out->low_usd <= 0) return ValueError(r, r.FieldName("low"), "a price above 0", out->low_usd);
  if (out->high_usd < out->low_usd) return ValueError(r, r.FieldName("high"), "at least low", out->high_usd);
  ASSIGN_OR_RETURN(out->date, r.String("date"));
  if (!IsPriceDate(out->date)) {
    return r.Error("date", "the month the price was read, \"YYYY-MM\" (or \"YYYY\" where the source gives no month)");
  }
  ASSIGN_OR_RETURN(out->source, r.String("source"));
  ASSIGN_OR_RETURN(out->note, r.StringOr("note", ""));
  return Status::Ok();
}

// A forward and a backward rate of one kernel: each above 0 and at most the 16-bit dense peak.
Status ParseAttentionRates(const MapReader& a, const HardwareSpec& h, Figure* forward, Figure* backward) {
  ASSIGN_OR_RETURN(*forward, ParseFigure(a, "forward", false));
  ASSIGN_OR_RETURN(*backward, ParseFigure(a, "backward", false));
  const Figure& peak = h.peak(Dtype::kBf16).known() ? h.peak(Dtype::kBf16) : h.peak(Dtype::kFp16);
  for (const auto& [key, f] : {std::pair<const char*, const Figure*>{"forward", forward}, {"backward", backward}}) {
    if (!f->known()) continue;
    if (f->value <= 0 || (peak.known() && f->value > peak.value)) {
      return ValueError(a, a.FieldName(std::string(key) + ".value"), "TFLOP/s above 0 and at most the 16-bit dense peak",
                        f->value);
    }
  }
  return Status::Ok();
}

// One curve: {head_dim (optional), source, note (optional), rows: [[sequence length, forward,
// backward], ...]}: at least two rows, lengths strictly increasing, rates as ParseAttentionRates
// checks them.
Status ParseOneAttentionCurve(const MapReader& c, const HardwareSpec& h, AttentionCurve* curve) {
  RETURN_IF_ERROR(c.CheckKnownKeys({"head_dim", "source", "rows", "note", "proxy_of"}));
  RETURN_IF_ERROR(ParseProxyOf(c, &curve->proxy_of));
  if (c.Has("head_dim")) {
    const StatusOr<int64_t> d = c.Int("head_dim");
    if (!d.ok() || *d < 1 || *d > 4096) return c.Error("head_dim", "a whole head dimension from 1 to 4096");
    curve->head_dim = static_cast<double>(*d);
  }
  ASSIGN_OR_RETURN(curve->source, c.String("source"));
  if (curve->source.empty()) return c.Error("source", "where the rates were measured");
  ASSIGN_OR_RETURN(curve->note, c.StringOr("note", ""));
  ASSIGN_OR_RETURN(auto rows, c.NumberRows("rows", 3, "[sequence length, forward TFLOP/s, backward TFLOP/s]"));
  if (rows.size() < 2) return c.Error("rows", "at least two [sequence length, forward, backward] rows");
  const Figure& peak = h.peak(Dtype::kBf16).known() ? h.peak(Dtype::kBf16) : h.peak(Dtype::kFp16);
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::vector<double>& r = rows[i];
    const auto bad = [&](const std::string& expected, double got) {
      return InvalidArgument(c.file() + ": " + c.FieldName("rows") + "[" + std::to_string(i) + "]: expected " +
                             expected + ", got " + (std::ostringstream() << std::setprecision(15) << got).str());
    };
    if (r[0] < 1) return bad("a sequence length of at least 1", r[0]);
    if (i > 0 && r[0] <= rows[i - 1][0]) return bad("sequence lengths strictly increasing", r[0]);
    for (double rate : {r[1], r[2]}) {
      if (!(rate >= 1e-3) || (peak.known() && rate > peak.value)) {
        return bad("TFLOP/s of at least 1e-3 and at most the 16-bit dense peak", rate);
      }
    }
    curve->points.push_back({r[0], r[1], r[2]});
  }
  return Status::Ok();
}

// by_seq_len, optional: one curve (a mapping), or a list of curves each with its head_dim, head
// dimensions strictly increasing.
Status ParseAttentionCurves(const MapReader& a, const HardwareSpec& h, AttentionCurves* curves) {
  if (!a.Has("by_seq_len")) return Status::Ok();
  const YAML::Node node = a.node()["by_seq_len"];
  if (node.IsMap()) {
    ASSIGN_OR_RETURN(MapReader c, a.Map("by_seq_len"));
    curves->by_head_dim.emplace_back();
    return ParseOneAttentionCurve(c, h, &curves->by_head_dim.back());
  }
  if (!node.IsSequence() || node.size() == 0) {
    return a.Error("by_seq_len", "a curve {head_dim, source, rows} or a list of them, one per head dimension");
  }
  for (size_t i = 0; i < node.size(); ++i) {
    const std::string field = "by_seq_len[" + std::to_string(i) + "]";
    MapReader c(node[i], a.file(), a.FieldName(field));
    RETURN_IF_ERROR(c.ExpectMap());
    AttentionCurve curve;
    RETURN_IF_ERROR(ParseOneAttentionCurve(c, h, &curve));
    if (!c.Has("head_dim")) return c.Error("head_dim", "the head dimension of each curve in a list");
    if (i > 0 && curve.head_dim <= curves->by_head_dim.back().head_dim) {
      return c.Error("head_dim", "head dimensions strictly increasing along the list");
    }
    curves->by_head_dim.push_back(std::move(curve));
  }
  return Status::Ok();
}

// efficiency.fused_attention_tflops: {kernel: name, forward: Figure, backward: Figure,
// by_seq_len: curve, others: {name: {forward, backward, by_seq_len}}}, optional.
Status ParseAttention(const MapReader& r, HardwareSpec* h) {
  if (!r.Has("fused_attention_tflops")) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader a, r.Map("fused_attention_tflops"));
  RETURN_IF_ERROR(a.CheckKnownKeys({"kernel", "forward", "backward", "by_seq_len", "others"}));
  ASSIGN_OR_RETURN(h->attention_kernel, a.StringOr("kernel", ""));
  RETURN_IF_ERROR(ParseAttentionRates(a, *h, &h->attention_fwd_tflops, &h->attention_bwd_tflops));
  RETURN_IF_ERROR(ParseAttentionCurves(a, *h, &h->attention_curves));
  if (!a.Has("others")) return Status::Ok();
  if (h->attention_kernel.empty()) return a.Error("kernel", "the name of the default kernel when others are listed");
  ASSIGN_OR_RETURN(MapReader others, a.Map("others"));
  if (!others.node().IsMap()) return a.Error("others", "a mapping from kernel names to rates");
  std::set<std::string> seen;  // a set: a file listing a million kernels is refused in linear time
  for (const auto& kv : others.node()) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty()) return a.Error("others", "non-empty kernel names as keys");
    HardwareSpec::AttentionKernel k;
    k.name = kv.first.Scalar();
    if (k.name == h->attention_kernel) return others.Error(k.name, "a kernel other than the default");
    if (!seen.insert(k.name).second) return others.Error(k.name, "each kernel once");
    MapReader one(kv.second, others.file(), others.FieldName(k.name));
    RETURN_IF_ERROR(one.CheckKnownKeys({"forward", "backward", "by_seq_len"}));
    RETURN_IF_ERROR(ParseAttentionRates(one, *h, &k.forward, &k.backward));
    RETURN_IF_ERROR(ParseAttentionCurves(one, *h, &k.curves));
    h->other_attention_kernels.push_back(std::move(k));
  }
  return Status::Ok();
}

// efficiency.gemm_unaligned_width_slowdown: {four_byte_rows, eight_byte_rows}, each a ratio of
// times from 1 to 16 (as the odd-width one), optional.
Status ParseUnalignedWidthSlowdown(const MapReader& r, HardwareSpec* h) {
  if (!r.Has("gemm_unaligned_width_slowdown")) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader u, r.Map("gemm_unaligned_width_slowdown"));
  RETURN_IF_ERROR(u.CheckKnownKeys({"four_byte_rows", "eight_byte_rows"}));
  ASSIGN_OR_RETURN(h->gemm_4_byte_rows_slowdown, ParseFigure(u, "four_byte_rows", false));
  RETURN_IF_ERROR(CheckRange(u, u.FieldName("four_byte_rows.value"), h->gemm_4_byte_rows_slowdown, 1, 16));
  ASSIGN_OR_RETURN(h->gemm_8_byte_rows_slowdown, ParseFigure(u, "eight_byte_rows", false));
  return CheckRange(u, u.FieldName("eight_byte_rows.value"), h->gemm_8_byte_rows_slowdown, 1, 16);
}

Status ParseEfficiency(const MapReader& root, HardwareSpec* h) {
  ASSIGN_OR_RETURN(MapReader r, root.Map("efficiency"));
  RETURN_IF_ERROR(r.CheckKnownKeys({"gemm_fraction", "sustained_fraction", "hbm_fraction", "gemm_kernel_us",
                                    "gemm_odd_width_slowdown", "gemm_unaligned_width_slowdown",
                                    "allreduce_busbw_gbytes_per_s",
                                    "fused_attention_tflops"}));
  RETURN_IF_ERROR(ParseDtypeTable(r, "gemm_fraction", false, false, &h->gemm_fraction));
  {  // bf16 always, known or not: the 16-bit work of every run (and fp16 without its own) reads it
    ASSIGN_OR_RETURN(MapReader fractions, r.Map("gemm_fraction"));
    if (!fractions.Has("bf16")) return fractions.Error("bf16", "a figure ({value, source} or {unknown: true})");
  }
  const auto field = [&r](const char* table, int i) {
    return r.FieldName(std::string(table) + "." + std::string(kDtypeNames[i]) + ".value");
  };
  for (int i = 0; i < kNumDtypes; ++i) {
    RETURN_IF_ERROR(CheckRange(r, field("gemm_fraction", i), h->gemm_fraction[i], 1e-3, 1));
  }
  if (r.Has("sustained_fraction")) {
    RETURN_IF_ERROR(ParseDtypeTable(r, "sustained_fraction", false, false, &h->sustained_fraction));
    for (int i = 0; i < kNumDtypes; ++i) {
      const Figure& f = h->sustained_fraction[i];
      RETURN_IF_ERROR(CheckRange(r, field("sustained_fraction", i), f, 1e-3, 1));
      const Figure& burst = h->gemm_fraction[i];
      if (f.known() && burst.known() && f.value > burst.value) {
        return ValueError(r, field("sustained_fraction", i), "at most the dtype's gemm_fraction (a burst)", f.value);
      }
    }
  }
  ASSIGN_OR_RETURN(h->hbm_fraction, ParseFigure(r, "hbm_fraction", false));
  RETURN_IF_ERROR(CheckRange(r, r.FieldName("hbm_fraction.value"), h->hbm_fraction, 1e-3, 1));
  if (r.Has("gemm_kernel_us")) {
    ASSIGN_OR_RETURN(h->gemm_kernel_us, ParseFigure(r, "gemm_kernel_us", false));
    // A kernel's fixed cost is microseconds; a millisecond would be a unit slip.
    if (h->gemm_kernel_us.known() && h->gemm_kernel_us.value > 1000) {
      return ValueError(r, r.FieldName("gemm_kernel_us.value"), "microseconds per GEMM kernel, at most 1000",
                        h->gemm_kernel_us.value);
    }
  }
  if (r.Has("gemm_odd_width_slowdown")) {
    ASSIGN_OR_RETURN(h->gemm_odd_width_slowdown, ParseFigure(r, "gemm_odd_width_slowdown", false));
    // A ratio of times: at least 1 (an odd shape is never faster), and a slip past 16 is a unit error.
    RETURN_IF_ERROR(CheckRange(r, r.FieldName("gemm_odd_width_slowdown.value"), h->gemm_odd_width_slowdown, 1, 16));
  }
  RETURN_IF_ERROR(ParseUnalignedWidthSlowdown(r, h));
  ASSIGN_OR_RETURN(MapReader bw, r.Map("allreduce_busbw_gbytes_per_s"));
  RETURN_IF_ERROR(bw.CheckKnownKeys({"scale_up", "scale_out"}));
  ASSIGN_OR_RETURN(h->allreduce_busbw_scale_up_gbytes_per_s, ParseFigure(bw, "scale_up", false));
  ASSIGN_OR_RETURN(h->allreduce_busbw_scale_out_gbytes_per_s, ParseFigure(bw, "scale_out", false));
  return ParseAttention(r, h);
}

// `scale_up.torus_slices`: {source, rows: [[side, side, side, wraps], ...]}, one row per slice
// shape, its sides along the torus's axes (as many as it has; 1 where a slice does not span one)
// and 1 where its sides close rings, 0 where they do not. Chip counts are distinct: a job's
// slice is the row with its chip count.
Status ParseTorusSlices(const MapReader& up, HardwareSpec* h) {
  if (!up.Has("torus_slices")) return Status::Ok();
  const Figure& d = h->scale_up_torus_dimensions;
  if (!d.known()) return up.Error("torus_slices", "only with known torus_dimensions");
  ASSIGN_OR_RETURN(MapReader t, up.Map("torus_slices"));
  RETURN_IF_ERROR(t.CheckKnownKeys({"source", "rows", "note"}));
  ASSIGN_OR_RETURN(h->torus_slices_source, t.String("source"));
  if (h->torus_slices_source.empty()) return t.Error("source", "where the slice shapes come from");
  const size_t axes = static_cast<size_t>(d.value);
  const std::string describe = axes == 3 ? "[side, side, side, wraps (0 or 1)]" : axes == 2 ? "[side, side, wraps (0 or 1)]"
                                                                                           : "[side, wraps (0 or 1)]";
  ASSIGN_OR_RETURN(auto rows, t.NumberRows("rows", axes + 1, describe));
  if (rows.empty()) return t.Error("rows", "at least one " + describe + " row");
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto bad = [&](const std::string& expected) {
      std::ostringstream got;
      for (size_t c = 0; c < rows[i].size(); ++c) got << (c ? ", " : "[") << std::setprecision(15) << rows[i][c];
      return InvalidArgument(t.file() + ": " + t.FieldName("rows") + "[" + std::to_string(i) + "]: expected " + expected +
                             ", got " + got.str() + "]");
    };
    HardwareSpec::TorusSlice slice;
    for (size_t a = 0; a < axes; ++a) {
      const double side = rows[i][a];
      if (!(side >= 1 && side <= 1024) || side != std::floor(side)) return bad("whole sides from 1 to 1024");
      slice.sides[a] = static_cast<int64_t>(side);
    }
    const double wraps = rows[i][axes];
    if (wraps != 0 && wraps != 1) return bad("wraps 0 or 1 as the last column");
    slice.wraps = wraps == 1;
    for (const HardwareSpec::TorusSlice& other : h->torus_slices) {
      if (other.Chips() == slice.Chips()) return bad("one shape per chip count");
    }
    h->torus_slices.push_back(slice);
  }
  return Status::Ok();
}

Status ParseFabric(const MapReader& root, HardwareSpec* h) {
  ASSIGN_OR_RETURN(MapReader up, root.Map("scale_up"));
  RETURN_IF_ERROR(up.CheckKnownKeys(
      {"name", "unidirectional_gbytes_per_s", "domain_devices", "topology", "peer_gbytes_per_s", "torus_dimensions",
       "torus_slices", "note"}));
  ASSIGN_OR_RETURN(h->scale_up_name, up.Line("name"));
  ASSIGN_OR_RETURN(h->scale_up_gbytes_per_s, ParseFigure(up, "unidirectional_gbytes_per_s", false));
  ASSIGN_OR_RETURN(h->scale_up_domain_devices, ParseFigure(up, "domain_devices", false));
  ASSIGN_OR_RETURN(std::string topology, up.StringOr("topology", "switched"));
  if (topology != "switched" && topology != "full_mesh" && topology != "torus") {
    return up.Error("topology", "switched, full_mesh or torus");
  }
  h->scale_up_torus = topology == "torus";
  if (h->scale_up_torus) {
    ASSIGN_OR_RETURN(h->scale_up_torus_dimensions, ParseFigure(up, "torus_dimensions", false));
    const Figure& d = h->scale_up_torus_dimensions;
    if (d.known() && (d.value != 1 && d.value != 2 && d.value != 3)) {
      return ValueError(root, "scale_up.torus_dimensions.value", "1, 2 or 3 (the axes of the torus)", d.value);
    }
    RETURN_IF_ERROR(ParseTorusSlices(up, h));
  } else if (up.Has("torus_dimensions")) {
    return up.Error("torus_dimensions", "only with topology: torus");
  } else if (up.Has("torus_slices")) {
    return up.Error("torus_slices", "only with topology: torus");
  }
  h->scale_up_full_mesh = topology == "full_mesh";
  if (h->scale_up_full_mesh) {
    ASSIGN_OR_RETURN(h->scale_up_peer_gbytes_per_s, ParseFigure(up, "peer_gbytes_per_s", false));
    if (h->scale_up_peer_gbytes_per_s.known() && h->scale_up_peer_gbytes_per_s.value <= 0) {
      return up.Error("peer_gbytes_per_s", "a positive rate");
    }
  } else if (up.Has("peer_gbytes_per_s")) {
    return up.Error("peer_gbytes_per_s", "only with topology: full_mesh");
  }
  ASSIGN_OR_RETURN(MapReader out, root.Map("scale_out"));
  RETURN_IF_ERROR(out.CheckKnownKeys({"gbits_per_s_per_device", "node_devices", "note"}));
  ASSIGN_OR_RETURN(h->scale_out_gbits_per_s, ParseFigure(out, "gbits_per_s_per_device", false));
  if (out.Has("node_devices")) {
    ASSIGN_OR_RETURN(h->node_devices, ParseFigure(out, "node_devices", false));
    RETURN_IF_ERROR(CheckWholeCount(root, "scale_out.node_devices.value", h->node_devices, "devices"));
  }
  return Status::Ok();
}

}  // namespace

namespace {

// The rates a fraction `w` of the way from `a` to `b`, at `seq_len`.
AttentionCurve::Point Between(const AttentionCurve::Point& a, const AttentionCurve::Point& b, double w,
                              double seq_len) {
  return {seq_len, a.forward + w * (b.forward - a.forward), a.backward + w * (b.backward - a.backward)};
}

// The larger forward and the larger backward of two points.
AttentionCurve::Point Faster(const AttentionCurve::Point& a, const AttentionCurve::Point& b) {
  return {0, std::max(a.forward, b.forward), std::max(a.backward, b.backward)};
}

}  // namespace

AttentionCurve::Point AttentionCurve::At(double seq_len) const {
  if (seq_len <= points.front().seq_len) return points.front();
  if (seq_len >= points.back().seq_len) return points.back();
  size_t i = 1;
  while (points[i].seq_len < seq_len) ++i;
  const Point& a = points[i - 1];
  const Point& b = points[i];
  return Between(a, b, std::log(seq_len / a.seq_len) / std::log(b.seq_len / a.seq_len), seq_len);
}

AttentionCurve::Point AttentionCurve::Fastest() const {
  Point best{0, 0, 0};
  for (const Point& p : points) best = Faster(best, p);
  return best;
}

AttentionCurve::Point AttentionCurves::At(double seq_len, double head_dim) const {
  const std::vector<AttentionCurve>& c = by_head_dim;
  if (c.size() == 1 || head_dim <= c.front().head_dim) return c.front().At(seq_len);
  if (head_dim >= c.back().head_dim) return c.back().At(seq_len);
  size_t i = 1;
  while (c[i].head_dim < head_dim) ++i;
  const double w = std::log(head_dim / c[i - 1].head_dim) / std::log(c[i].head_dim / c[i - 1].head_dim);
  return Between(c[i - 1].At(seq_len), c[i].At(seq_len), w, seq_len);
}

AttentionCurve::Point AttentionCurves::Fastest() const {
  AttentionCurve::Point best{0, 0, 0};
  for (const AttentionCurve& c : by_head_dim) best = Faster(best, c.Fastest());
  return best;
}

void AttentionCurves::Scale(double factor) {
  for (AttentionCurve& c : by_head_dim) {
    for (AttentionCurve::Point& p : c.points) {
      p.forward *= factor;
      p.backward *= factor;
    }
  }
}

std::optional<HardwareSpec::AttentionKernel> HardwareSpec::AttentionRates(const std::string& kernel) const {
  if (kernel.empty() || kernel == attention_kernel) {
    return AttentionKernel{attention_kernel, attention_fwd_tflops, attention_bwd_tflops, attention_curves};
  }
  for (const AttentionKernel& k : other_attention_kernels) {
    if (k.name == kernel) return k;
  }
  return std::nullopt;
}

std::string HardwareSpec::AttentionKernelNames() const {
  std::string names = attention_kernel;
  for (const AttentionKernel& k : other_attention_kernels) names += (names.empty() ? "" : ", ") + k.name;
  return names;
}

namespace {

// The achieved figures the step model divides by: fractions from 1e-3 (a thousandth of the peak;
// below, a step runs for centuries), rates from 1e-3 (GB/s or TFLOP/s).
Status CheckEfficiencyRanges(const MapReader& r, const HardwareSpec& h) {
  auto check = [&r](const std::string& field, const Figure& f, double lo, double hi) {
    return CheckRange(r, field, f, lo, hi);
  };
  RETURN_IF_ERROR(check("efficiency.allreduce_busbw_gbytes_per_s.scale_up.value",
                        h.allreduce_busbw_scale_up_gbytes_per_s, 1e-3, 1e7));
  RETURN_IF_ERROR(check("efficiency.allreduce_busbw_gbytes_per_s.scale_out.value",
                        h.allreduce_busbw_scale_out_gbytes_per_s, 1e-3, 1e7));
  if (h.allreduce_busbw_scale_out_gbytes_per_s.known() && h.scale_out_gbits_per_s.known() &&
      h.allreduce_busbw_scale_out_gbytes_per_s.value > h.scale_out_gbits_per_s.value / 8) {
    return ValueError(r, "efficiency.allreduce_busbw_gbytes_per_s.scale_out.value",
                      "at most the device's network share, scale_out.gbits_per_s_per_device / 8 GB/s",
                      h.allreduce_busbw_scale_out_gbytes_per_s.value);
  }
  RETURN_IF_ERROR(check("scale_up.peer_gbytes_per_s.value", h.scale_up_peer_gbytes_per_s, 1e-3, 1e7));
  RETURN_IF_ERROR(check("efficiency.fused_attention_tflops.forward.value", h.attention_fwd_tflops, 1e-3, 1e9));
  RETURN_IF_ERROR(check("efficiency.fused_attention_tflops.backward.value", h.attention_bwd_tflops, 1e-3, 1e9));
  // (The by_seq_len curves' rates are checked row by row as they are read.)
  for (const HardwareSpec::AttentionKernel& k : h.other_attention_kernels) {
    const std::string at = "efficiency.fused_attention_tflops.others." + k.name;
    RETURN_IF_ERROR(check(at + ".forward.value", k.forward, 1e-3, 1e9));
    RETURN_IF_ERROR(check(at + ".backward.value", k.backward, 1e-3, 1e9));
  }
  return Status::Ok();
}

// Figures the step model divides by must be positive, and every figure within bounds of sanity
// (not of hardware): beyond them predictions overflow into inf or NaN.
Status CheckRanges(const MapReader& r, const HardwareSpec& h) {
  struct Bound {
    const char* field;
    const Figure& f;
    double lo, hi;
  };
  const Bound bounds[] = {
      {"memory.capacity_gib.value", h.hbm_capacity_gib, 1e-3, 1e6},
      {"memory.bandwidth_tbytes_per_s.value", h.hbm_bandwidth_tbytes_per_s, 1e-6, 1e6},
      {"scale_up.unidirectional_gbytes_per_s.value", h.scale_up_gbytes_per_s, 1e-3, 1e7},
      {"scale_up.domain_devices.value", h.scale_up_domain_devices, 1, 16777216},
      {"scale_out.gbits_per_s_per_device.value", h.scale_out_gbits_per_s, 1e-3, 1e7},
      {"power_w.value", h.power_w, 1e-3, 1e6},
      {"host_link_gbytes_per_s.value", h.host_link_gbytes_per_s, 1e-3, 1e7},
  };
  for (const Bound& b : bounds) RETURN_IF_ERROR(CheckRange(r, b.field, b.f, b.lo, b.hi));
  const Figure& year = h.launch_year;  // a calendar year of the accelerator era (fuzzing found 1e308 taken)
  if (year.known() && (year.value < 1950 || year.value > 2200 || year.value != std::floor(year.value))) {
    return ValueError(r, "launch_year.value", "a whole year from 1950 to 2200", year.value);
  }
  if (h.scale_up_domain_devices.known() && h.scale_up_domain_devices.value != std::floor(h.scale_up_domain_devices.value)) {
    return ValueError(r, "scale_up.domain_devices.value", "a whole number of devices", h.scale_up_domain_devices.value);
  }
  if (h.price.known && h.price.high_usd > 1e5) {
    return ValueError(r, "price_usd_per_device_hour.high", "at most 1e5 dollars a device-hour", h.price.high_usd);
  }
  return CheckEfficiencyRanges(r, h);
}

// A narrower type runs at least as fast as the wider one it stands in for: FP8 GEMMs at or above
// the 16-bit rates, FP4 at or above FP8 (every accelerator's datasheet). An FP8 peak below the
// BF16 one would put a run's MFU above 100%: its 16-bit parts (attention, the output layer) run
// faster than the peak it is measured against.
Status CheckNarrowerIsFaster(const MapReader& r, const HardwareSpec& h) {
  struct Pair {
    Dtype narrow, wide;
  };
  for (Pair p : {Pair{Dtype::kFp8, Dtype::kBf16}, Pair{Dtype::kFp8, Dtype::kFp16}, Pair{Dtype::kFp4, Dtype::kFp8}}) {
    const Figure& n = h.peak_tflops[DtypeIndex(p.narrow)];
    const Figure& w = h.peak_tflops[DtypeIndex(p.wide)];
    if (!n.known() || !w.known() || n.value >= w.value) continue;
    const std::string wide(kDtypeNames[DtypeIndex(p.wide)]);
    const std::string at = "peak_tflops." + std::string(kDtypeNames[DtypeIndex(p.narrow)]) + ".value";
    std::ostringstream expected;
    expected << "at least the " << wide << " peak (" << w.value << ")";
    return ValueError(r, at, expected.str(), n.value);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<HardwareSpec> ParseHardwareSpec(const YAML::Node& root, const std::string& file) {
  MapReader r(root, file, "");
  RETURN_IF_ERROR(r.CheckKnownKeys({"id", "vendor", "name", "notes", "software_stack",
                                    "launch_year", "peak_tflops", "memory", "scale_up",
                                    "scale_out", "power_w", "price_usd_per_device_hour",
                                    "efficiency", "compute_units", "collective_compute_units",
                                    "host_link_gbytes_per_s"}));
  HardwareSpec h;
  h.file = file;
  ASSIGN_OR_RETURN(h.id, r.Line("id"));
  ASSIGN_OR_RETURN(h.vendor, r.Line("vendor"));
  ASSIGN_OR_RETURN(h.name, r.Line("name"));
  ASSIGN_OR_RETURN(h.notes, r.StringOr("notes", ""));
  ASSIGN_OR_RETURN(h.software_stack, r.Line("software_stack"));
  ASSIGN_OR_RETURN(h.launch_year, ParseFigure(r, "launch_year", false));
  RETURN_IF_ERROR(ParseDtypeTable(r, "peak_tflops", true, true, &h.peak_tflops));
  for (int i = 0; i < kNumDtypes; ++i) {
    const std::string at = std::string("peak_tflops.") + std::string(kDtypeNames[i]) + ".value";
    RETURN_IF_ERROR(CheckRange(r, at, h.peak_tflops[i], 1e-6, 1e9));
  }
  RETURN_IF_ERROR(CheckNarrowerIsFaster(r, h));
  ASSIGN_OR_RETURN(MapReader mem, r.Map("memory"));
  RETURN_IF_ERROR(mem.CheckKnownKeys({"capacity_gib", "bandwidth_tbytes_per_s", "note"}));
  ASSIGN_OR_RETURN(h.hbm_capacity_gib, ParseFigure(mem, "capacity_gib", false));
  ASSIGN_OR_RETURN(h.hbm_bandwidth_tbytes_per_s, ParseFigure(mem, "bandwidth_tbytes_per_s", false));
  RETURN_IF_ERROR(ParseFabric(r, &h));
  ASSIGN_OR_RETURN(h.power_w, ParseFigure(r, "power_w", false));
  if (r.Has("host_link_gbytes_per_s")) {
    ASSIGN_OR_RETURN(h.host_link_gbytes_per_s, ParseFigure(r, "host_link_gbytes_per_s", false));
  }
  if (r.Has("compute_units")) {
    ASSIGN_OR_RETURN(h.compute_units, ParseFigure(r, "compute_units", false));
    RETURN_IF_ERROR(CheckWholeCount(r, "compute_units.value", h.compute_units, "compute units"));
  }
  if (r.Has("collective_compute_units")) {
    ASSIGN_OR_RETURN(h.collective_compute_units, ParseFigure(r, "collective_compute_units", false));
    const Figure& c = h.collective_compute_units;
    if (c.known() && !h.compute_units.known()) {
      return r.Error("collective_compute_units", "no figure unless compute_units is known too");
    }
    if (c.known() && (c.value != std::floor(c.value) || c.value >= h.compute_units.value)) {
      std::ostringstream m;
      m << file << ": collective_compute_units.value: expected a whole number below compute_units ("
        << h.compute_units.value << "), got " << c.value;
      return InvalidArgument(m.str());
    }
  }
  RETURN_IF_ERROR(ParsePrice(r, &h.price));
  RETURN_IF_ERROR(ParseEfficiency(r, &h));
  RETURN_IF_ERROR(CheckRanges(r, h));
  return h;
}

StatusOr<HardwareSpec> LoadHardwareSpec(const std::string& path) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  return ParseHardwareSpec(root, path);
}

std::optional<Dtype> SixteenBitPartner(const HardwareSpec& h, Dtype d) {
  if (d != Dtype::kBf16 && d != Dtype::kFp16) return std::nullopt;
  const Dtype other = d == Dtype::kBf16 ? Dtype::kFp16 : Dtype::kBf16;
  const Figure& mine = h.peak(d);
  const Figure& theirs = h.peak(other);
  if (!mine.known() || !theirs.known() || mine.value != theirs.value) return std::nullopt;
  return other;
}

Dtype GemmFigureDtype(const HardwareSpec& h, const std::array<Figure, kNumDtypes>& figures, Dtype d) {
  if (figures[DtypeIndex(d)].known()) return d;
  const std::optional<Dtype> partner = SixteenBitPartner(h, d);
  return partner && figures[DtypeIndex(*partner)].known() ? *partner : d;
}

const Figure& BurstGemmFraction(const HardwareSpec& h, Dtype d) {
  return h.gemm_fraction[DtypeIndex(GemmFigureDtype(h, h.gemm_fraction, d))];
}

const Figure& SustainedGemmFraction(const HardwareSpec& h, Dtype d) {
  return h.sustained_fraction[DtypeIndex(GemmFigureDtype(h, h.sustained_fraction, d))];
}

namespace {

bool HasSustainedRatio(const HardwareSpec& h, Dtype d) {
  const Figure& burst = BurstGemmFraction(h, d);
  return burst.known() && burst.value > 0 && SustainedGemmFraction(h, d).known();
}

}  // namespace

std::optional<Dtype> SustainedRatioDtype(const HardwareSpec& h, Dtype d) {
  if (HasSustainedRatio(h, d)) return d;
  if (SustainedGemmFraction(h, d).known()) return std::nullopt;  // the sustained figure stands alone
  for (Dtype other : {Dtype::kBf16, Dtype::kFp8, Dtype::kFp4, Dtype::kFp16, Dtype::kTf32}) {
    if (HasSustainedRatio(h, other)) return other;
  }
  return std::nullopt;
}

double SustainedRatio(const HardwareSpec& h, Dtype d) {
  const std::optional<Dtype> from = SustainedRatioDtype(h, d);
  if (!from) return 1.0;
  return std::min(1.0, SustainedGemmFraction(h, *from).value / BurstGemmFraction(h, *from).value);
}

}  // namespace preflight
