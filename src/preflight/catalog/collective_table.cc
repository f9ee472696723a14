#include "preflight/catalog/collective_table.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <utility>

#include "preflight/catalog/yaml_reader.h"

namespace preflight {

bool ParseCollectiveOp(const std::string& name, CollectiveOp* op) {
  for (int i = 0; i < 4; ++i) {
    if (name == kCollectiveOpNames[i]) {
      *op = static_cast<CollectiveOp>(i);
      return true;
    }
  }
  return false;
}

const CollectiveTable::Curve* CollectiveTable::Find(CollectiveOp op, int64_t ranks, int64_t per_domain) const {
  for (const Curve& c : curves_) {
    if (c.op == op && c.ranks == ranks && c.ranks_per_domain == std::min(per_domain, ranks)) return &c;
  }
  return nullptr;
}

namespace {

// The curve's time at log(bytes) = lx: linear in log-log between rows, the smallest row's time below
// them, the largest row's bandwidth above them.
Seconds Interpolate(const CollectiveTable::Curve& c, double lx) {
  const std::vector<double>& x = c.log_bytes;
  const std::vector<double>& y = c.log_seconds;
  if (lx <= x.front()) return Seconds(std::exp(y.front()));
  if (lx >= x.back()) return Seconds(std::exp(y.back() + lx - x.back()));
  size_t hi = static_cast<size_t>(std::upper_bound(x.begin(), x.end(), lx) - x.begin());
  hi = std::clamp<size_t>(hi, 1, x.size() - 1);
  const size_t lo = hi - 1;
  const double w = (lx - x[lo]) / (x[hi] - x[lo]);
  return Seconds(std::exp(y[lo] + (y[hi] - y[lo]) * w));
}

bool UsableSize(Bytes bytes) { return bytes.value() > 0 && std::isfinite(bytes.value()); }

}  // namespace

std::optional<Seconds> CollectiveTable::Time(CollectiveOp op, int64_t ranks, int64_t per_domain, Bytes bytes) const {
  const Curve* c = Find(op, ranks, per_domain);
  if (c == nullptr || !UsableSize(bytes)) return std::nullopt;
  return Interpolate(*c, std::log(bytes.value()));
}

std::optional<Seconds> CollectiveTable::TimeAtBestRate(CollectiveOp op, int64_t ranks, int64_t per_domain,
                                                       Bytes bytes) const {
  const Curve* c = Find(op, ranks, per_domain);
  if (c == nullptr || !UsableSize(bytes)) return std::nullopt;
  const double lx = std::log(bytes.value());
  // Between rows (log-log linear) the rate lies between the two rows' rates, and below the first
  // row it grows with size: the best rate up to `bytes` is at a row below it or at `bytes` itself.
  double log_best = lx - std::log(Interpolate(*c, lx).value());
  const size_t below = static_cast<size_t>(std::upper_bound(c->log_bytes.begin(), c->log_bytes.end(), lx) -
                                           c->log_bytes.begin());
  if (below > 0) log_best = std::max(log_best, c->log_best_rate[below - 1]);
  return Seconds(std::exp(lx - log_best));
}

std::optional<CollectiveTable::Edge> CollectiveTable::LargestRow(CollectiveOp op, int64_t ranks,
                                                                 int64_t per_domain) const {
  const Curve* c = Find(op, ranks, per_domain);
  if (c == nullptr) return std::nullopt;
  Edge e;
  e.bytes = Bytes(c->rows.back()[0]);
  e.time = Seconds(c->rows.back()[1] * 1e-6);
  const double from = std::max(e.bytes.value() / 2, c->rows.front()[0]);
  e.span_bytes = Bytes(e.bytes.value() - from);
  e.span_time = e.time - Interpolate(*c, std::log(from));
  e.best_time = Seconds(e.bytes.value() / std::exp(c->log_best_rate.back()));
  return e;
}

bool CollectiveTable::PastLargestRow(CollectiveOp op, int64_t ranks, int64_t per_domain, Bytes bytes) const {
  const Curve* c = Find(op, ranks, per_domain);
  return c != nullptr && std::isfinite(bytes.value()) && bytes.value() > c->rows.back()[0];
}

double BusBandwidthFactor(CollectiveOp op, int64_t ranks) {
  const double n = static_cast<double>(std::max<int64_t>(ranks, 1));
  return (op == CollectiveOp::kAllReduce ? 2.0 : 1.0) * (n - 1) / n;
}

namespace {

std::string Whole(double v) {
  std::ostringstream o;
  o << std::fixed << std::setprecision(0) << v;
  return o.str();
}

std::string Number(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

// Sorted rows a fabric could give: a bus bandwidth within the bound busbw_rows keeps (1e6 GB/s).
// A time that falls as the message grows is left alone: measured curves dip where NCCL switches
// protocol or algorithm (by 14% in vTrain's 8-GPU A100 table), and a shared cluster's spikes
// make a row slower than the next.
Status CheckCurveRates(CollectiveOp op, int64_t ranks, const std::vector<std::array<double, 2>>& rows) {
  for (const auto& [bytes, time_us] : rows) {
    const double busbw_gbytes_per_s = BusBandwidthFactor(op, ranks) * bytes / (time_us * 1e-6) / 1e9;
    if (busbw_gbytes_per_s > 1e6 * (1 + 1e-9)) {  // busbw_rows at the bound, back from its time
      return InvalidArgument("bus bandwidths of at most 1e6 GB/s (" + Whole(bytes) + " bytes in " + Number(time_us) +
                             " microseconds is " + Whole(busbw_gbytes_per_s) + " GB/s)");
    }
  }
  return Status::Ok();
}

}  // namespace

Status CollectiveTable::AddCurve(CollectiveOp op, int64_t ranks, int64_t ranks_per_domain,
                                 std::vector<std::array<double, 2>> rows) {
  if (ranks < 2) return InvalidArgument("ranks: expected at least 2");
  if (ranks_per_domain < 1 || ranks_per_domain > ranks || ranks % ranks_per_domain != 0) {
    return InvalidArgument("ranks_per_domain: expected a divisor of ranks");
  }
  if (ranks > kMaxCollectiveRanks) return InvalidArgument("ranks: expected at most 2^24 ranks");
  if (rows.size() < 2) return InvalidArgument("at least two [bytes, microseconds] rows");
  for (const auto& r : rows) {
    // Bounds of sanity: 1 byte to 2^50 bytes, 1e-3 to 1e9 µs (beyond them a step overflows into
    // inf, or a time vanishes into 0 once in seconds).
    if (!(r[0] >= 1 && r[0] <= 0x1p50) || !(r[1] >= 1e-3 && r[1] <= 1e9)) {
      return InvalidArgument("sizes from 1 byte to 2^50 bytes and times from 1e-3 to 1e9 microseconds");
    }
  }
  std::sort(rows.begin(), rows.end());
  Curve c;
  c.op = op;
  c.ranks = ranks;
  c.ranks_per_domain = ranks_per_domain;
  for (size_t i = 0; i < rows.size(); ++i) {
    if (i > 0 && rows[i][0] == rows[i - 1][0]) {
      return InvalidArgument("each size once (" + Whole(rows[i][0]) + " bytes appears twice)");
    }
    c.rows.push_back(rows[i]);
    c.log_bytes.push_back(std::log(rows[i][0]));
    c.log_seconds.push_back(std::log(rows[i][1] * 1e-6));
    const double log_rate = c.log_bytes.back() - c.log_seconds.back();
    c.log_best_rate.push_back(i == 0 ? log_rate : std::max(log_rate, c.log_best_rate.back()));
  }
  RETURN_IF_ERROR(CheckCurveRates(op, ranks, c.rows));
  for (const Curve& other : curves_) {
    if (other.op == op && other.ranks == ranks && other.ranks_per_domain == ranks_per_domain) {
      return InvalidArgument("one curve per collective and group (" + std::string(kCollectiveOpNames[static_cast<int>(op)]) +
                             " over " + std::to_string(ranks) + " ranks appears twice)");
    }
  }
  curves_.push_back(std::move(c));
  return Status::Ok();
}

namespace {

bool IsWholeNumber(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
}

// Rows of two numbers given inline under `key`: [bytes, µs] (rows) or [bytes, GB/s] (busbw_rows).
StatusOr<std::vector<std::array<double, 2>>> InlineRows(const MapReader& entry, const std::string& key,
                                                        const std::string& columns) {
  ASSIGN_OR_RETURN(auto read, entry.NumberRows(key, 2, columns));
  std::vector<std::array<double, 2>> rows;
  for (const std::vector<double>& r : read) rows.push_back({r[0], r[1]});
  return rows;
}

// The files a table was read from, with their text: a memoised table stands while they are unchanged.
using Inputs = std::vector<std::pair<std::string, std::string>>;

// The whole text of a file; nullopt when it cannot be opened.
std::optional<std::string> ReadText(const std::filesystem::path& p) {
  StatusOr<std::string> text = ReadInputFile(p.string());
  if (!text.ok()) return std::nullopt;
  return *text;
}

// The ranks an nccl-tests output lists in its header ("#  Rank  3 Group  0 Pid ..." lines, after
// any srun prefix), 0 where it lists none.
int64_t ListedRanks(const std::string& text) {
  int64_t n = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    const size_t hash = line.find('#');
    if (hash == std::string::npos) continue;
    std::istringstream words(line.substr(hash + 1));
    std::string first, second;
    if (words >> first >> second && first == "Rank" && IsWholeNumber(second)) ++n;
  }
  return n;
}

// The entry's op and ranks must give the bus factor its nccl-tests output shows (busbw / algbw:
// all-reduce 2(n-1)/n, the others (n-1)/n): an all_gather output declared as an all_reduce, or
// an 8-rank run declared as 16 ranks, is refused. An output without a row of at least 1 GB/s
// shows no factor and passes.
Status CheckBusFactor(const MapReader& entry, CollectiveOp op, int64_t ranks, const std::string& text,
                      const std::string& file) {
  const NcclTestsBusFactor shown = ReadNcclTestsBusFactor(text);
  const double expected = BusBandwidthFactor(op, ranks);
  if (shown.factor <= 0 || std::abs(shown.factor / expected - 1) <= shown.tolerance + 1e-3) return Status::Ok();
  std::ostringstream msg;
  msg << std::setprecision(4) << "an op and ranks whose bus factor is the one its nccl-tests output shows (busbw / algbw "
      << shown.factor << " in " << file << "; all-reduce over n ranks gives 2(n-1)/n, the others (n-1)/n), got "
      << kCollectiveOpNames[static_cast<int>(op)] << " over " << ranks << " ranks (" << expected << ")";
  return entry.Error("op", msg.str());
}

// [bytes, µs] rows read from an nccl-tests output file named by the entry, beside the table; an
// output whose header lists another number of ranks than the entry's `ranks`, or whose bus factor
// is not the entry's op's over its ranks, is refused.
StatusOr<std::vector<std::array<double, 2>>> NcclTestsRows(const MapReader& entry, CollectiveOp op, int64_t ranks,
                                                          Inputs* inputs) {
  ASSIGN_OR_RETURN(std::string ref, entry.String("nccl_tests"));
  std::filesystem::path p(ref);
  if (p.is_relative()) p = std::filesystem::path(entry.file()).parent_path() / p;
  StatusOr<std::string> text = ReadInputFile(p.string());
  if (!text.ok()) return text.status().WithPrefix(entry.file() + ": " + entry.FieldName("nccl_tests"));
  inputs->emplace_back(p.string(), *text);
  auto rows = ParseNcclTestsOutput(*text, p.string());
  if (!rows.ok()) return rows.status().WithPrefix(entry.file() + ": " + entry.FieldName("nccl_tests"));
  if (const int64_t listed = ListedRanks(*text); listed > 0 && listed != ranks) {
    return entry.Error("ranks", "the ranks its nccl-tests output lists (" + std::to_string(listed) + " in " +
                                    p.string() + "), got " + std::to_string(ranks));
  }
  RETURN_IF_ERROR(CheckBusFactor(entry, op, ranks, *text, p.string()));
  return rows;
}

Status ReadEntry(const MapReader& entry, const std::string& where, CollectiveTable* t, Inputs* inputs) {
  RETURN_IF_ERROR(entry.ExpectMap());
  RETURN_IF_ERROR(entry.CheckKnownKeys({"op", "ranks", "ranks_per_domain", "rows", "busbw_rows", "nccl_tests", "note"}));
  ASSIGN_OR_RETURN(std::string op_name, entry.String("op"));
  CollectiveOp op;
  if (!ParseCollectiveOp(op_name, &op)) {
    return entry.Error("op", "all_reduce, all_gather, reduce_scatter or all_to_all");
  }
  ASSIGN_OR_RETURN(int64_t ranks, entry.Int("ranks"));
  ASSIGN_OR_RETURN(int64_t per_domain, entry.IntOr("ranks_per_domain", ranks));
  const int given = int{entry.Has("rows")} + int{entry.Has("busbw_rows")} + int{entry.Has("nccl_tests")};
  if (given == 0) return entry.Error("rows", "one of rows, busbw_rows or nccl_tests");
  if (given > 1) {
    return InvalidArgument(entry.file() + ": " + where + ": expected only one of rows, busbw_rows or nccl_tests, got " +
                           std::to_string(given));
  }
  if (ranks < 2 || ranks > kMaxCollectiveRanks) return entry.Error("ranks", "a whole number from 2 to 2^24");
  std::vector<std::array<double, 2>> rows;
  // Each inline row is checked where it stands, so that the message names it: a whole number of
  // bytes, and a time (rows) or a bus bandwidth (busbw_rows) within the bounds AddCurve keeps.
  const auto bad_row = [&](const char* key, size_t i, const char* expected) {
    return InvalidArgument(entry.file() + ": " + entry.FieldName(key) + "[" + std::to_string(i) + "]: expected " +
                           expected);
  };
  const auto whole_bytes = [](double b) { return b >= 1 && b <= 0x1p50 && b == std::floor(b); };
  if (entry.Has("rows")) {
    ASSIGN_OR_RETURN(rows, InlineRows(entry, "rows", "[bytes, microseconds]"));
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!whole_bytes(rows[i][0]) || !(rows[i][1] >= 1e-3 && rows[i][1] <= 1e9)) {
        return bad_row("rows", i, "a whole number of bytes from 1 to 2^50 and a time from 1e-3 to 1e9 microseconds");
      }
    }
  } else if (entry.Has("busbw_rows")) {
    ASSIGN_OR_RETURN(rows, InlineRows(entry, "busbw_rows", "[bytes, GB/s]"));
    for (size_t i = 0; i < rows.size(); ++i) {  // bounds of sanity on the bandwidth, as on the scenario's rates
      if (!whole_bytes(rows[i][0]) || !(rows[i][1] >= 1e-3 && rows[i][1] <= 1e6)) {
        return bad_row("busbw_rows", i, "a whole number of bytes from 1 to 2^50 and a bus bandwidth from 1e-3 to 1e6 GB/s");
      }
    }
    for (size_t i = 0; i < rows.size(); ++i) {  // and on the time each gives
      rows[i][1] = BusBandwidthFactor(op, ranks) * rows[i][0] / (rows[i][1] * 1e9) * 1e6;
      if (!(rows[i][1] >= 1e-3 && rows[i][1] <= 1e9)) {
        return bad_row("busbw_rows", i, "a size and bus bandwidth whose time is from 1e-3 to 1e9 microseconds");
      }
    }
  } else {
    ASSIGN_OR_RETURN(rows, NcclTestsRows(entry, op, ranks, inputs));
  }
  if (per_domain < 1 || per_domain > ranks || ranks % per_domain != 0) {
    return entry.Error("ranks_per_domain", "a divisor of ranks");
  }
  Status s = t->AddCurve(op, ranks, per_domain, std::move(rows));
  if (!s.ok()) return InvalidArgument(entry.file() + ": " + where + ": expected " + s.message());
  return Status::Ok();
}

// A token that reads as the start of a number ("1024", "-1", "1e3", "1024x"): a result row's
// first columns. Words, paths and host:pid tags do not.
bool LooksNumeric(const std::string& t) {
  size_t i = (t[0] == '-' || t[0] == '+') ? 1 : 0;
  if (i >= t.size() || !(std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) return false;
  return std::all_of(t.begin() + static_cast<std::ptrdiff_t>(i), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '+' || c == '-';
  });
}

// A line for a message: trimmed and at most 120 characters.
std::string Clip(std::string line) {
  const size_t first = line.find_first_not_of(" \t\r");
  line = first == std::string::npos ? "" : line.substr(first);
  while (!line.empty() && (line.back() == ' ' || line.back() == '\r' || line.back() == '\t')) line.pop_back();
  return line.size() > 120 ? line.substr(0, 120) + "..." : line;
}

// The words of a line of nccl-tests output, after mpirun's "[1,0]<stdout>:" or srun -l's "RANK:"
// prefix.
std::vector<std::string> OutputWords(std::string line) {
  const size_t tag = line.find("<stdout>:");
  if (tag != std::string::npos) line = line.substr(tag + 9);
  std::istringstream words(line);
  std::vector<std::string> w;
  for (std::string s; words >> s;) w.push_back(s);
  if (!w.empty() && w[0].size() > 1 && w[0].back() == ':' && IsWholeNumber(w[0].substr(0, w[0].size() - 1))) {
    w.erase(w.begin());
  }
  return w;
}

}  // namespace

NcclTestsBusFactor ReadNcclTestsBusFactor(const std::string& text) {
  NcclTestsBusFactor best;
  double best_algbw = 0;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    const std::vector<std::string> w = OutputWords(line);
    if (w.size() < 12 || !IsWholeNumber(w[0]) || !IsWholeNumber(w[1])) continue;
    const size_t time_at = w.size() >= 13 ? 5 : 4;
    double algbw = 0, busbw = 0;
    if (!ParseFiniteNumber(w[time_at + 1], &algbw) || !ParseFiniteNumber(w[time_at + 2], &busbw)) continue;
    if (algbw < 1 || busbw <= 0 || algbw <= best_algbw) continue;
    best_algbw = algbw;
    best.factor = busbw / algbw;
    best.tolerance = 0.005 / algbw + 0.005 / busbw;  // each printed to two decimals
  }
  return best;
}

StatusOr<std::vector<std::array<double, 2>>> ParseNcclTestsOutput(const std::string& text, const std::string& name) {
  std::vector<std::array<double, 2>> rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const std::vector<std::string> w = OutputWords(line);
    // size count type redop [root] time algbw busbw #wrong time algbw busbw #wrong. A line that
    // starts like one (two numbers) and is not one is a damaged row: dropping it would change the
    // curve unseen. Headers, comments, launcher lines and a lone number (an echoed exit code)
    // start otherwise.
    if (w.size() < 2 || !LooksNumeric(w[0]) || !LooksNumeric(w[1])) continue;
    // Gathers and all-to-alls with a small -b round their first sizes down to 0 bytes: real rows
    // that time nothing.
    if (w[0] == "0" && w[1] == "0") continue;
    double bytes = 0, us = 0;
    if (w.size() < 12 || !IsWholeNumber(w[0]) || !IsWholeNumber(w[1]) || !ParseFiniteNumber(w[0], &bytes) ||
        bytes <= 0 || bytes > 0x1p50) {
      return InvalidArgument(name + ": expected a result row (a whole size in bytes from 1 to 2^50, a count, type, "
                             "redop, [root,] then time, algbw, busbw and #wrong out of place and in place), got '" +
                             Clip(line) + "'");
    }
    const bool root_column = w.size() >= 13;
    const size_t time_at = root_column ? 5 : 4;
    // A result row (it starts with a size and a count) whose time is not a positive number is a
    // damaged file, not a line to skip: dropping it would change the curve unseen.
    if (!ParseFiniteNumber(w[time_at], &us) || us <= 0) {
      return InvalidArgument(name + ": expected a positive time in microseconds in the row of " + w[0] +
                             " bytes, got '" + w[time_at] + "'");
    }
    // Since nccl-tests 2.12 the column after busbw counts wrong results (before it, an error size,
    // below 1). The count is printed with %6g, so a million reads 1e+06: any count from 1 up.
    double wrong = 0;
    if (root_column && ParseFiniteNumber(w[time_at + 3], &wrong) && wrong >= 1) {
      return InvalidArgument(name + ": expected correct results, got a row of " + w[0] + " bytes with " +
                             w[time_at + 3] + " wrong");
    }
    rows.push_back({bytes, us});
  }
  if (rows.size() < 2) return InvalidArgument(name + ": expected nccl-tests output with at least two result rows");
  return rows;
}

namespace {

// Parses a table from its text (already read from `path`), recording the other files it reads.
StatusOr<CollectiveTable> ParseCollectiveTable(const std::string& path, const std::string& text, Inputs* inputs) {
  ASSIGN_OR_RETURN(YAML::Node root, ParseYaml(text, path));
  MapReader r(root, path, "");
  RETURN_IF_ERROR(r.ExpectMap());
  RETURN_IF_ERROR(r.CheckKnownKeys({"hardware", "source", "note", "collectives"}));
  CollectiveTable t;
  t.file = path;
  ASSIGN_OR_RETURN(t.hardware, r.StringOr("hardware", ""));
  ASSIGN_OR_RETURN(t.source, r.String("source"));
  if (t.source.empty()) return r.Error("source", "a non-empty source");
  const YAML::Node list = root["collectives"];
  if (!list.IsSequence() || list.size() == 0) return r.Error("collectives", "a non-empty list of measured collectives");
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string where = "collectives[" + std::to_string(i) + "]";
    RETURN_IF_ERROR(ReadEntry(MapReader(list[i], path, where), where, &t, inputs));
  }
  return t;
}

// Tables already read in this process, by path. Many scenarios name the same table (a validation
// file names one for each of its runs), and parsing a table of a thousand rows costs far more than
// reading its bytes again to see that nothing changed.
struct LoadedTable {
  Inputs inputs;  // the table file first, then the nccl-tests outputs it names
  CollectiveTable table;
};
std::mutex loaded_mutex;
std::map<std::string, std::shared_ptr<const LoadedTable>> loaded;
constexpr size_t kMaxLoadedTables = 64;

bool Unchanged(const Inputs& inputs) {
  for (const auto& [file, text] : inputs) {
    std::optional<std::string> now = ReadText(file);
    if (!now || *now != text) return false;
  }
  return true;
}

}  // namespace

StatusOr<CollectiveTable> LoadCollectiveTable(const std::string& path) {
  std::shared_ptr<const LoadedTable> before;
  {
    std::lock_guard<std::mutex> lock(loaded_mutex);
    auto it = loaded.find(path);
    if (it != loaded.end()) before = it->second;
  }
  if (before && Unchanged(before->inputs)) return before->table;  // files read outside the lock
  ASSIGN_OR_RETURN(std::string text, ReadInputFile(path));
  Inputs inputs{{path, text}};
  ASSIGN_OR_RETURN(CollectiveTable t, ParseCollectiveTable(path, text, &inputs));
  std::lock_guard<std::mutex> lock(loaded_mutex);
  if (loaded.size() >= kMaxLoadedTables) loaded.clear();
  loaded[path] = std::make_shared<const LoadedTable>(LoadedTable{std::move(inputs), t});
  return t;
}

std::string CurveGroup(const CollectiveTable::Curve& c) {
  return std::string(kCollectiveOpNames[static_cast<int>(c.op)]) + " over " + std::to_string(c.ranks) + " (" +
         std::to_string(c.ranks_per_domain) + " per domain)";
}

}  // namespace preflight
