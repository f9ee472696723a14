// Tests of catalog/yaml_reader.h: typed reads out of a YAML mapping and their one-line errors.
#include "preflight/catalog/yaml_reader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

namespace preflight {
namespace {

constexpr const char* kDoc = R"(name: llama
count: 8
big: 1e3
fraction: 2.5
negative: -3
huge: 1e16
flag_true: true
flag_yes: yes
flag_on: on
flag_false: False
flag_no: no
flag_one: 1
nothing: null
list: [1, 2]
text_number: "12"
infinite: .inf
nan: .nan
words: twelve
parallel:
  tp: 8
  inner: {deep: 3}
)";

MapReader Root() {
  StatusOr<YAML::Node> n = ParseYaml(kDoc, "doc.yaml");
  EXPECT_TRUE(n.ok()) << n.status().message();
  return MapReader(*n, "doc.yaml", "");
}

bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(YamlReaderTest, StringReads) {
  MapReader r = Root();
  EXPECT_EQ(*r.String("name"), "llama");
  EXPECT_EQ(*r.String("count"), "8") << "a scalar reads as its text";
  EXPECT_EQ(*r.StringOr("absent", "dflt"), "dflt");
  // A key left empty is a forgotten value, not a request for the default.
  EXPECT_EQ(r.StringOr("nothing", "dflt").status().message(), "doc.yaml: nothing: expected a string, got nothing");
  EXPECT_EQ(*r.StringOr("name", "dflt"), "llama");
}

TEST(YamlReaderTest, NumberReads) {
  MapReader r = Root();
  struct Case {
    const char* key;
    double want;
  };
  const Case cases[] = {
      {"count", 8}, {"big", 1000}, {"fraction", 2.5}, {"negative", -3}, {"text_number", 12}};
  for (const Case& c : cases) {
    StatusOr<double> v = r.Number(c.key);
    ASSERT_TRUE(v.ok()) << c.key << ": " << v.status().message();
    EXPECT_DOUBLE_EQ(*v, c.want) << c.key;
  }
  EXPECT_DOUBLE_EQ(*r.NumberOr("absent", 4.5), 4.5);
  EXPECT_DOUBLE_EQ(*r.NumberOr("count", 4.5), 8);
  // Decimal numbers only: strtod's hexadecimal and words are refused.
  double d = 0;
  EXPECT_TRUE(ParseFiniteNumber("-1.5e3", &d));
  EXPECT_DOUBLE_EQ(d, -1500);
  for (const char* bad : {"0x10", "0X1p4", "inf", "nan", "1.5 GB", ""}) EXPECT_FALSE(ParseFiniteNumber(bad, &d)) << bad;
  for (const char* good : {"1e3", ".5", "+2", "-0.25"}) EXPECT_TRUE(ParseFiniteNumber(good, &d)) << good;
  StatusOr<YAML::Node> hex = ParseYaml("devices: 0x400\n", "hex.yaml");
  ASSERT_TRUE(hex.ok());
  EXPECT_FALSE(MapReader(*hex, "hex.yaml", "").Number("devices").ok()) << "a field reads decimal numbers only";
}

TEST(YamlReaderTest, IntReads) {
  MapReader r = Root();
  EXPECT_EQ(*r.Int("count"), 8);
  EXPECT_EQ(*r.Int("big"), 1000) << "1e3 is a whole number";
  EXPECT_EQ(*r.Int("negative"), -3);
  EXPECT_EQ(*r.IntOr("absent", 7), 7);
  EXPECT_EQ(r.IntOr("nothing", 7).status().message(), "doc.yaml: nothing: expected a whole number, got nothing");
}

TEST(YamlReaderTest, BoolReads) {
  MapReader r = Root();
  struct Case {
    const char* key;
    bool want;
  };
  const Case cases[] = {{"flag_true", true},
                        {"flag_yes", true},
                        {"flag_on", true},
                        {"flag_false", false},
                        {"flag_no", false}};
  for (const Case& c : cases) {
    StatusOr<bool> v = r.Bool(c.key);
    ASSERT_TRUE(v.ok()) << c.key << ": " << v.status().message();
    EXPECT_EQ(*v, c.want) << c.key;
  }
  EXPECT_TRUE(*r.BoolOr("absent", true));
  EXPECT_FALSE(*r.BoolOr("absent", false));
  EXPECT_FALSE(*r.BoolOr("flag_false", true));
  // YAML 1.1's spellings in each case it allows (it refused TRUE, Yes, On and y).
  StatusOr<YAML::Node> spelled = ParseYaml("a: TRUE\nb: Yes\nc: On\nd: y\ne: OFF\nf: No\ng: N\n", "bools.yaml");
  ASSERT_TRUE(spelled.ok());
  MapReader b(*spelled, "bools.yaml", "");
  for (const char* key : {"a", "b", "c", "d"}) EXPECT_TRUE(b.Bool(key).ok() && *b.Bool(key)) << key;
  for (const char* key : {"e", "f", "g"}) EXPECT_TRUE(b.Bool(key).ok() && !*b.Bool(key)) << key;
}

// Every failing read: InvalidArgument "<file>: <field>: expected <what>, got <what>".
TEST(YamlReaderTest, ErrorsNameFileFieldExpectedAndGot) {
  MapReader r = Root();
  struct Case {
    const char* what;
    Status status;
    const char* message;
  };
  const Case cases[] = {
      {"missing string", r.String("absent").status(),
       "doc.yaml: absent: expected a string, got nothing"},
      {"list as string", r.String("list").status(),
       "doc.yaml: list: expected a string, got a list"},
      {"mapping as number", r.Number("parallel").status(),
       "doc.yaml: parallel: expected a number, got a mapping"},
      {"word as number", r.Number("words").status(),
       "doc.yaml: words: expected a number, got 'twelve'"},
      {"infinite number", r.Number("infinite").status(),
       "doc.yaml: infinite: expected a number, got '.inf'"},
      {"nan number", r.Number("nan").status(), "doc.yaml: nan: expected a number, got '.nan'"},
      {"fraction as int", r.Int("fraction").status(),
       "doc.yaml: fraction: expected a whole number, got '2.5'"},
      {"huge int", r.Int("huge").status(), "doc.yaml: huge: expected a whole number, got '1e16'"},
      {"word as int", r.IntOr("words", 1).status(),
       "doc.yaml: words: expected a whole number, got 'twelve'"},
      {"1 as bool", r.Bool("flag_one").status(),
       "doc.yaml: flag_one: expected true or false, got '1'"},
      {"word as bool", r.BoolOr("words", false).status(),
       "doc.yaml: words: expected true or false, got 'twelve'"},
      {"missing bool", r.Bool("absent").status(),
       "doc.yaml: absent: expected true or false, got nothing"},
      {"scalar as map", r.Map("name").status(), "doc.yaml: name: expected a mapping, got 'llama'"},
      {"missing map", r.Map("absent").status(),
       "doc.yaml: absent: expected a mapping, got nothing"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(c.status.code(), StatusCode::kInvalidArgument) << c.what;
    EXPECT_EQ(c.status.message(), c.message) << c.what;
  }
}

TEST(YamlReaderTest, NestedMapsCarryTheirPath) {
  MapReader r = Root();
  StatusOr<MapReader> p = r.Map("parallel");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->FieldName("tp"), "parallel.tp");
  EXPECT_EQ(*p->Int("tp"), 8);
  EXPECT_EQ(p->file(), "doc.yaml");
  StatusOr<MapReader> inner = p->Map("inner");
  ASSERT_TRUE(inner.ok());
  EXPECT_EQ(inner->FieldName("deep"), "parallel.inner.deep");
  EXPECT_EQ(inner->Bool("deep").status().message(),
            "doc.yaml: parallel.inner.deep: expected true or false, got '3'");
  EXPECT_EQ(p->Error("tp", "a power of two").message(),
            "doc.yaml: parallel.tp: expected a power of two, got '8'");
}

TEST(YamlReaderTest, ErrorOnTheNodeItself) {
  MapReader root = Root();
  EXPECT_EQ(root.Error("", "something").message(),
            "doc.yaml: (top level): expected something, got a mapping");
  MapReader p = *root.Map("parallel");
  EXPECT_EQ(p.Error("", "something").message(),
            "doc.yaml: parallel: expected something, got a mapping");
}

// A key left empty is given (its reader then refuses it); only a missing key is absent.
TEST(YamlReaderTest, HasTellsAnEmptyKeyFromAnAbsentOne) {
  MapReader r = Root();
  EXPECT_TRUE(r.Has("name"));
  EXPECT_TRUE(r.Has("list"));
  EXPECT_TRUE(r.Has("nothing"));
  EXPECT_EQ(r.Number("nothing").status().message(), "doc.yaml: nothing: expected a number, got nothing");
  EXPECT_FALSE(r.Has("absent"));
}

TEST(YamlReaderTest, CheckKnownKeys) {
  MapReader p = *Root().Map("parallel");
  EXPECT_TRUE(p.CheckKnownKeys({"tp", "inner", "pp"}).ok());
  Status s = p.CheckKnownKeys({"tp", "pp"});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "doc.yaml: parallel.inner: unknown field (expected one of: tp, pp)");
}

// A key that is not text (a list, or YAML's null) names no field: the mapping holding it is named.
TEST(YamlReaderTest, KeysThatAreNotTextAreRefused) {
  for (const auto& [text, got] : {std::pair<std::string, std::string>{"tp: 1\n? [a, b]\n: 1\n", "a list"},
                                  {"tp: 1\n~: 2\n", "nothing"}}) {
    StatusOr<YAML::Node> n = ParseYaml(text, "k.yaml");
    ASSERT_TRUE(n.ok()) << n.status().message();
    EXPECT_EQ(MapReader(*n, "k.yaml", "").CheckKnownKeys({"tp"}).message(),
              "k.yaml: (top level): expected fields named by text, got a key that is " + got);
    EXPECT_EQ(MapReader(*n, "k.yaml", "parallel").CheckKnownKeys({"tp"}).message(),
              "k.yaml: parallel: expected fields named by text, got a key that is " + got);
  }
}

TEST(YamlReaderTest, NonMappingNode) {
  StatusOr<YAML::Node> n = ParseYaml("[1, 2, 3]", "list.yaml");
  ASSERT_TRUE(n.ok());
  MapReader r(*n, "list.yaml", "");
  EXPECT_EQ(r.ExpectMap().message(), "list.yaml: (top level): expected a mapping, got a list");
  EXPECT_FALSE(r.CheckKnownKeys({"a"}).ok());
  EXPECT_FALSE(r.Has("a"));
  EXPECT_EQ(r.String("a").status().message(), "list.yaml: a: expected a string, got nothing");
}

TEST(YamlReaderTest, DescribeNode) {
  EXPECT_EQ(DescribeNode(YAML::Node()), "nothing");
  EXPECT_EQ(DescribeNode(YAML::Load("x")), "'x'");
  EXPECT_EQ(DescribeNode(YAML::Load("[1]")), "a list");
  EXPECT_EQ(DescribeNode(YAML::Load("{a: 1}")), "a mapping");
  EXPECT_EQ(DescribeNode(YAML::Load("~")), "nothing");
}

TEST(YamlReaderTest, MalformedYamlNamesSourceAndLine) {
  StatusOr<YAML::Node> n = ParseYaml("a: 1\nb: [1, 2\nc: 3\n", "bad.yaml");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(n.status().message(), "bad.yaml: malformed YAML at line "))
      << n.status().message();
  EXPECT_EQ(n.status().message().find('\n'), std::string::npos);
}

// A quoted value that never closes runs to the end of the file, which the parser accepts; it is
// refused at the line it opens (fuzzing found the keys after it reported missing instead).
TEST(YamlReaderTest, AnUnclosedQuoteNamesItsLine) {
  for (const std::string text : {"a: 1\nname: \"gpt2\nmodel: x\nc: 3\n", "a: 1\nname: 'gpt2\nmodel: x\n",
                                 "a: 1\n\"key: 2\nb: 3\n", "a: [1, \"x]\n", "a: &x \"foo\nb: 1\n",
                                 "a: !t \"foo\nb: 1\n", "\xEF\xBB\xBFname: \"gpt2\nmodel: x\n"}) {
    SCOPED_TRACE(text);
    StatusOr<YAML::Node> n = ParseYaml(text, "q.yaml");
    if (n.ok()) {
      ADD_FAILURE() << "accepted";
      continue;
    }
    EXPECT_TRUE(Contains(n.status().message(), "q.yaml: malformed YAML at line ")) << n.status().message();
    EXPECT_EQ(n.status().message().find('\n'), std::string::npos);
  }
  // Closed quotes, escaped and doubled quotes inside them, and quotes inside plain text are fine.
  for (const std::string text : {"a: \"x \\\" y\"\nb: 'it''s'\nc: don't\nd: \"multi\n  line\"\ne: |\n  \"open\n",
                                 "\xEF\xBB\xBF" "a: [\"x\", 'y']\n", "a: &x \"foo\"\nb: *x\nc: !!str \"z\"\n",
                                 "a: 1\r\nb: \"x\"\r\n# a \" in a comment\r\n"}) {
    SCOPED_TRACE(text);
    StatusOr<YAML::Node> n = ParseYaml(text, "ok.yaml");
    EXPECT_TRUE(n.ok()) << n.status().message();
  }
  StatusOr<YAML::Node> two = ParseYaml("a: 1\nname: \"gpt2\nmodel: x\n", "q.yaml");
  ASSERT_FALSE(two.ok());
  EXPECT_TRUE(Contains(two.status().message(), "line 2")) << two.status().message();
}

// Lines ended by a carriage return alone (old Mac OS text) are lines, as YAML 1.2 says: the parser
// took such a file for one line, so a leading comment hid all of it.
TEST(YamlReaderTest, LinesEndedByACarriageReturnAloneAreLines) {
  StatusOr<YAML::Node> n = ParseYaml("# a comment\ra: 1\rb: \"x\"\r", "cr.yaml");
  ASSERT_TRUE(n.ok()) << n.status().message();
  ASSERT_TRUE(n->IsMap());
  EXPECT_EQ((*n)["a"].as<int>(), 1);
  EXPECT_EQ((*n)["b"].as<std::string>(), "x");
  // Mixed with CR LF and LF, each ending counts one line in a message, as in the same text in LF.
  StatusOr<YAML::Node> bad = ParseYaml("a: 1\r\nb: 2\rc: 3\nd: [1, 2\re: 5\r", "bad.yaml");
  StatusOr<YAML::Node> lf = ParseYaml("a: 1\nb: 2\nc: 3\nd: [1, 2\ne: 5\n", "bad.yaml");
  ASSERT_FALSE(bad.ok());
  ASSERT_FALSE(lf.ok());
  EXPECT_EQ(bad.status().message(), lf.status().message());
  EXPECT_TRUE(Contains(bad.status().message(), "line 5")) << bad.status().message();
  // UTF-16 text is the parser's: a 0x0D byte there is half a character.
  StatusOr<YAML::Node> wide = ParseYaml(std::string("a\0:\0 \0\x0D\x01\n\0", 10), "wide.yaml");
  ASSERT_TRUE(wide.ok()) << wide.status().message();
  EXPECT_EQ((*wide)["a"].as<std::string>(), "\xC4\x8D") << "U+010D, whose low byte is a CR";
}

// Valid YAML nested deeper than the parser follows is not called malformed: the message says why.
TEST(YamlReaderTest, TooDeepNestingSaysSo) {
  StatusOr<YAML::Node> n = ParseYaml("a: 1\nb: " + std::string(600, '[') + std::string(600, ']') + "\n", "deep.yaml");
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(Contains(n.status().message(), "deep.yaml: expected YAML nested less deeply, got nesting past the "
                                             "parser's limit (")) << n.status().message();
  EXPECT_TRUE(Contains(n.status().message(), "levels) at line 2")) << n.status().message();
}

// A second document after `---` is refused rather than dropped unread; a leading `---` before
// the one document is fine, and an empty text is an empty node.
TEST(YamlReaderTest, OneDocumentOnly) {
  StatusOr<YAML::Node> two = ParseYaml("a: 1\n---\na: 2\n", "two.yaml");
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.status().message(), "two.yaml: expected one YAML document, got 2 (the second starts at line 3: after "
                                    "a ---, or a line at column 0 that does not continue the first)");
  // Without a `---`: a key at column 0 after a top-level list starts a second document, named by
  // its line rather than by a `---` the file does not hold.
  StatusOr<YAML::Node> list = ParseYaml("- a: 1\nb: 2\n", "list.yaml");
  ASSERT_FALSE(list.ok());
  EXPECT_TRUE(Contains(list.status().message(), "got 2 (the second starts at line 2")) << list.status().message();
  // A NUL byte is named as such, on its own line, not as what the parser makes of the bytes after it.
  StatusOr<YAML::Node> nul = ParseYaml(std::string("a: 1\nb: 2\0\nc: 3\n", 14), "nul.yaml");
  ASSERT_FALSE(nul.ok());
  EXPECT_EQ(nul.status().message(), "nul.yaml: expected YAML text, got a NUL byte at line 2 (a binary file?)");
  // Bytes that are not UTF-8 are named with their line (they were echoed raw by the text report and
  // replaced in the JSON); well-formed characters of every length, and a byte-order mark, pass.
  StatusOr<YAML::Node> latin1 = ParseYaml("a: 1\nname: x\xE9y\n", "latin1.yaml");
  ASSERT_FALSE(latin1.ok());
  EXPECT_EQ(latin1.status().message(),
            "latin1.yaml: expected UTF-8 text, got the byte 0xE9 at line 2 (another encoding, such as Latin-1?)");
  for (const char* bad : {"a: \xC0\x80\n", "a: \xED\xA0\x80\n", "a: \xF4\x90\x80\x80\n", "a: \xE2\x82\n"}) {
    EXPECT_FALSE(ParseYaml(bad, "bad.yaml").ok()) << "overlong, surrogate, past U+10FFFF or cut short";
  }
  StatusOr<YAML::Node> utf8 = ParseYaml("\xEF\xBB\xBFname: \xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x80\n", "utf8.yaml");
  ASSERT_TRUE(utf8.ok()) << utf8.status().message();
  EXPECT_EQ((*utf8)["name"].as<std::string>(), "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x9A\x80");
  // UTF-16 text is the parser's to decode, zero bytes and all.
  StatusOr<YAML::Node> wide = ParseYaml(std::string("\xff\xfe" "a\0:\0 \0" "1\0\n\0", 12), "wide.yaml");
  ASSERT_TRUE(wide.ok()) << wide.status().message();
  EXPECT_EQ((*wide)["a"].as<int>(), 1);
  StatusOr<YAML::Node> lead = ParseYaml("---\na: 1\n", "lead.yaml");
  ASSERT_TRUE(lead.ok()) << lead.status().message();
  EXPECT_EQ((*lead)["a"].as<int>(), 1);
  StatusOr<YAML::Node> trailing = ParseYaml("a: 1\n---\n# nothing more\n", "trailing.yaml");
  ASSERT_TRUE(trailing.ok()) << trailing.status().message();
  EXPECT_EQ((*trailing)["a"].as<int>(), 1);
  StatusOr<YAML::Node> empty = ParseYaml("", "empty.yaml");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(empty->IsMap());
}

TEST(YamlReaderTest, LoadYamlFile) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(testing::TempDir()) / "preflight_yaml_reader_test";
  fs::create_directories(dir);
  std::string missing = (dir / "missing.yaml").string();
  fs::remove(missing);
  StatusOr<YAML::Node> m = LoadYamlFile(missing);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(m.status().message(), missing + ": cannot open file");

  std::string good = (dir / "good.yaml").string();
  { std::ofstream(good) << "a: 5\n"; }
  StatusOr<YAML::Node> g = LoadYamlFile(good);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_EQ(*MapReader(*g, good, "").Int("a"), 5);

  std::string bad = (dir / "bad.yaml").string();
  { std::ofstream(bad) << "a: [5\n"; }
  StatusOr<YAML::Node> b = LoadYamlFile(bad);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.status().message(), bad + ": malformed YAML at line"))
      << b.status().message();
}

}  // namespace
}  // namespace preflight
