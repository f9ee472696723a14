// Tests of catalog/catalog.h lookups that fail, and say why: unknown ids, missing paths, a file
// found by an id it does not state; malformed, repeated-key and too deeply nested JSON; YAML copied
// into JSON (alias bombs, recursive aliases, repeated keys); inputs that are not files. The shipped
// catalog: catalog_test.cc.
#include "preflight/catalog/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>
#include <string>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog_test_support.h"
#include "preflight/catalog/yaml_reader.h"

namespace preflight {
namespace {

namespace fs = std::filesystem;

using test_support::Contains;
using test_support::ScratchDir;
using test_support::WriteFile;

// ---------------------------------------------------------------------------------------------
// Lookups that fail.

TEST(CatalogLookupTest, UnknownHardwareIdIsNotFound) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h999-imaginary");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(h.status().message(), "h999-imaginary")) << h.status().message();
}

TEST(CatalogLookupTest, UnknownModelIdIsNotFound) {
  std::string source = "untouched";
  StatusOr<nlohmann::json> m = Catalog::Default().ModelConfig("gpt-17", &source);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(m.status().message(), "gpt-17")) << m.status().message();
}

TEST(CatalogLookupTest, MissingPathsAreNotFound) {
  std::string dir = ScratchDir();
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware(dir + "/absent.yaml");
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(h.status().message(), "absent.yaml"));
  StatusOr<nlohmann::json> m = Catalog::Default().ModelConfig(dir + "/absent.json", nullptr);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kNotFound);
}

// A file found by its id must state that id: a copy renamed without its `id:` changed is refused
// when looked up by the new name (a path names a file freely).
TEST(CatalogLookupTest, AFileFoundByIdMustStateThatId) {
  const Catalog shipped = Catalog::Default();
  const std::string dir = ScratchDir("preflight_id_is_name_");
  struct Case {
    std::string folder, from;
  };
  for (const Case& c : {Case{"hardware", "a100-sxm-80gb"}, Case{"host", "megatron-lm-gpt-eager-zen3"},
                        Case{"reliability", "rsc1-a100"}}) {
    StatusOr<std::string> text = ReadInputFile(shipped.data_dir() + "/" + c.folder + "/" + c.from + ".yaml");
    ASSERT_TRUE(text.ok()) << c.from;
    fs::create_directories(dir + "/" + c.folder);
    const std::string copy = WriteFile(dir + "/" + c.folder, "renamed-x2.yaml", *text);
    WriteFile(dir + "/" + c.folder, c.from + ".yaml", *text);
    const Catalog cat(dir);
    Status renamed = c.folder == "hardware"     ? cat.Hardware("renamed-x2").status()
                     : c.folder == "host"       ? cat.HostProfileById("renamed-x2").status()
                                                : cat.ReliabilityProfileById("renamed-x2").status();
    ASSERT_FALSE(renamed.ok()) << c.folder;
    EXPECT_EQ(renamed.code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(renamed.message(), copy + ": id: expected 'renamed-x2' (the file's name, by which the catalog finds it), got '" +
                                     c.from + "'");
    Status same = c.folder == "hardware"     ? cat.Hardware(c.from).status()
                  : c.folder == "host"       ? cat.HostProfileById(c.from).status()
                                             : cat.ReliabilityProfileById(c.from).status();
    EXPECT_TRUE(same.ok()) << same.message();
  }
  EXPECT_TRUE(Catalog(dir).Hardware(dir + "/hardware/renamed-x2.yaml").ok()) << "by path, any name";
}

TEST(CatalogLookupTest, EmptyDataDirHasNoIds) {
  Catalog cat(ScratchDir());
  EXPECT_TRUE(cat.HardwareIds().empty());
  EXPECT_TRUE(cat.ModelIds().empty());
  EXPECT_EQ(cat.Hardware("h100-sxm-80gb").status().code(), StatusCode::kNotFound);
}

TEST(CatalogLookupTest, LooksLikePathTable) {
  struct Case {
    const char* ref;
    bool path;
  };
  const Case cases[] = {
      {"h100-sxm-80gb", false}, {"llama-3.1-8b", false}, {"my.yaml", true},
      {"cfg.yml", true},        {"config.json", true},   {"dir/thing", true},
      {"/abs/model", true},     {"yaml", false},         {"model.json.bak", false},
  };
  for (const Case& c : cases) EXPECT_EQ(LooksLikePath(c.ref), c.path) << c.ref;
}

TEST(CatalogLookupTest, MalformedJsonIsInvalidArgumentNamingTheFile) {
  std::string path =
      WriteFile(ScratchDir(), "broken.json", "{\"model_type\": \"llama\",\n  \"hidden_size\": }\n");
  StatusOr<nlohmann::json> j = LoadJsonFile(path);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(j.status().message(), path)) << j.status().message();
  EXPECT_TRUE(Contains(j.status().message(), "malformed JSON (parse error at line 2"));
  EXPECT_FALSE(Contains(j.status().message(), "json.exception")) << "the library's tag is left out";
  // A number too large for a double: the library gives no position, the key before it is named.
  const std::string big = WriteFile(ScratchDir(), "big.json", R"({"model_type": "llama", "vocab_size": 1e309})");
  StatusOr<nlohmann::json> b = LoadJsonFile(big);
  ASSERT_FALSE(b.ok());
  EXPECT_TRUE(Contains(b.status().message(), big + ": vocab_size: malformed JSON (number overflow")) << b.status().message();
  // Inside nested objects, their keys; in an array after an object, not that object's last key.
  const std::string nested = WriteFile(ScratchDir(), "nested.json", R"({"rope_scaling": {"factor": 1e309}})");
  EXPECT_TRUE(Contains(LoadJsonFile(nested).status().message(), nested + ": rope_scaling.factor: malformed JSON"))
      << LoadJsonFile(nested).status().message();
  const std::string listed = WriteFile(ScratchDir(), "listed.json", R"({"a": [{"n": 1}, 1e309]})");
  EXPECT_TRUE(Contains(LoadJsonFile(listed).status().message(), listed + ": a: malformed JSON"))
      << LoadJsonFile(listed).status().message();
}

// A key given twice is refused (nlohmann keeps the last), at any depth; the same key in two
// objects is not a repeat.
TEST(CatalogLookupTest, JsonKeyGivenTwiceIsInvalidArgument) {
  const std::string dir = ScratchDir();
  const std::string top = WriteFile(dir, "dup.json", R"({"hidden_size": 4096, "n": 1, "hidden_size": 2048})");
  StatusOr<nlohmann::json> j = LoadJsonFile(top);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(j.status().message(), top + ": hidden_size: expected a key given once")) << j.status().message();
  const std::string nested = WriteFile(dir, "nested.json", R"({"rope_scaling": {"factor": 8, "factor": 4}})");
  EXPECT_FALSE(LoadJsonFile(nested).ok());
  const std::string apart = WriteFile(dir, "apart.json", R"({"a": {"factor": 8}, "b": {"factor": 4}, "c": [{"x": 1}, {"x": 2}]})");
  EXPECT_TRUE(LoadJsonFile(apart).ok());
}

// JSON nested past 500 levels is refused, as YAML past its parser's limit is (copying or printing
// such a value recurses once a level: 100,000 levels overflowed the stack); 500 levels are read.
TEST(CatalogLookupTest, JsonNestedPastFiveHundredLevelsIsInvalidArgument) {
  const std::string dir = ScratchDir();
  auto nested = [](int arrays) {  // an object holding `arrays` nested arrays: arrays + 1 levels
    return "{\"x\": " + std::string(arrays, '[') + std::string(arrays, ']') + "}";
  };
  EXPECT_TRUE(LoadJsonFile(WriteFile(dir, "d500.json", nested(499))).ok());
  const std::string deep = WriteFile(dir, "d501.json", nested(500));
  StatusOr<nlohmann::json> j = LoadJsonFile(deep);
  ASSERT_FALSE(j.ok());
  EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(j.status().message(), deep + ": expected JSON nested less deeply")) << j.status().message();
  const std::string very = WriteFile(dir, "d200k.json", nested(200000));
  EXPECT_TRUE(Contains(LoadJsonFile(very).status().message(), very + ": expected JSON nested less deeply"))
      << LoadJsonFile(very).status().message();
}

TEST(CatalogLookupTest, ModelConfigByPathReportsSource) {
  std::string path =
      WriteFile(ScratchDir(), "tiny.json", R"({"model_type": "llama", "hidden_size": 64})");
  std::string source;
  StatusOr<nlohmann::json> j = Catalog::Default().ModelConfig(path, &source);
  ASSERT_TRUE(j.ok()) << j.status().message();
  EXPECT_EQ(source, path);
  EXPECT_EQ((*j)["hidden_size"], 64);
}

// Nested aliases expand in the copy: eight levels of ten make 10^8 nodes from a few hundred
// bytes. The copy stops at a budget and names the field.
TEST(YamlToJsonTest, AliasBombIsRefused) {
  std::ostringstream text;
  text << "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 8; ++i) {
    text << 'a' << i << ": &a" << i << " [";
    for (int k = 0; k < 10; ++k) text << (k ? ", " : "") << "*a" << i - 1;
    text << "]\n";
  }
  StatusOr<nlohmann::json> j = YamlToJson(YAML::Load(text.str()), "s.yaml: model");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("s.yaml: model: expected at most"), std::string::npos);
}

// An alias inside the node it names nests without end: the copy recursed a level at a time and
// overflowed the stack before its node budget ran out (a crash on `model: &m {a: *m}`). It is
// refused past 500 levels, naming the field; plain nesting as deep as yaml-cpp's parser reads
// (300 levels here; its own limit is lower than 500) is copied.
TEST(YamlToJsonTest, RecursiveAliasIsRefused) {
  for (const char* text : {"&m {a: *m}", "&m [*m]", "{x: &m {y: [1, *m]}}"}) {
    StatusOr<nlohmann::json> j = YamlToJson(YAML::Load(text), "s.yaml: model");
    ASSERT_FALSE(j.ok()) << text;
    EXPECT_NE(j.status().message().find("s.yaml: model: expected at most 500 levels of nesting"),
              std::string::npos)
        << j.status().message();
  }
  std::string deep = "1";
  for (int i = 0; i < 300; ++i) deep = "[" + deep + "]";
  StatusOr<nlohmann::json> j = YamlToJson(YAML::Load(deep), "s.yaml: model");
  EXPECT_TRUE(j.ok()) << j.status().message();
}

// A key given twice in an inline model is refused (the copy kept the last one silently).
TEST(YamlToJsonTest, RepeatedKeyIsRefused) {
  StatusOr<nlohmann::json> j = YamlToJson(YAML::Load("{hidden_size: 4096, hidden_size: 64}"), "s.yaml: model");
  ASSERT_FALSE(j.ok());
  EXPECT_NE(j.status().message().find("s.yaml: model.hidden_size: given twice"), std::string::npos)
      << j.status().message();
}

// A directory or a device is not read as a file (a device would be read without end).
TEST(ReadInputFileTest, RefusesDirectoriesAndDevices) {
  EXPECT_EQ(ReadInputFile("/tmp").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadInputFile("/dev/zero").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadInputFile("/no/such/file").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(LoadJsonFile("/tmp").status().code(), StatusCode::kInvalidArgument);
}

TEST(YamlToJsonTest, ScalarsAndNesting) {
  YAML::Node n = YAML::Load(
      "a: 12\nb: 1.5\nc: true\nd: null\ne: text\nf: \"12\"\ng: [1, x]\nh: {k: False}\ni: ~\nj: "
      "1e3\n");
  StatusOr<nlohmann::json> parsed = YamlToJson(n, "s.yaml: model");
  ASSERT_TRUE(parsed.ok());
  const nlohmann::json& j = *parsed;
  EXPECT_EQ(j["a"], 12);
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_DOUBLE_EQ(j["b"].get<double>(), 1.5);
  EXPECT_EQ(j["c"], true);
  EXPECT_TRUE(j["d"].is_null());
  EXPECT_EQ(j["e"], "text");
  EXPECT_EQ(j["f"], "12") << "a quoted number stays a string";
  EXPECT_EQ(j["g"][0], 1);
  EXPECT_EQ(j["g"][1], "x");
  EXPECT_EQ(j["h"]["k"], false);
  EXPECT_TRUE(j["i"].is_null());
  EXPECT_DOUBLE_EQ(j["j"].get<double>(), 1000.0);
}

}  // namespace
}  // namespace preflight
