#include "preflight/catalog/gemm_table.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "preflight/catalog/yaml_reader.h"

namespace preflight {

namespace {

// A key no other table content of this process has had (GemmTable::serial).
uint64_t NextSerial() {
  static std::atomic<uint64_t> next_serial{1};
  return next_serial++;
}

// Position of log2(x) on a sorted axis: the lower cell index and the weight of the upper one,
// clamped to the ends. `scale` receives x / smallest when x lies below the axis. The logarithm
// is taken only inside the axis (the common large shapes skip it).
void Locate(const GemmTable::Axis& axis, double x, size_t* lo, double* w, double* scale) {
  *scale = 1.0;
  if (axis.size() == 1 || x <= axis.lo) {
    *lo = 0;
    *w = 0;
    if (x < axis.lo) *scale = std::max(x, 1.0) / axis.lo;
    return;
  }
  if (x >= axis.hi) {
    *lo = axis.size() - 2;
    *w = 1;
    return;
  }
  const double lx = std::log2(x);
  const std::vector<double>& a = axis.log2;
  // x < hi, but log2 of a value a rounding step below the largest size can equal its log2: the
  // last cell then holds it (weight 1).
  size_t hi = 1;
  while (hi + 1 < a.size() && a[hi] <= lx) ++hi;
  *lo = hi - 1;
  *w = std::min(1.0, (lx - a[*lo]) / (a[hi] - a[*lo]));
}

GemmTable::Axis MakeAxis(const std::set<double>& sizes) {
  GemmTable::Axis a;
  for (double x : sizes) a.log2.push_back(std::log2(x));
  a.lo = *sizes.begin();
  a.hi = *sizes.rbegin();
  return a;
}

}  // namespace

double GemmTable::Rate(Dtype dtype, double m, double n, double k) const {
  const Grid& g = grids_[DtypeIndex(dtype)];
  if (g.tflops.empty()) return 0;
  size_t im = 0, in = 0, ik = 0;
  double wm = 0, wn = 0, wk = 0, sm = 1, sn = 1, sk = 1;
  Locate(g.m, m, &im, &wm, &sm);
  Locate(g.n, n, &in, &wn, &sn);
  Locate(g.k, k, &ik, &wk, &sk);
  const size_t jm = std::min(im + 1, g.m.size() - 1), jn = std::min(in + 1, g.n.size() - 1);
  const size_t jk = std::min(ik + 1, g.k.size() - 1);
  auto lerp = [](double a, double b, double w) { return a + (b - a) * w; };
  const double v = lerp(lerp(lerp(g.At(im, in, ik), g.At(im, in, jk), wk), lerp(g.At(im, jn, ik), g.At(im, jn, jk), wk), wn),
                        lerp(lerp(g.At(jm, in, ik), g.At(jm, in, jk), wk), lerp(g.At(jm, jn, ik), g.At(jm, jn, jk), wk), wn),
                        wm);
  return v * sm * sn * sk * 1e12;
}

bool GemmTable::Covers(Dtype dtype, double m, double n, double k) const {
  const Grid& g = grids_[DtypeIndex(dtype)];
  if (g.tflops.empty()) return false;
  return m <= g.m.hi && n <= g.n.hi && k <= g.k.hi;
}

bool GemmTable::CoversReduction(Dtype dtype, double k) const {
  const Grid& g = grids_[DtypeIndex(dtype)];
  return !g.tflops.empty() && k <= g.k.hi;
}

std::pair<double, double> GemmTable::LongestReductions(Dtype dtype) const {
  const Axis& k = grids_[DtypeIndex(dtype)].k;
  if (k.size() == 0) return {0, 0};
  if (k.size() == 1) return {0, k.hi};
  return {std::exp2(k.log2[k.size() - 2]), k.hi};
}

std::array<std::pair<double, double>, 3> GemmTable::Extent(Dtype dtype) const {
  const Grid& g = grids_[DtypeIndex(dtype)];
  return {{{g.m.lo, g.m.hi}, {g.n.lo, g.n.hi}, {g.k.lo, g.k.hi}}};
}

Status GemmTable::SetGrid(Dtype dtype, const std::vector<std::array<double, 4>>& rows) {
  std::set<double> ms, ns, ks;
  std::map<std::tuple<double, double, double>, double> values;
  for (const auto& r : rows) {
    ms.insert(r[0]);
    ns.insert(r[1]);
    ks.insert(r[2]);
    if (!values.emplace(std::make_tuple(r[0], r[1], r[2]), r[3]).second) {
      return InvalidArgument("each shape once (" + std::to_string(static_cast<int64_t>(r[0])) + " x " +
                             std::to_string(static_cast<int64_t>(r[1])) + " x " +
                             std::to_string(static_cast<int64_t>(r[2])) + " appears twice)");
    }
  }
  Grid g;
  g.m = MakeAxis(ms);
  g.n = MakeAxis(ns);
  g.k = MakeAxis(ks);
  for (double m : ms) {
    for (double n : ns) {
      for (double k : ks) {
        auto it = values.find(std::make_tuple(m, n, k));
        if (it == values.end()) {
          return InvalidArgument("a full grid of m x n x k (missing " + std::to_string(static_cast<int64_t>(m)) +
                                 " x " + std::to_string(static_cast<int64_t>(n)) + " x " +
                                 std::to_string(static_cast<int64_t>(k)) + ")");
        }
        g.tflops.push_back(it->second);
        g.max = std::max(g.max, it->second);
      }
    }
  }
  grids_[DtypeIndex(dtype)] = std::move(g);
  serial_ = NextSerial();
  return Status::Ok();
}

void GemmTable::SetSourceSustain(Dtype dtype, double ratio) {
  source_sustain_[DtypeIndex(dtype)] = ratio;
  serial_ = NextSerial();
}

const std::string& GemmTable::SourceOf(Dtype dtype) const {
  const Origin& o = origins_[DtypeIndex(dtype)];
  return o.own ? o.source : source;
}

const std::string& GemmTable::ProxyOf(Dtype dtype) const {
  const Origin& o = origins_[DtypeIndex(dtype)];
  return o.own ? o.proxy_of : proxy_of;
}

std::vector<Dtype> GemmTable::GridsWithOwnOrigin() const {
  std::vector<Dtype> out;
  for (int i = 0; i < kNumDtypes; ++i) {
    if (origins_[i].own) out.push_back(static_cast<Dtype>(i));
  }
  return out;
}

void GemmTable::SetGridOrigin(Dtype dtype, std::string grid_source, std::string grid_proxy_of) {
  origins_[DtypeIndex(dtype)] = {true, std::move(grid_source), std::move(grid_proxy_of)};
}

namespace {

// One dtype's rows: a list of [m, n, k, tflops], all positive numbers, at `key` of `shapes`.
StatusOr<std::vector<std::array<double, 4>>> ParseRows(const MapReader& shapes, const std::string& key) {
  const YAML::Node list = shapes.node()[key];
  const std::string field = shapes.FieldName(key);
  if (!list.IsSequence() || list.size() == 0) {
    return InvalidArgument(shapes.file() + ": " + field + ": expected a list of [m, n, k, tflops] rows");
  }
  std::vector<std::array<double, 4>> rows;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node row = list[i];
    const std::string where = shapes.file() + ": " + field + "[" + std::to_string(i) + "]";
    if (!row.IsSequence() || row.size() != 4) {
      return InvalidArgument(where + ": expected [m, n, k, tflops], got " + DescribeNode(row));
    }
    std::array<double, 4> r{};
    for (size_t j = 0; j < 4; ++j) {
      try {
        r[j] = row[j].as<double>();
      } catch (const YAML::Exception&) {
        return InvalidArgument(where + ": expected four numbers, got " + DescribeNode(row[j]));
      }
      // Bounds of sanity: a GEMM dimension up to 2^17 (a smaller GEMM takes at least the smallest
      // measured one's time), a rate from 1e-3 TFLOP/s (below, a step is inf).
      const double lo = j < 3 ? 1 : 1e-3, hi = j < 3 ? 0x1p17 : 1e9;
      if (!(r[j] >= lo && r[j] <= hi)) {
        return InvalidArgument(where + ": expected positive numbers (sizes up to 2^17, rates from 1e-3 TFLOP/s), got " +
                               DescribeNode(row[j]));
      }
      if (j < 3 && r[j] != std::floor(r[j])) {
        return InvalidArgument(where + ": expected whole sizes m, n and k, got " + DescribeNode(row[j]));
      }
    }
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

StatusOr<GemmTable> LoadGemmTable(const std::string& path) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  MapReader r(root, path, "");
  RETURN_IF_ERROR(r.ExpectMap());
  RETURN_IF_ERROR(r.CheckKnownKeys({"id", "source", "note", "clock", "proxy_of", "shapes"}));
  GemmTable t;
  t.file = path;
  ASSIGN_OR_RETURN(t.id, r.String("id"));
  if (t.id.find_first_not_of(" \t") == std::string::npos) return r.Error("id", "a non-empty id");
  ASSIGN_OR_RETURN(t.source, r.String("source"));
  if (t.source.empty()) return r.Error("source", "a non-empty source");
  ASSIGN_OR_RETURN(std::string clock, r.StringOr("clock", "burst"));
  if (clock != "burst" && clock != "sustained") return r.Error("clock", "burst or sustained");
  t.sustained = clock == "sustained";
  if (r.Has("note")) RETURN_IF_ERROR(r.Line("note").status());
  RETURN_IF_ERROR(ParseProxyOf(r, &t.proxy_of));
  ASSIGN_OR_RETURN(MapReader shapes, r.Map("shapes"));
  RETURN_IF_ERROR(shapes.CheckKnownKeys({"fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"}));
  if (shapes.node().size() == 0) return r.Error("shapes", "at least one dtype's grid (bf16: [[m, n, k, tflops], ...])");
  for (const auto& kv : shapes.node()) {
    if (!kv.first.IsScalar()) return shapes.Error("?", "dtype names as keys (bf16, fp16, fp8, ...)");
    const std::string key = kv.first.Scalar();
    Dtype d;
    if (!ParseDtype(key, &d)) return shapes.Error(key, "a dtype name (bf16, fp16, fp8, ...)");
    std::vector<std::array<double, 4>> rows;
    if (kv.second.IsMap()) {  // a grid with its own origin: {source, proxy_of, note, rows}
      ASSIGN_OR_RETURN(MapReader grid, shapes.Map(key));
      RETURN_IF_ERROR(grid.CheckKnownKeys({"source", "note", "proxy_of", "rows"}));
      ASSIGN_OR_RETURN(std::string source, grid.Line("source"));
      if (grid.Has("note")) RETURN_IF_ERROR(grid.Line("note").status());
      std::string proxy;
      RETURN_IF_ERROR(ParseProxyOf(grid, &proxy));
      if (!grid.Has("rows")) return grid.Error("rows", "a list of [m, n, k, tflops] rows");
      ASSIGN_OR_RETURN(rows, ParseRows(grid, "rows"));
      t.SetGridOrigin(d, std::move(source), std::move(proxy));
    } else {
      ASSIGN_OR_RETURN(rows, ParseRows(shapes, key));
    }
    Status s = t.SetGrid(d, rows);
    if (!s.ok()) return InvalidArgument(path + ": " + shapes.FieldName(key) + ": expected " + s.message());
  }
  return t;
}

}  // namespace preflight

namespace preflight {

StatusOr<std::shared_ptr<const GemmTable>> LoadGemmTableFor(const HardwareSpec& spec, const std::string& path) {
  ASSIGN_OR_RETURN(GemmTable table, LoadGemmTable(path));
  if (table.id != spec.id) {
    return InvalidArgument(path + ": id: expected '" + spec.id + "', got '" + table.id + "'");
  }
  for (int i = 0; i < kNumDtypes; ++i) {
    const Dtype d = static_cast<Dtype>(i);
    if (!table.Has(d)) continue;
    const Figure& peak = spec.peak(d);
    if (!peak.known()) {
      return InvalidArgument(spec.file + ": peak_tflops." + std::string(kDtypeNames[i]) +
                             ": expected a known peak (the GEMM table " + path + " times " +
                             std::string(kDtypeNames[i]) + " GEMMs on this device), got unknown");
    }
    if (table.MaxRate(d) > peak.value * 1e12) {
      std::ostringstream values;  // the figures, so that the row can be found
      values << peak.value << " in " << spec.file << "), got a row at " << table.MaxRate(d) / 1e12;
      return InvalidArgument(path + ": shapes." + std::string(kDtypeNames[i]) + ": expected TFLOP/s at most the device's known " +
                             std::string(kDtypeNames[i]) + " peak (" + values.str());
    }
  }
  return std::make_shared<const GemmTable>(std::move(table));
}

}  // namespace preflight
