#include "preflight/catalog/yaml_reader.h"

#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <new>
#include <set>
#include <sstream>
#include <vector>

#include "preflight/base/utf8.h"

namespace preflight {
namespace {

// The offset of the first byte that does not begin or continue a well-formed UTF-8 character, or
// npos.
size_t FirstInvalidUtf8(const std::string& text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = Utf8CharLength(text, i);
    if (n == 0) return i;
    i += n;
  }
  return std::string::npos;
}

// Whether the quoted scalar opening at `open` of `text` (a ' or ") closes: YAML reads an
// unterminated one to the end of the file, which the parser accepts, so a forgotten quote would
// swallow every key after it.
bool QuoteCloses(const std::string& text, size_t open) {
  const char q = text[open];
  for (size_t i = open + 1; i < text.size(); ++i) {
    if (q == '"' && text[i] == '\\') {
      ++i;  // an escape: the next character is not the closing quote
    } else if (text[i] == q) {
      if (q == '\'' && i + 1 < text.size() && text[i + 1] == '\'') {
        ++i;  // '' inside single quotes is one quote
      } else {
        return true;
      }
    }
  }
  return false;
}

// Finds a quoted scalar of a parsed document that never closes, from where the parser marks
// each node in `text`.
class UnclosedQuotes {
 public:
  explicit UnclosedQuotes(const std::string& text)
      : text_(text), bom_(text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0) {}

  // The line (from 1) of the first quoted scalar under `node`, keys included, that never closes;
  // 0 when all close. A node reached again through an alias is not walked again, and the walk is
  // bounded should aliases multiply the nodes or one hold itself (`&m {a: *m}`).
  size_t Line(const YAML::Node& node, int depth = 0) {
    if (--budget_ < 0 || depth > 1100) return 0;
    const size_t pos = static_cast<size_t>(std::max(0, node.Mark().pos));
    if (!seen_.insert({pos, static_cast<int>(node.Type())}).second) return 0;
    if (node.IsScalar()) {
      const size_t open = QuoteAt(pos);
      return open != std::string::npos && !QuoteCloses(text_, open) ? static_cast<size_t>(node.Mark().line) + 1 : 0;
    }
    if (node.IsSequence()) {
      for (const YAML::Node& child : node) {
        if (const size_t line = Line(child, depth + 1)) return line;
      }
    } else if (node.IsMap()) {
      for (const auto& kv : node) {
        if (const size_t line = Line(kv.first, depth + 1)) return line;
        if (const size_t line = Line(kv.second, depth + 1)) return line;
      }
    }
    return 0;
  }

 private:
  // Where the scalar marked at `pos` opens its quote, past any anchor (&a) or tag (!t) before it;
  // npos for a plain or block scalar (a plain one cannot begin with a quote). The parser's marks
  // count from after a UTF-8 byte-order mark.
  size_t QuoteAt(size_t pos) const {
    size_t p = pos + bom_;
    while (p < text_.size() && (text_[p] == '&' || text_[p] == '!')) {
      p = text_.find_first_of(" \t\r\n", p);
      p = p == std::string::npos ? p : text_.find_first_not_of(" \t\r\n", p);
    }
    return p < text_.size() && (text_[p] == '"' || text_[p] == '\'') ? p : std::string::npos;
  }

  const std::string& text_;
  const size_t bom_;
  int budget_ = 1 << 20;
  std::set<std::pair<size_t, int>> seen_;  // (mark, type): a mapping and its first key share a mark
};

// `text` with every carriage return that ends a line alone (old Mac OS text) made a line feed. A
// lone CR is a line break in YAML 1.2 (section 5.4), as CR LF and LF are, but the parser takes it
// for an ordinary character: a file of CR-ended lines read as one line (a leading comment hid the
// whole file). CR LF is left as it is, and so is text without a lone CR (no copy is made of it).
const std::string& WithLineFeeds(const std::string& text, std::string* storage) {
  auto lone_cr = [](const std::string& s, size_t i) { return s[i] == '\r' && (i + 1 == s.size() || s[i + 1] != '\n'); };
  size_t first = text.find('\r');
  while (first != std::string::npos && !lone_cr(text, first)) first = text.find('\r', first + 1);
  if (first == std::string::npos) return text;
  *storage = text;
  for (size_t i = first; i < storage->size(); ++i) {
    if (lone_cr(*storage, i)) (*storage)[i] = '\n';
  }
  return *storage;
}

}  // namespace

StatusOr<YAML::Node> ParseYaml(const std::string& raw, const std::string& name) {
  // A NUL is no YAML character in UTF-8 text; the parser would report whatever follows it. UTF-16
  // and UTF-32 text (a byte-order mark, or a zero byte among the first two, which is how the
  // parser tells them) is the parser's to decode, line breaks included.
  const bool wide = raw.size() >= 2 && (raw[0] == '\0' || raw[1] == '\0' ||
                                        (static_cast<unsigned char>(raw[0]) == 0xFF && static_cast<unsigned char>(raw[1]) == 0xFE) ||
                                        (static_cast<unsigned char>(raw[0]) == 0xFE && static_cast<unsigned char>(raw[1]) == 0xFF));
  std::string converted;
  const std::string& text = wide ? raw : WithLineFeeds(raw, &converted);
  if (const size_t nul = wide ? std::string::npos : text.find('\0'); nul != std::string::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(nul), '\n');
    return InvalidArgument(name + ": expected YAML text, got a NUL byte at line " + std::to_string(line) +
                           " (a binary file?)");
  }
  // The text and JSON reports would disagree on a byte that is not UTF-8 (one echoes it, the other
  // replaces it): such text is refused where it is read.
  if (const size_t bad = wide ? std::string::npos : FirstInvalidUtf8(text); bad != std::string::npos) {
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(bad), '\n');
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(text[bad])));
    return InvalidArgument(name + ": expected UTF-8 text, got the byte " + hex + " at line " + std::to_string(line) +
                           " (another encoding, such as Latin-1?)");
  }
  try {
    // One document: a second one would otherwise be dropped unread (empty ones, as a trailing
    // `---` makes, hold nothing to drop). It starts at a `---`, or where a line at column 0 cannot
    // continue the first document (a key after a top-level list).
    std::vector<YAML::Node> docs;
    for (const YAML::Node& d : YAML::LoadAll(text)) {
      if (!d.IsNull()) docs.push_back(d);
    }
    if (docs.size() > 1) {
      return InvalidArgument(name + ": expected one YAML document, got " + std::to_string(docs.size()) +
                             " (the second starts at line " + std::to_string(docs[1].Mark().line + 1) +
                             ": after a ---, or a line at column 0 that does not continue the first)");
    }
    if (docs.empty()) return YAML::Node();
    if (const size_t line = wide ? 0 : UnclosedQuotes(text).Line(docs.front())) {
      return InvalidArgument(name + ": malformed YAML at line " + std::to_string(line) +
                             ": a quoted string that never closes (it would run to the end of the file)");
    }
    return docs.front();
  } catch (const YAML::DeepRecursion& e) {  // valid YAML, nested beyond what the parser follows
    return InvalidArgument(name + ": expected YAML nested less deeply, got nesting past the parser's limit (" +
                           std::to_string(e.depth()) + " levels) at line " + std::to_string(e.mark.line + 1));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(name + ": malformed YAML at line " + std::to_string(e.mark.line + 1) +
                           ": " + e.msg);
  } catch (const std::bad_alloc&) {  // nodes take many times the text's bytes: a huge file can exhaust memory
    return InvalidArgument(name + ": expected YAML whose parsed nodes fit in memory, got " + std::to_string(text.size()) +
                           " bytes that ran out of it");
  }
}

StatusOr<std::string> ReadInputFile(const std::string& path) {
  std::error_code ec;
  const std::filesystem::file_status st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) return NotFound(path + ": cannot open file");
  if (std::filesystem::is_directory(st)) return InvalidArgument(path + ": expected a file, got a directory");
  if (std::filesystem::is_regular_file(st)) {
    const auto size = std::filesystem::file_size(path, ec);
    if (!ec && static_cast<int64_t>(size) > kMaxInputFileBytes) {
      return InvalidArgument(path + ": expected a file of at most 64 MiB");
    }
  }
  // A pipe (`<(...)`) is read like a file, in chunks; a device such as /dev/zero stops at the limit.
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot open file");
  std::string text;
  char chunk[1 << 16];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (static_cast<int64_t>(text.size()) > kMaxInputFileBytes) {
      return InvalidArgument(path + ": expected a file of at most 64 MiB");
    }
  }
  if (in.bad()) return NotFound(path + ": cannot read file");
  return text;
}

StatusOr<YAML::Node> LoadYamlFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadInputFile(path));
  return ParseYaml(text, path);
}

bool ParseFiniteNumber(const std::string& text, double* out) {
  if (text.empty()) return false;
  // Decimal only: strtod would also read hexadecimal ("0x10" as 16) and "inf"/"nan" words.
  if (text.find_first_not_of("0123456789+-.eE") != std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && std::isfinite(*out);
}

// `text` on one line: control characters (a newline in a quoted value) as escapes.
std::string OneLine(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (IsControlCharacter(c)) {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string DescribeNode(const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return "nothing";
  if (node.IsScalar()) {
    // A whole file read where a value was expected (a path given for an id) is not echoed whole.
    constexpr size_t kShown = 80;
    const std::string v = OneLine(node.Scalar());
    if (v.size() <= kShown + 20) return "'" + v + "'";
    size_t cut = kShown;  // back to the first byte of a UTF-8 character, at most 3 bytes before
    for (int back = 0; back < 3 && (static_cast<unsigned char>(v[cut]) & 0xC0) == 0x80; ++back) --cut;
    std::string shown = "'";
    shown.append(v, 0, cut);
    shown += "...' (";
    shown += std::to_string(v.size());
    shown += " bytes)";
    return shown;
  }
  if (node.IsSequence()) return node.size() == 0 ? "an empty list" : "a list";
  return node.size() == 0 ? "an empty mapping" : "a mapping";
}

MapReader::MapReader(YAML::Node node, std::string file, std::string path)
    : node_(std::move(node)), file_(std::move(file)), path_(std::move(path)) {}

std::string MapReader::FieldName(std::string_view key) const {
  if (path_.empty()) return std::string(key);
  return path_ + "." + std::string(key);
}

Status MapReader::Error(std::string_view key, std::string_view expected) const {
  std::string got = key.empty() ? DescribeNode(node_) : DescribeNode(Child(key));
  std::string field = key.empty() ? (path_.empty() ? "(top level)" : path_) : FieldName(key);
  return InvalidArgument(file_ + ": " + field + ": expected " + std::string(expected) + ", got " +
                         got);
}

Status MapReader::ExpectMap() const {
  if (node_.IsMap()) return Status::Ok();
  return Error("", "a mapping");
}

Status MapReader::CheckKnownKeys(std::initializer_list<std::string_view> known) const {
  return CheckKnownKeys(std::vector<std::string_view>(known));
}

Status MapReader::CheckKnownKeys(const std::vector<std::string_view>& known) const {
  RETURN_IF_ERROR(ExpectMap());
  std::vector<std::string> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar() || kv.first.Scalar().empty()) {  // `? [a, b]` or `~` as a key
      return InvalidArgument(file_ + ": " + (path_.empty() ? "(top level)" : path_) +
                             ": expected fields named by text, got a key that is " + DescribeNode(kv.first));
    }
    std::string key = kv.first.Scalar();
    // YAML keeps the first of two equal keys and drops the second without a word.
    if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
      return InvalidArgument(file_ + ": " + FieldName(key) + ": given twice (expected each field once)");
    }
    seen.push_back(key);
    bool found = false;
    for (auto k : known) found = found || (k == key);
    if (!found) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument(file_ + ": " + FieldName(key) + ": unknown field (expected one of: " +
                             list + ")");
    }
  }
  return Status::Ok();
}

YAML::Node MapReader::Child(std::string_view key) const {
  if (!node_.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  for (const auto& kv : node_) {
    if (kv.first.Scalar() == key) return kv.second;
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

bool MapReader::Has(std::string_view key) const { return Child(key).IsDefined(); }

StatusOr<std::string> MapReader::String(std::string_view key) const {
  YAML::Node c = Child(key);
  if (!c.IsDefined() || !c.IsScalar()) return Error(key, "a string");
  return c.Scalar();
}

StatusOr<std::string> MapReader::StringOr(std::string_view key, std::string fallback) const {
  if (!Has(key)) return fallback;
  return String(key);
}

namespace {

// The length of the control character at `s[i]`: 1 (ASCII), 2 or 3 (Utf8ControlLength: a C1
// control, a line or paragraph separator, a bidirectional control), else 0.
size_t ControlCharacterAt(std::string_view s, size_t i) {
  if (IsControlCharacter(s[i])) return 1;
  return Utf8ControlLength(s, i);
}

}  // namespace

bool HasControlCharacter(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (ControlCharacterAt(s, i) > 0) return true;
  }
  return false;
}

std::string ReplaceControlCharacters(std::string_view s, char with) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const size_t n = ControlCharacterAt(s, i);
    if (n > 0) {
      out += with;
      i += n;
    } else {
      out += s[i++];
    }
  }
  return out;
}

StatusOr<std::string> MapReader::Line(std::string_view key) const {
  ASSIGN_OR_RETURN(std::string s, String(key));
  if (HasControlCharacter(s)) return Error(key, "one line without control characters");
  if (s.find_first_not_of(" \t") == std::string::npos) return Error(key, "a non-empty string");
  return s;
}

StatusOr<std::string> MapReader::LineOr(std::string_view key, std::string fallback) const {
  if (!Has(key)) return fallback;
  return Line(key);
}

StatusOr<double> MapReader::Number(std::string_view key) const {
  YAML::Node c = Child(key);
  if (!c.IsDefined() || !c.IsScalar()) return Error(key, "a number");
  double v = 0;
  if (!ParseFiniteNumber(c.Scalar(), &v)) return Error(key, "a number");
  return v;
}

StatusOr<std::vector<std::vector<double>>> MapReader::NumberRows(std::string_view key, size_t columns,
                                                                 std::string_view describe) const {
  const YAML::Node list = Child(key);
  if (!list.IsDefined() || !list.IsSequence()) return Error(key, "a list of " + std::string(describe) + " rows");
  std::vector<std::vector<double>> rows;
  for (size_t i = 0; i < list.size(); ++i) {
    const YAML::Node row = list[i];
    const std::string where = file_ + ": " + FieldName(key) + "[" + std::to_string(i) + "]";
    const std::string expected = ": expected " + std::string(describe) + ", got ";
    if (!row.IsSequence() || row.size() != columns) return InvalidArgument(where + expected + DescribeNode(row));
    std::vector<double> r(columns);
    for (size_t j = 0; j < columns; ++j) {
      if (!row[j].IsScalar() || !ParseFiniteNumber(row[j].Scalar(), &r[j])) {
        return InvalidArgument(where + expected + DescribeNode(row[j]));
      }
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

StatusOr<double> MapReader::NumberOr(std::string_view key, double fallback) const {
  if (!Has(key)) return fallback;
  return Number(key);
}

StatusOr<int64_t> MapReader::Int(std::string_view key) const {
  auto v = Number(key);
  if (!v.ok() || *v != std::floor(*v) || std::fabs(*v) > 9.0e15) {
    return Error(key, "a whole number");
  }
  return static_cast<int64_t>(*v);
}

StatusOr<int64_t> MapReader::IntOr(std::string_view key, int64_t fallback) const {
  if (!Has(key)) return fallback;
  return Int(key);
}

StatusOr<bool> MapReader::Bool(std::string_view key) const {
  YAML::Node c = Child(key);
  if (c.IsDefined() && c.IsScalar()) {
    const std::string& s = c.Scalar();
    // YAML 1.1's spellings (yaml-cpp's own), in the three cases it allows.
    for (std::string_view t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"}) {
      if (s == t) return true;
    }
    for (std::string_view f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"}) {
      if (s == f) return false;
    }
  }
  return Error(key, "true or false");
}

StatusOr<bool> MapReader::BoolOr(std::string_view key, bool fallback) const {
  if (!Has(key)) return fallback;
  return Bool(key);
}

StatusOr<MapReader> MapReader::Map(std::string_view key) const {
  YAML::Node c = Child(key);
  if (!c.IsDefined() || !c.IsMap()) return Error(key, "a mapping");
  return MapReader(c, file_, FieldName(key));
}

}  // namespace preflight
