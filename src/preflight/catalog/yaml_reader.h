// File: catalog/yaml_reader.h
//
// Reads typed fields out of a YAML mapping and turns every problem into a one-line Status
// that names the file, the field path and what was expected:
//
//   ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
//   MapReader r(root, path, "");
//   RETURN_IF_ERROR(r.CheckKnownKeys({"id", "vendor"}));
//   ASSIGN_OR_RETURN(std::string id, r.String("id"));
//   ASSIGN_OR_RETURN(int64_t tp, r.IntOr("tp", 1));
//
// yaml-cpp throws on malformed input; every throw is caught here and becomes a Status.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "preflight/base/status.h"

namespace preflight {

// Parses a YAML file. NotFound if it cannot be opened, InvalidArgument if malformed or too large
// to parse in the memory there is (std::bad_alloc is caught, never thrown on).
StatusOr<YAML::Node> LoadYamlFile(const std::string& path);

// The whole text of a file (or a pipe) of at most kMaxInputFileBytes (64 MiB; every input of the
// tool is far smaller): NotFound when it cannot be opened, InvalidArgument for a directory or
// anything longer (a device such as /dev/zero would otherwise be read without end).
inline constexpr int64_t kMaxInputFileBytes = int64_t{64} << 20;
StatusOr<std::string> ReadInputFile(const std::string& path);

// Parses YAML text; `name` is used in error messages in place of a file name. Errors as
// LoadYamlFile's.
StatusOr<YAML::Node> ParseYaml(const std::string& text, const std::string& name);

// A character that would break a one-line report: ASCII control characters (newline, tab, bell, DEL).
inline bool IsControlCharacter(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }
// Whether `s` holds a control character: an ASCII one, one of Unicode's C1 controls U+0080 to
// U+009F in UTF-8 (0xC2 0x80-0x9F: NEL breaks a line, CSI starts a terminal sequence), or the line
// or paragraph separator U+2028, U+2029.
bool HasControlCharacter(std::string_view s);
// `s` with each control character (as HasControlCharacter finds them) replaced by `with`.
std::string ReplaceControlCharacters(std::string_view s, char with);

// A view of one YAML mapping inside a file, remembering where it sits for error messages.
class MapReader {
 public:
  // `path` is the dotted field path of `node` inside `file` ("" for the root).
  MapReader(YAML::Node node, std::string file, std::string path);

  // InvalidArgument unless the node is a mapping.
  Status ExpectMap() const;
  // InvalidArgument naming the first key that is not in `known`.
  Status CheckKnownKeys(std::initializer_list<std::string_view> known) const;
  Status CheckKnownKeys(const std::vector<std::string_view>& known) const;

  // Whether the mapping gives `key`, with a value or left empty (`key:`, `key: null`): a reader
  // then refuses the empty one ("expected ..., got nothing"), as a forgotten value is not a
  // request for the default.
  bool Has(std::string_view key) const;
  const YAML::Node& node() const { return node_; }
  const std::string& file() const { return file_; }
  // "parallel.tp" for key "tp" inside "parallel".
  std::string FieldName(std::string_view key) const;

  // The *Or readers give `fallback` where `key` is absent, and refuse it left empty.
  StatusOr<std::string> String(std::string_view key) const;
  StatusOr<std::string> StringOr(std::string_view key, std::string fallback) const;
  // A non-empty string the reports print on one line: an error for control characters (a newline
  // in a quoted value split the report) and for an empty or blank one.
  StatusOr<std::string> Line(std::string_view key) const;
  StatusOr<std::string> LineOr(std::string_view key, std::string fallback) const;
  StatusOr<double> Number(std::string_view key) const;
  StatusOr<double> NumberOr(std::string_view key, double fallback) const;
  // A whole number (1e3 and 1000 both accepted); error for fractions.
  StatusOr<int64_t> Int(std::string_view key) const;
  StatusOr<int64_t> IntOr(std::string_view key, int64_t fallback) const;
  StatusOr<bool> Bool(std::string_view key) const;
  StatusOr<bool> BoolOr(std::string_view key, bool fallback) const;
  // The child mapping at `key`; error if absent or not a mapping.
  StatusOr<MapReader> Map(std::string_view key) const;
  // A list of rows of `columns` finite numbers each at `key` ([[512, 191, 214], ...]); the error
  // names the row ("field[2]") and says "`describe` rows" is what was expected.
  StatusOr<std::vector<std::vector<double>>> NumberRows(std::string_view key, size_t columns,
                                                        std::string_view describe) const;

  // "<file>: <field>: expected <expected>, got '<scalar or kind>'".
  Status Error(std::string_view key, std::string_view expected) const;

 private:
  YAML::Node Child(std::string_view key) const;

  YAML::Node node_;
  std::string file_;
  std::string path_;
};

// Parses the whole of `text` as a finite decimal number (digits, sign, point, exponent); false
// for empty text, trailing characters, hexadecimal, NaN or infinity.
bool ParseFiniteNumber(const std::string& text, double* out);

// A short description of a node for error messages: its scalar text, or "a mapping" etc.
std::string DescribeNode(const YAML::Node& node);

}  // namespace preflight
