#include "preflight/scenario/scenario.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "preflight/catalog/collective_table.h"
#include "preflight/catalog/gemm_table.h"
#include "preflight/catalog/yaml_reader.h"
#include "preflight/model/hf_config.h"

namespace preflight {
namespace fs = std::filesystem;

const std::vector<std::string>& MeasuredMetricNames() {
  static const std::vector<std::string> kNames = {
      "step_time_s", "tokens_per_s_per_device", "tflops_per_device",
      "mfu",         "peak_memory_gib",         "device_hours_per_trillion_tokens"};
  return kNames;
}

namespace {

// A relative model/hardware path is looked up beside the scenario file first.
std::string ResolvePath(const std::string& ref, const std::string& file) {
  if (!LooksLikePath(ref) || fs::path(ref).is_absolute()) return ref;
  fs::path beside = fs::path(file).parent_path() / ref;
  std::error_code ec;  // a name too long or a loop of links: not beside, and not an exception
  if (fs::exists(beside, ec)) return beside.string();
  return ref;
}

// The figures every step needs: a peak rate for the GEMMs, the dtype they run in (FP8 falls back to
// the 16-bit one where the device has none) or bf16 (unknown, the step would be NaN), and the HBM
// bandwidth every elementwise pass and optimizer step reads at (not guessed).
Status CheckHardwareCanTime(const MapReader& r, const HardwareSpec& h, const TrainingJob& job) {
  const Dtype gemm = h.GemmDtype(job.precision);
  const std::string where = h.file.empty() ? h.id : h.file;
  // The cost model falls back to the bf16 peak (with a warning); with neither, the step is NaN.
  if (!h.peak(gemm).known() && !h.peak(Dtype::kBf16).known()) {
    return r.Error("hardware", where + " with peak_tflops." + std::string(DtypeName(gemm)) + " or bf16 known (" +
                                   std::string(DtypeName(job.precision)) + " training runs its GEMMs there)");
  }
  if (!h.hbm_bandwidth_tbytes_per_s.known()) {
    return r.Error("hardware", where + " with memory.bandwidth_tbytes_per_s known (every step's elementwise passes "
                                       "and optimizer read HBM at it)");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<YAML::Node> ModelAsMapping(const YAML::Node& run, const std::string& file, const Catalog& catalog) {
  const YAML::Node model = run.IsMap() ? run["model"] : YAML::Node();
  if (model.IsMap()) return YAML::Clone(model);
  if (!model.IsScalar()) return InvalidArgument("model: expected a catalog id, a config.json path or a mapping");
  auto config = catalog.ModelConfig(ResolvePath(model.Scalar(), file), nullptr);
  if (!config.ok()) return config.status().WithPrefix("model");
  // JSON is YAML's flow form: the config reads back as the mapping an inline model is.
  try {
    return YAML::Load(config->dump());
  } catch (const YAML::Exception& e) {
    return InvalidArgument("model: expected a config that reads as a mapping (" + e.msg + ")");
  }
}

namespace {

// The name of a model read from `ref`: a catalog id as given, a file by its stem, and a Hugging Face
// config.json (any file named config) by the folder it lies in (`path`, where it was read, made absolute: `config.json` and
// `./config.json` beside the scenario name the scenario's folder).
std::string ModelName(const std::string& ref, const std::string& path) {
  if (!LooksLikePath(ref)) return ref;
  const fs::path file(ref);
  if (file.stem() != "config") return file.stem().string();
  std::error_code ec;  // no working directory: the path as read
  fs::path absolute = fs::absolute(fs::path(path.empty() ? ref : path), ec);
  if (ec) absolute = fs::path(path.empty() ? ref : path);
  const std::string folder = absolute.lexically_normal().parent_path().filename().string();
  return folder.empty() || folder == "." || folder == ".." ? "config" : folder;
}

StatusOr<Architecture> ReadModel(const MapReader& r, const Catalog& catalog) {
  if (!r.Has("model")) return r.Error("model", "a catalog id, a config.json path or a mapping");
  const YAML::Node& node = r.node()["model"];
  if (node.IsMap()) {
    ASSIGN_OR_RETURN(nlohmann::json config, YamlToJson(node, r.file() + ": " + r.FieldName("model")));
    return ArchitectureFromHfConfig(config, "inline", r.file() + ": " + r.FieldName("model"));
  }
  ASSIGN_OR_RETURN(std::string ref, r.String("model"));
  std::string path;
  auto config = catalog.ModelConfig(ResolvePath(ref, r.file()), &path);
  if (!config.ok()) return config.status().WithPrefix(r.file() + ": " + r.FieldName("model"));
  return ArchitectureFromHfConfig(*config, ModelName(ref, path), path);
}

StatusOr<ClusterOverrides> ReadCluster(const MapReader& r) {
  ClusterOverrides o;
  ASSIGN_OR_RETURN(MapReader c, r.Map("cluster"));
  RETURN_IF_ERROR(c.CheckKnownKeys({"devices", "devices_per_node", "scale_up_domain",
                                    "scale_out_gbits_per_s_per_device", "hbm_capacity_gib", "pue",
                                    "scale_up_busbw_gbytes_per_s", "scale_out_busbw_gbytes_per_s",
                                    "gemm_table", "collective_table"}));
  ASSIGN_OR_RETURN(o.devices, c.Int("devices"));
  if (c.Has("devices_per_node")) { ASSIGN_OR_RETURN(o.devices_per_node, c.Int("devices_per_node")); }
  if (c.Has("scale_up_domain")) { ASSIGN_OR_RETURN(o.scale_up_domain, c.Int("scale_up_domain")); }
  if (c.Has("scale_out_gbits_per_s_per_device")) {
    ASSIGN_OR_RETURN(o.scale_out_gbits_per_s_per_device, c.Number("scale_out_gbits_per_s_per_device"));
  }
  if (c.Has("hbm_capacity_gib")) { ASSIGN_OR_RETURN(o.hbm_capacity_gib, c.Number("hbm_capacity_gib")); }
  if (c.Has("pue")) { ASSIGN_OR_RETURN(o.pue, c.Number("pue")); }
  if (c.Has("scale_up_busbw_gbytes_per_s")) {
    ASSIGN_OR_RETURN(o.scale_up_busbw_gbytes_per_s, c.Number("scale_up_busbw_gbytes_per_s"));
  }
  if (c.Has("scale_out_busbw_gbytes_per_s")) {
    ASSIGN_OR_RETURN(o.scale_out_busbw_gbytes_per_s, c.Number("scale_out_busbw_gbytes_per_s"));
  }
  return o;
}

// Settings that the rest of the run rules out (training settings, and a cluster's tables measured on
// another device): refused, or, where the command line's values rule them out
// (ParseOptions::droppable), dropped with a note for Scenario::idle_settings.
class Drops {
 public:
  explicit Drops(const ParseOptions& options) : options_(options) {}

  // The error that `key` of `t` expected `expected`; OK with a note instead where the key may be
  // dropped (`needs`: what it needs, which the command line rules out). The caller then takes the
  // key's default.
  Status DropOrRefuse(const MapReader& t, std::string_view key, std::string_view expected, std::string_view needs) {
    if (!MayDrop(key)) return t.Error(key, expected);
    Drop(t, key, needs);
    return Status::Ok();
  }
  // Notes `key` of `t` as dropped because it needs `needs`. The caller has checked MayDrop under
  // the key's name in ParseOptions::droppable ("cluster.collective_table" for `collective_table`).
  void Drop(const MapReader& t, std::string_view key, std::string_view needs) {
    const YAML::Node value = t.node()[std::string(key)];
    const std::string shown = value.IsScalar() ? value.Scalar() : DescribeNode(value);
    notes_.push_back(t.FieldName(key) + ": " + shown + " dropped: it needs " + std::string(needs) + ", which " +
                     (options_.because.empty() ? std::string("the command line's values") : options_.because) +
                     " rules out");
  }
  // Whether the command line's values may rule `key` out (ParseOptions::droppable).
  bool MayDrop(std::string_view key) const {
    return std::find(options_.droppable.begin(), options_.droppable.end(), key) != options_.droppable.end();
  }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  const ParseOptions& options_;
  std::vector<std::string> notes_;
};

// cluster.gemm_table: the user's own measured GEMM table for this hardware (a path, beside the
// scenario first), replacing the catalog's.
Status ReadGemmTable(const MapReader& r, const Catalog& catalog, Drops* drops, HardwareSpec* spec) {
  ASSIGN_OR_RETURN(MapReader c, r.Map("cluster"));
  if (!c.Has("gemm_table")) return Status::Ok();
  ASSIGN_OR_RETURN(std::string ref, c.String("gemm_table"));
  const std::string path = ResolvePath(ref, r.file());
  if (drops->MayDrop("cluster.gemm_table")) {  // measured on the file's device, not the command line's
    auto measured = LoadGemmTable(path);
    if (measured.ok() && measured->id != spec->id) {
      drops->Drop(c, "gemm_table", "a GEMM table measured on " + spec->id + " (it was measured on " + measured->id + ")");
      return Status::Ok();
    }
  }
  auto table = LoadGemmTableFor(*spec, path);
  if (!table.ok()) return table.status().WithPrefix(r.file() + ": " + c.FieldName("gemm_table"));
  Status proxy = catalog.CheckProxyOf(path, "proxy_of", spec->id, (*table)->proxy_of);
  if (!proxy.ok()) return proxy.WithPrefix(r.file() + ": " + c.FieldName("gemm_table"));
  spec->gemm_table = *table;
  return Status::Ok();
}

// cluster.collective_table: collective times measured on this cluster by message size
// (nccl-tests), used for the groups they cover: a path (beside the scenario first), or the name of
// a table the catalog holds (data/collectives/), or none (the catalog's bus bandwidths, as when the
// key is absent). A table measured on other hardware is an error.
Status ReadCollectiveTable(const MapReader& r, const Catalog& catalog, Drops* drops, Cluster* cluster) {
  ASSIGN_OR_RETURN(MapReader c, r.Map("cluster"));
  if (!c.Has("collective_table")) return Status::Ok();
  ASSIGN_OR_RETURN(std::string ref, c.String("collective_table"));
  if (ref == "none") return Status::Ok();  // a what-if without a file's table (--set ...=none)
  auto table = LooksLikePath(ref) ? LoadCollectiveTable(ResolvePath(ref, r.file())) : catalog.CollectiveTableById(ref);
  const std::string field = r.file() + ": " + c.FieldName("collective_table");
  if (!table.ok()) return table.status().WithPrefix(field);
  if (!table->hardware.empty() && table->hardware != cluster->spec.id) {
    if (drops->MayDrop("cluster.collective_table")) {
      drops->Drop(c, "collective_table", "a table measured on " + cluster->spec.id + " (it was measured on " + table->hardware + ")");
      return Status::Ok();
    }
    return InvalidArgument(field + ": expected a table measured on " + cluster->spec.id + ", got '" + ref +
                           "', measured on " + table->hardware);
  }
  cluster->collectives = std::make_shared<const CollectiveTable>(std::move(*table));
  return Status::Ok();
}

// training.host_profile: host time per layer of the user's software stack, measured on its CPU
// (tools/host/measure_eager_host.py): a path (beside the scenario first), the name of a profile the
// catalog holds (data/host/), or `none` (the per-kernel estimate, as when the key is absent: lets
// `--set` switch a file's profile off). A profile replaces the per-kernel estimate, so not both.
Status ReadHostProfile(const MapReader& r, const Catalog& catalog, TrainingJob* job) {
  ASSIGN_OR_RETURN(MapReader t, r.Map("training"));
  const YAML::Node& training = t.node();
  const YAML::Node node = training["host_profile"];
  if (!node.IsDefined()) return Status::Ok();
  if (node.IsNull() || !node.IsScalar() || node.Scalar().empty()) {
    return t.Error("host_profile", "a host profile name or path, or none");
  }
  ASSIGN_OR_RETURN(std::string ref, t.String("host_profile"));
  if (ref == "none") return Status::Ok();
  if (t.Has("host_overhead_per_kernel_us")) {
    return t.Error("host_profile", "either host_profile or host_overhead_per_kernel_us, not both (host_profile: none "
                                   "switches the profile off)");
  }
  auto profile = LooksLikePath(ref) ? LoadHostProfile(ResolvePath(ref, r.file())) : catalog.HostProfileById(ref);
  if (!profile.ok()) return profile.status().WithPrefix(r.file() + ": " + t.FieldName("host_profile"));
  job->host_profile = std::make_shared<const HostProfile>(std::move(*profile));
  return Status::Ok();
}

// reliability: `none`, or a mapping with an optional `profile` (a path, beside the scenario first,
// or a name the catalog holds: data/reliability/; kDefaultReliabilityProfile when absent) and any
// of the profile's figures as plain numbers, which replace the profile's.
Status ReadReliability(const MapReader& r, const Catalog& catalog, Scenario* s) {
  const YAML::Node node = r.node()["reliability"];
  if (node.IsDefined() && node.IsScalar() && node.Scalar() == "none") return Status::Ok();
  std::string ref = kDefaultReliabilityProfile;
  ReliabilityProfile profile;
  if (node.IsDefined()) {
    if (!node.IsMap()) return r.Error("reliability", "a mapping (profile and figures) or none");
    ASSIGN_OR_RETURN(MapReader rel, r.Map("reliability"));
    std::vector<std::string_view> known = {"profile"};
    for (const std::string& key : ReliabilityFigureKeys()) known.emplace_back(key);
    RETURN_IF_ERROR(rel.CheckKnownKeys(known));
    ASSIGN_OR_RETURN(ref, rel.StringOr("profile", ref));
    auto loaded = LooksLikePath(ref) ? LoadReliabilityProfile(ResolvePath(ref, r.file()))
                                     : catalog.ReliabilityProfileById(ref);
    if (!loaded.ok()) return loaded.status().WithPrefix(r.file() + ": " + rel.FieldName("profile"));
    profile = std::move(*loaded);
    for (const std::string& key : ReliabilityFigureKeys()) {
      if (!rel.Has(key)) continue;
      ASSIGN_OR_RETURN(double value, rel.Number(key));
      const std::string expected = ReliabilityValueExpected(key, value);
      if (!expected.empty()) return rel.Error(key, expected);
      ReliabilityFigure& f = *FigureAt(profile, key);
      f = {.given = true, .value = value, .source = "scenario " + r.file(), .note = "", .from_scenario = true};
    }
  } else {
    auto loaded = catalog.ReliabilityProfileById(ref);
    if (!loaded.ok()) return loaded.status().WithPrefix(r.file() + ": reliability.profile (default)");
    profile = std::move(*loaded);
  }
  s->reliability = std::make_shared<const ReliabilityProfile>(std::move(profile));
  return Status::Ok();
}

// Bounds that keep token counts (and the byte counts made from them) far from int64 overflow:
// 128M tokens per sequence, 2^40 tokens per step.
constexpr int64_t kMaxSeqLen = int64_t{1} << 27;
constexpr int64_t kMaxBatchTokens = int64_t{1} << 40;

// A dtype name out of `allowed`; `expected` names them for the error.
StatusOr<Dtype> ReadDtype(const MapReader& r, std::string_view key, Dtype fallback,
                          std::initializer_list<Dtype> allowed, const char* expected) {
  if (!r.Has(key)) return fallback;
  ASSIGN_OR_RETURN(std::string name, r.String(key));
  Dtype d;
  if (!ParseDtype(name, &d) || std::find(allowed.begin(), allowed.end(), d) == allowed.end()) {
    return r.Error(key, expected);
  }
  return d;
}

// training: the sequence, the global and micro-batch (sequences).
Status ReadBatch(const MapReader& t, TrainingJob* j, int64_t* micro_batch) {
  ASSIGN_OR_RETURN(j->seq_len, t.Int("seq_len"));
  if (j->seq_len <= 0 || j->seq_len > kMaxSeqLen) {
    return t.Error("seq_len", "a positive whole number up to " + std::to_string(kMaxSeqLen));
  }
  if (t.Has("global_batch") == t.Has("global_batch_tokens")) {
    return t.Error("global_batch", "exactly one of global_batch (sequences) or global_batch_tokens");
  }
  if (t.Has("global_batch")) {
    ASSIGN_OR_RETURN(j->global_batch, t.Int("global_batch"));
  } else {
    ASSIGN_OR_RETURN(int64_t tokens, t.Int("global_batch_tokens"));
    if (tokens <= 0 || tokens % j->seq_len != 0) {
      return t.Error("global_batch_tokens", "a positive multiple of seq_len");
    }
    j->global_batch = tokens / j->seq_len;
  }
  if (j->global_batch <= 0 || j->global_batch > kMaxBatchTokens / j->seq_len) {
    const char* field = t.Has("global_batch") ? "global_batch" : "global_batch_tokens";
    return t.Error(field, "a positive whole number, at most " + std::to_string(kMaxBatchTokens) + " tokens per step");
  }
  ASSIGN_OR_RETURN(*micro_batch, t.IntOr("micro_batch", 1));
  if (*micro_batch <= 0 || *micro_batch > j->global_batch) {
    return t.Error("micro_batch", "a positive whole number, at most global_batch");
  }
  return Status::Ok();
}

// training: the precision and the tokens to train.
Status ReadPrecision(const MapReader& t, TrainingJob* j) {
  // fp32 training is refused, not priced half-way: the step model sizes activations, elementwise
  // passes and messages for 16-bit tensors, and its MFU would divide TF32 GEMM work by the
  // non-tensor FP32 peak (above 100%).
  ASSIGN_OR_RETURN(j->precision,
                   ReadDtype(t, "precision", Dtype::kBf16, {Dtype::kBf16, Dtype::kFp16, Dtype::kFp8, Dtype::kFp4},
                             "one of bf16, fp16, fp8, fp4 (fp32 training is not modelled)"));
  ASSIGN_OR_RETURN(j->tokens, t.NumberOr("tokens", 0));
  if (t.Has("tokens") && (j->tokens < 1 || j->tokens > 1e18)) {
    return t.Error("tokens", "a number of tokens from 1 to 1e18 (leave it out for 1e12)");
  }
  return Status::Ok();
}

// training: fused attention and the kernel whose measured rates time it.
// A kernel ruled out (by flash_attention: false, or a device it was not measured on) is refused, or
// dropped for the device's default where the command line rules it out (Drops).
Status ReadAttentionKernel(const MapReader& t, const HardwareSpec& spec, Drops* drops, TrainingJob* j) {
  ASSIGN_OR_RETURN(j->flash_attention, t.BoolOr("flash_attention", true));
  ASSIGN_OR_RETURN(j->attention_kernel, t.StringOr("attention_kernel", ""));
  if (!j->attention_kernel.empty() && !j->flash_attention) {
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "attention_kernel", "no fused-attention kernel with flash_attention: false",
                                        "flash_attention: true (it names a fused-attention kernel)"));
    j->attention_kernel.clear();
    return Status::Ok();
  }
  // Given, a name must name a kernel: an empty one (`--set training.attention_kernel=`) is not the
  // device's default kernel silently kept.
  const bool given_empty = t.Has("attention_kernel") && j->attention_kernel.empty();
  if (given_empty || (!j->attention_kernel.empty() && !spec.AttentionRates(j->attention_kernel))) {
    const std::string names = spec.AttentionKernelNames();
    const std::string expected = names.empty() ? "no kernel name: the catalog measured no named kernel for " + spec.id
                                               : "one of the kernels measured for " + spec.id + ": " + names;
    if (given_empty) return t.Error("attention_kernel", expected);
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "attention_kernel", expected,
                                        "a device the catalog measured it on (" + spec.id + "'s kernels: " +
                                            (names.empty() ? std::string("none named") : names) + ")"));
    j->attention_kernel.clear();
  }
  return Status::Ok();
}

// A key naming one of `choices` (absent: the first); the error lists them ("a, b or c").
template <typename E>
Status ReadChoice(const MapReader& t, std::string_view key,
                  std::initializer_list<std::pair<std::string_view, E>> choices, E* out) {
  ASSIGN_OR_RETURN(std::string name, t.StringOr(key, std::string(choices.begin()->first)));
  std::string expected;
  size_t i = 0;
  for (const auto& [choice, value] : choices) {
    if (name == choice) {
      *out = value;
      return Status::Ok();
    }
    expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(choice);
    ++i;
  }
  return t.Error(key, expected);
}

// training: the softmax between unfused attention's products, and the longest key length
// Megatron's fused softmax kernel takes.
// Both are read whatever the attention (a --set of flash_attention or attention_softmax leaves the
// file's other settings valid); plan warns where they have no effect.
Status ReadAttentionSoftmax(const MapReader& t, TrainingJob* j) {
  RETURN_IF_ERROR(ReadChoice(t, "attention_softmax",
                             {{"fused", AttentionSoftmax::kFused}, {"unfused", AttentionSoftmax::kUnfused},
                              {"megatron", AttentionSoftmax::kMegatron}},
                             &j->attention_softmax));
  ASSIGN_OR_RETURN(j->attention_softmax_in_fp32, t.BoolOr("attention_softmax_in_fp32", false));
  if (!t.Has("fused_softmax_max_keys")) return Status::Ok();
  ASSIGN_OR_RETURN(j->fused_softmax_max_keys, t.Int("fused_softmax_max_keys"));
  if (j->fused_softmax_max_keys < 17 || j->fused_softmax_max_keys > 1'000'000) {
    return t.Error("fused_softmax_max_keys", "an integer from 17 to 1000000 (the longest key length the kernel takes)");
  }
  return Status::Ok();
}

// training: gradient and optimizer dtypes, FP8's copies, casts and recipe, the 16-bit gradient
// copy.
Status ReadNumerics(const MapReader& t, const HardwareSpec& spec, Drops* drops, TrainingJob* j) {
  ASSIGN_OR_RETURN(j->grad_dtype, ReadDtype(t, "grad_dtype", Dtype::kFp32, {Dtype::kFp32, Dtype::kBf16, Dtype::kFp16},
                                               "fp32, bf16 or fp16"));
  ASSIGN_OR_RETURN(j->optimizer_dtype, ReadDtype(t, "optimizer_dtype", Dtype::kFp32, {Dtype::kFp32, Dtype::kBf16},
                                                    "fp32 or bf16"));
  ASSIGN_OR_RETURN(j->fp8_weight_copy, t.BoolOr("fp8_weight_copy", true));
  ASSIGN_OR_RETURN(j->fp8_saved_inputs, t.BoolOr("fp8_saved_inputs", true));
  // NVFP4 is refused where the device has no FP4 rate rather than run in another format: its
  // copies, casts and memory differ from FP8's, and no FP4 on the chip is the answer to give.
  if (j->precision == Dtype::kFp4 && !spec.peak(Dtype::kFp4).known()) {
    return t.Error("precision", std::string(spec.peak(Dtype::kFp8).known() ? "fp8, bf16" : "bf16") + " or fp16 on " +
                                    spec.id + ", which has no FP4 rate in the catalog (fp4 needs one)");
  }
  // GEMMs in FP8: the training precision, on a device that has it (DeepSeek-V3's FP8 storage and
  // dispatch are FP8 schemes: NVFP4 runs refuse them). Ruled out by the command line's device or
  // precision, they are dropped, as the FP8 copies are below (Drops).
  const bool fp8_gemms = j->precision == Dtype::kFp8 && spec.peak(Dtype::kFp8).known();
  constexpr std::string_view fp8_needs = "precision: fp8 on a device with an FP8 rate";
  ASSIGN_OR_RETURN(j->low_precision_activations, t.BoolOr("low_precision_activations", false));
  if (j->low_precision_activations && !fp8_gemms) {
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "low_precision_activations",
                                        "precision: fp8 on a device with FP8 beside it (DeepSeek-V3's FP8 storage)", fp8_needs));
    j->low_precision_activations = false;
  }
  ASSIGN_OR_RETURN(j->fp8_dispatch, t.BoolOr("fp8_dispatch", false));
  if (j->fp8_dispatch && !fp8_gemms) {
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "fp8_dispatch",
                                        "precision: fp8 on a device with FP8 beside it (tokens dispatched as FP8 casts)", fp8_needs));
    j->fp8_dispatch = false;
  }
  // A device without FP8 runs FP8 GEMMs in 16 bits (the cost model warns), so they keep 16-bit
  // inputs and no FP8 copy of the weights; NVFP4 (refused above without FP4) asks for FP4 alone.
  const Dtype low = j->precision == Dtype::kFp4 ? Dtype::kFp4 : Dtype::kFp8;
  if (!QuantizedPrecision(spec.GemmDtype(low))) j->fp8_saved_inputs = false, j->fp8_weight_copy = false;
  // NVFP4 scales per 16 elements in its own way: an FP8 scaling recipe does not apply to it. Where
  // the command line's precision rules the file's recipe out, it is idle (IdleSettings says so).
  if (j->precision == Dtype::kFp4 && t.Has("fp8_recipe") && !drops->MayDrop("fp8_recipe")) {
    return t.Error("fp8_recipe", "no FP8 recipe with precision: fp4 (NVFP4 scales each 16 elements its own way)");
  }
  RETURN_IF_ERROR(ReadChoice(t, "fp8_recipe",
                             {{"delayed", Fp8Recipe::kDelayed}, {"current", Fp8Recipe::kCurrent},
                              {"mxfp8", Fp8Recipe::kMxfp8}, {"blockwise", Fp8Recipe::kBlockwise}},
                             &j->fp8_recipe));
  ASSIGN_OR_RETURN(j->grad_16bit_copy, t.BoolOr("grad_16bit_copy", false));
  if (j->grad_16bit_copy && j->grad_dtype != Dtype::kFp32) {
    return t.Error("grad_16bit_copy", "false with grad_dtype bf16 (the 16-bit gradients are then the main ones)");
  }
  return Status::Ok();
}

// training: the framework's fusions and loss.
Status ReadFusions(const MapReader& t, TrainingJob* j) {
  ASSIGN_OR_RETURN(j->grad_accumulation_fusion, t.BoolOr("grad_accumulation_fusion", true));
  ASSIGN_OR_RETURN(j->elementwise_fusion, t.BoolOr("elementwise_fusion", true));
  return ReadChoice(t, "cross_entropy",
                    {{"megatron", CrossEntropy::kMegatron}, {"pytorch", CrossEntropy::kPytorch},
                     {"compiled", CrossEntropy::kCompiled}},
                    &j->cross_entropy);
}

// training: MoE token dropping at a capacity factor, and padding to it.
Status ReadMoeCapacity(const MapReader& t, TrainingJob* j) {
  if (t.Has("moe_capacity_factor")) {
    ASSIGN_OR_RETURN(j->moe_capacity_factor, t.Number("moe_capacity_factor"));
    if (!(j->moe_capacity_factor > 0) || j->moe_capacity_factor > 1e3) {
      return t.Error("moe_capacity_factor", "a number above 0, at most 1000 (each expert's capacity over the mean)");
    }
  }
  ASSIGN_OR_RETURN(j->moe_pad_to_capacity, t.BoolOr("moe_pad_to_capacity", false));
  if (j->moe_pad_to_capacity && j->moe_capacity_factor <= 0) {
    return t.Error("moe_pad_to_capacity", "false without training.moe_capacity_factor (padding is to the capacity)");
  }
  return Status::Ok();
}

// MoE capacity settings Megatron-Core refuses: padding with the flex (DeepEP) dispatcher
// (MoEFlexTokenDispatcher asserts against --moe-pad-expert-input-to-capacity), and a capacity
// above the tokens a rank routes (⌈CF·T·k/E⌉ > T, CF > E/k: the router's top-k over T tokens
// per expert cannot pick more than T).
Status CheckMoeCapacity(const MapReader& root, const Scenario& s) {
  const TrainingJob& j = s.job;
  if (!s.arch.IsMoe() || j.moe_capacity_factor <= 0) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  if (j.moe_pad_to_capacity && j.ep_node_dedup) {
    return t.Error("moe_pad_to_capacity", "false with ep_dispatcher: deepep (Megatron-Core's flex dispatcher does not pad)");
  }
  const double most = static_cast<double>(s.arch.moe.experts) / static_cast<double>(s.arch.moe.top_k);
  if (j.moe_capacity_factor > most) {
    std::ostringstream want;
    want << "at most experts / top-k = " << most << " (a larger capacity exceeds the tokens a rank routes)";
    return t.Error("moe_capacity_factor", want.str());
  }
  return Status::Ok();
}

// training: MoE's dispatcher, its SMs, load imbalance and grouped GEMM.
Status ReadMoeOptions(const MapReader& t, const HardwareSpec& spec, Drops* drops, TrainingJob* j) {
  ASSIGN_OR_RETURN(std::string dispatcher, t.StringOr("ep_dispatcher", "alltoall"));
  if (dispatcher != "alltoall" && dispatcher != "deepep") return t.Error("ep_dispatcher", "alltoall or deepep");
  j->ep_node_dedup = dispatcher == "deepep";
  if (t.Has("ep_comm_units") && !j->ep_node_dedup) {
    constexpr std::string_view kDeepEp = "ep_dispatcher: deepep (the SMs DeepEP's kernels hold)";
    RETURN_IF_ERROR(drops->DropOrRefuse(t, "ep_comm_units", kDeepEp, kDeepEp));
  } else if (t.Has("ep_comm_units")) {
    ASSIGN_OR_RETURN(j->ep_comm_units, t.Int("ep_comm_units"));
    const Figure& units = spec.compute_units;
    if (j->ep_comm_units < 1 || (units.known() && static_cast<double>(j->ep_comm_units) >= units.value)) {
      return t.Error("ep_comm_units", "an integer >= 1 and below the device's " +
                                          (units.known() ? std::to_string(static_cast<int64_t>(units.value)) : std::string("")) +
                                          " compute units (SMs held by DeepEP's kernels)");
    }
  }
  ASSIGN_OR_RETURN(j->moe_imbalance, t.NumberOr("moe_imbalance", 1.0));
  if (j->moe_imbalance < 1.0 || j->moe_imbalance > 1e3) {
    return t.Error("moe_imbalance", "a number from 1 to 1000 (busiest rank over mean)");
  }
  RETURN_IF_ERROR(ReadMoeCapacity(t, j));
  ASSIGN_OR_RETURN(std::string grouped, t.StringOr("moe_grouped_gemm", "one_kernel"));
  if (grouped != "one_kernel" && grouped != "per_expert") return t.Error("moe_grouped_gemm", "one_kernel or per_expert");
  j->moe_gemm_per_expert = grouped == "per_expert";
  return Status::Ok();
}

Status ReadTraining(const MapReader& root, const HardwareSpec& spec, Drops* drops, TrainingJob* j, int64_t* micro_batch) {
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  RETURN_IF_ERROR(t.CheckKnownKeys({"seq_len", "global_batch", "global_batch_tokens", "micro_batch",
                                    "precision", "tokens", "flash_attention", "grad_dtype",
                                    "optimizer_dtype", "fp8_weight_copy", "fp8_saved_inputs", "low_precision_activations", "fp8_dispatch", "grad_16bit_copy", "fp8_recipe",
                                    "moe_imbalance", "moe_capacity_factor", "moe_pad_to_capacity", "moe_grouped_gemm", "host_overhead_per_kernel_us", "attention_kernel",
                                    "grad_accumulation_fusion", "elementwise_fusion", "cross_entropy",
                                    "ep_dispatcher", "ep_comm_units", "host_profile", "attention_softmax",
                                    "attention_softmax_in_fp32", "fused_softmax_max_keys"}));
  RETURN_IF_ERROR(ReadBatch(t, j, micro_batch));
  RETURN_IF_ERROR(ReadPrecision(t, j));
  RETURN_IF_ERROR(ReadAttentionKernel(t, spec, drops, j));
  RETURN_IF_ERROR(ReadAttentionSoftmax(t, j));
  RETURN_IF_ERROR(ReadNumerics(t, spec, drops, j));
  RETURN_IF_ERROR(ReadFusions(t, j));
  RETURN_IF_ERROR(ReadMoeOptions(t, spec, drops, j));
  ASSIGN_OR_RETURN(j->host_overhead_per_kernel_us, t.NumberOr("host_overhead_per_kernel_us", 5.0));
  if (j->host_overhead_per_kernel_us < 0 || j->host_overhead_per_kernel_us > 1e6) {
    return t.Error("host_overhead_per_kernel_us", "a number of microseconds from 0 to 1e6");
  }
  return Status::Ok();
}

Status ReadEnum(const MapReader& p, std::string_view key, Schedule* s) {
  if (!p.Has(key)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string name, p.String(key));
  if (!ParseSchedule(name, s)) return p.Error(key, "one of gpipe, 1f1b, interleaved, zb-h1, dualpipe");
  return Status::Ok();
}

Status ReadEnum(const MapReader& p, std::string_view key, Recompute* r) {
  if (!p.Has(key)) return Status::Ok();
  ASSIGN_OR_RETURN(std::string name, p.String(key));
  if (!ParseRecompute(name, r)) return p.Error(key, "one of none, selective, full, selective-op, dots");
  return Status::Ok();
}

// parallel.recompute_method and recompute_num_layers: Megatron-LM's --recompute-method and
// --recompute-num-layers, which apply to full recompute alone (--recompute-granularity full): the
// defaults (uniform, 1) stand beside any mode, another value only beside full recompute.
Status ReadRecomputeMethod(const MapReader& p, Plan* plan) {
  ASSIGN_OR_RETURN(std::string name, p.StringOr("recompute_method", "uniform"));
  if (name != "uniform" && name != "block") return p.Error("recompute_method", "uniform or block");
  ASSIGN_OR_RETURN(const int64_t layers, p.IntOr("recompute_num_layers", 1));
  if (layers < 1 || layers > kMaxModelLayers) {
    return p.Error("recompute_num_layers", "a whole number of layers from 1 to " + std::to_string(kMaxModelLayers) +
                                               " (per group under uniform, per model chunk under block)");
  }
  const bool block = name == "block";
  if ((block || layers != 1) && plan->recompute != Recompute::kFull) {
    return p.Error(block ? "recompute_method" : "recompute_num_layers",
                   "recompute: full beside it (Megatron-LM's --recompute-method applies to full recompute)");
  }
  plan->recompute_method = block ? RecomputeMethod::kBlock : RecomputeMethod::kUniform;
  plan->recompute_num_layers = layers;
  return Status::Ok();
}

// parallel.recompute_modules: Megatron-Core's names, as a list or one comma-separated string (used
// by recompute: selective only, as in Megatron-Core).
Status ReadRecomputeModules(const MapReader& p, Plan* plan) {
  if (!p.Has("recompute_modules")) return Status::Ok();
  constexpr std::string_view kExpected =
      "a list of core_attn, layernorm, moe_act, mla_up_proj, mlp, moe, shared_experts";
  const YAML::Node& node = p.node()["recompute_modules"];
  std::vector<std::string> names;
  if (node.IsSequence()) {
    for (const YAML::Node& item : node) {
      if (!item.IsScalar()) return p.Error("recompute_modules", kExpected);
      names.push_back(item.Scalar());
    }
  } else if (node.IsScalar()) {
    std::string item;
    std::istringstream in(node.Scalar());
    while (std::getline(in, item, ',')) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      names.push_back(item);
    }
  } else {
    return p.Error("recompute_modules", kExpected);
  }
  if (names.empty()) return p.Error("recompute_modules", kExpected);
  plan->recompute_modules = 0;
  for (const std::string& name : names) {
    RecomputeModule m;
    if (!ParseRecomputeModule(name, &m)) {
      return p.Error("recompute_modules", std::string(kExpected) + " ('" + name + "' is none of them)");
    }
    // Given twice, one name most likely stands where another was meant.
    if ((plan->recompute_modules & m) != 0) {
      return p.Error("recompute_modules", std::string(kExpected) + ", each once ('" + name + "' is given twice)");
    }
    plan->recompute_modules |= m;
  }
  return Status::Ok();
}

// Training keys that hold only for some layouts: DeepSpeed's BF16_Optimizer (grad_16bit_copy) runs
// its own ZeRO-1, so a given plan of ZeRO 2 or 3 contradicts it (a searched one drops the copy).
// The settings given that change nothing for this scenario (Scenario::idle_settings).
StatusOr<std::vector<std::string>> IdleSettings(const MapReader& root, const Scenario& s) {
  std::vector<std::string> idle;
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  const std::string precision(DtypeName(s.job.precision));
  if (t.Has("fp8_recipe") && s.job.precision != Dtype::kFp8) {
    idle.push_back(t.FieldName("fp8_recipe") + " does nothing with precision: " + precision + " (FP8 GEMMs only)");
  }
  if (!QuantizedPrecision(s.job.precision)) {
    for (const char* key : {"fp8_weight_copy", "fp8_saved_inputs"}) {
      if (t.Has(key)) idle.push_back(t.FieldName(key) + " does nothing with precision: " + precision + " (FP8 and FP4 runs only)");
    }
  }
  // The softmax settings of Megatron's attention without a fused kernel: the fused attention
  // kernel holds its softmax; a fused softmax has no fallback to time; an unfused one no limit.
  const auto softmax_idle = [&](const char* key, const std::string& because) {
    if (t.Has(key)) idle.push_back(t.FieldName(key) + " does nothing with " + because);
  };
  if (s.job.flash_attention) {
    for (const char* key : {"attention_softmax", "attention_softmax_in_fp32", "fused_softmax_max_keys"}) {
      softmax_idle(key, "flash_attention: true (the fused attention kernel holds the softmax)");
    }
  } else if (s.job.attention_softmax == AttentionSoftmax::kFused) {
    for (const char* key : {"attention_softmax_in_fp32", "fused_softmax_max_keys"}) {
      softmax_idle(key, "attention_softmax: fused (no unfused fallback)");
    }
  } else if (s.job.attention_softmax == AttentionSoftmax::kUnfused) {
    softmax_idle("fused_softmax_max_keys", "attention_softmax: unfused (the fused kernel never runs)");
  }
  if (!s.arch.IsMoe()) {
    for (const char* key : {"ep_dispatcher", "moe_imbalance", "moe_capacity_factor", "moe_pad_to_capacity", "moe_grouped_gemm"}) {
      if (t.Has(key)) idle.push_back(t.FieldName(key) + " does nothing on a dense model (no experts)");
    }
  }
  if (!s.auto_parallel && root.Has("parallel") && root.node()["parallel"].IsMap()) {
    ASSIGN_OR_RETURN(MapReader p, root.Map("parallel"));
    if (p.Has("recompute_modules") && s.plan.recompute != Recompute::kSelective) {
      idle.push_back(p.FieldName("recompute_modules") + " does nothing without recompute: selective");
    }
  }
  return idle;
}

Status CheckTrainingAgainstPlan(const MapReader& root, const Scenario& s) {
  if (s.auto_parallel || s.plan.zero <= MaxZeroStage(s.job)) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader t, root.Map("training"));
  return t.Error("grad_16bit_copy", "false with zero 2 or 3 (DeepSpeed's BF16_Optimizer runs its own ZeRO-1)");
}

// parallel: the degrees (dp from the devices when not given).
Status ReadDegrees(const MapReader& p, int64_t devices, Plan* out) {
  Plan& plan = *out;
  ASSIGN_OR_RETURN(plan.tp, p.IntOr("tp", 1));
  ASSIGN_OR_RETURN(plan.pp, p.IntOr("pp", 1));
  ASSIGN_OR_RETURN(plan.vpp, p.IntOr("vpp", 1));
  ASSIGN_OR_RETURN(plan.cp, p.IntOr("cp", 1));
  ASSIGN_OR_RETURN(plan.ep, p.IntOr("ep", 1));
  ASSIGN_OR_RETURN(plan.etp, p.IntOr("etp", 1));
  // Each degree at most the largest cluster, so that their products cannot overflow.
  const std::string degree_range = "a whole number from 1 to " + std::to_string(kMaxClusterDevices);
  for (auto [key, v] : {std::pair{"tp", plan.tp}, {"pp", plan.pp}, {"vpp", plan.vpp},
                        {"cp", plan.cp}, {"ep", plan.ep}, {"etp", plan.etp}}) {
    if (v < 1 || v > kMaxClusterDevices) return p.Error(key, degree_range);
  }
  // Each factor at most 2^24, so tp*cp fits; their product with pp is checked before it is formed.
  if (plan.tp * plan.cp > kMaxClusterDevices || plan.tp * plan.cp > kMaxClusterDevices / plan.pp) {
    // Named by the largest of the three (the last of equals), the degree that takes it past.
    std::pair<const char*, int64_t> largest{"tp", plan.tp};
    for (auto d : {std::pair<const char*, int64_t>{"cp", plan.cp}, {"pp", plan.pp}}) {
      if (d.second >= largest.second) largest = d;
    }
    return p.Error(largest.first, "tp*cp*pp of at most " + std::to_string(kMaxClusterDevices) + " devices");
  }
  const int64_t model_parallel = plan.tp * plan.cp * plan.pp;
  if (p.Has("dp")) {
    ASSIGN_OR_RETURN(plan.dp, p.Int("dp"));
    if (plan.dp < 1 || plan.dp > kMaxClusterDevices) return p.Error("dp", degree_range);
  } else {
    // When tp*cp*pp does not divide the devices, dp stays 1 and the plan rules say why.
    plan.dp = devices % model_parallel == 0 ? devices / model_parallel : 1;
  }
  return Status::Ok();
}

// parallel: the pipeline's stage split (uneven first and last stages, even or balanced).
Status ReadStageSplit(const MapReader& p, Plan* out) {
  Plan& plan = *out;
  const std::string stage_layers = "a whole number of layers from 0 (an even split) to " + std::to_string(kMaxModelLayers);
  ASSIGN_OR_RETURN(plan.first_stage_layers, p.IntOr("first_stage_layers", 0));
  if (plan.first_stage_layers < 0 || plan.first_stage_layers > kMaxModelLayers) {
    return p.Error("first_stage_layers", stage_layers);
  }
  ASSIGN_OR_RETURN(plan.last_stage_layers, p.IntOr("last_stage_layers", 0));
  if (plan.last_stage_layers < 0 || plan.last_stage_layers > kMaxModelLayers) {
    return p.Error("last_stage_layers", stage_layers);
  }
  ASSIGN_OR_RETURN(std::string split, p.StringOr("layer_split", "even"));
  if (split != "even" && split != "balanced") return p.Error("layer_split", "even or balanced");
  plan.balanced_layers = split == "balanced";
  return Status::Ok();
}

// parallel: what overlaps what, how ZeRO-3 gathers, gradient flattening and activation offload.
Status ReadOverlaps(const MapReader& p, Plan* out) {
  Plan& plan = *out;
  ASSIGN_OR_RETURN(plan.overlap_grad_reduce, p.BoolOr("overlap_grad_reduce", true));
  ASSIGN_OR_RETURN(plan.overlap_param_gather, p.BoolOr("overlap_param_gather", true));
  ASSIGN_OR_RETURN(plan.fsdp_gather_once, p.BoolOr("fsdp_gather_once", false));
  if (plan.fsdp_gather_once && plan.zero != 3) return p.Error("fsdp_gather_once", "zero: 3 beside it (it is how FSDP gathers)");
  ASSIGN_OR_RETURN(std::string gather, p.StringOr("zero3_gather", "layer"));
  if (gather != "layer" && gather != "parameter") return p.Error("zero3_gather", "layer or parameter");
  if (gather == "parameter" && (plan.zero != 3 || plan.fsdp_gather_once || plan.pp != 1)) {
    return p.Error("zero3_gather", "layer unless zero: 3 without fsdp_gather_once and with pp 1 (DeepSpeed's ZeRO-3 "
                                   "of 2021 ran without pipeline parallelism)");
  }
  plan.zero3_gather_per_parameter = gather == "parameter";
  ASSIGN_OR_RETURN(plan.grad_flatten, p.BoolOr("grad_flatten", false));
  if (plan.grad_flatten && plan.zero != 0) {
    return p.Error("grad_flatten",
                   "false unless zero: 0 (DeepSpeed's engine flattens gradients only without ZeRO)");
  }
  ASSIGN_OR_RETURN(plan.tp_comm_overlap, p.BoolOr("tp_comm_overlap", false));
  ASSIGN_OR_RETURN(plan.ep_comm_overlap, p.BoolOr("ep_comm_overlap", false));
  ASSIGN_OR_RETURN(plan.shared_expert_overlap, p.BoolOr("shared_expert_overlap", false));
  ASSIGN_OR_RETURN(plan.overlap_p2p_comm, p.BoolOr("overlap_p2p_comm", true));
  ASSIGN_OR_RETURN(plan.cpu_offload_layers, p.IntOr("cpu_offload_layers", 0));
  if (plan.cpu_offload_layers < 0 || plan.cpu_offload_layers > kMaxModelLayers) {
    return p.Error("cpu_offload_layers", "a whole number of layers from 0 (off) to " + std::to_string(kMaxModelLayers));
  }
  return Status::Ok();
}

// parallel.cpu_offload_layers beside pp > 1 or recompute, both of which Megatron-Core's
// TransformerConfig refuses with cpu_offloading: an invalid plan where the file pairs them
// (PlanIssue::kCpuOffload), dropped where a what-if brings the pipeline or the recompute (--pp 2;
// ParseOptions::droppable, which LoadScenarioFile leaves the key out of where the file pairs them).
void DropOffloadRuledOut(const MapReader& p, Drops* drops, Plan* plan) {
  if (!plan->OffloadsBesidePipelineOrRecompute() || !drops->MayDrop("parallel.cpu_offload_layers")) return;
  drops->Drop(p, "cpu_offload_layers", "pp 1 and recompute none (Megatron-Core's rules for cpu_offloading)");
  plan->cpu_offload_layers = 0;
}

Status ReadParallel(const MapReader& root, int64_t devices, Drops* drops, Scenario* s) {
  const YAML::Node& node = root.node()["parallel"];
  if (!node.IsDefined() || node.IsNull() || (node.IsScalar() && node.Scalar() == "auto")) {
    s->auto_parallel = true;
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(MapReader p, root.Map("parallel"));
  RETURN_IF_ERROR(p.CheckKnownKeys({"tp", "pp", "vpp", "dp", "cp", "ep", "etp", "sp", "zero",
                                    "schedule", "recompute", "recompute_modules", "recompute_method",
                                    "recompute_num_layers", "first_stage_layers",
                                    "last_stage_layers", "overlap_grad_reduce",
                                    "overlap_param_gather", "fsdp_gather_once", "zero3_gather", "tp_comm_overlap",
                                    "ep_comm_overlap", "shared_expert_overlap", "grad_flatten",
                                    "overlap_p2p_comm", "layer_split", "cpu_offload_layers"}));
  Plan& plan = s->plan;
  RETURN_IF_ERROR(ReadDegrees(p, devices, &plan));
  s->etp_given = p.Has("etp");
  // Megatron-Core requires sequence parallelism for MoE with TP: the default there.
  ASSIGN_OR_RETURN(plan.sp, p.BoolOr("sp", s->arch.IsMoe() && plan.tp > 1));
  ASSIGN_OR_RETURN(int64_t zero, p.IntOr("zero", 0));
  if (zero < 0 || zero > 3) return p.Error("zero", "0, 1, 2 or 3");
  plan.zero = static_cast<int>(zero);
  RETURN_IF_ERROR(ReadEnum(p, "schedule", &plan.schedule));
  if (plan.schedule == Schedule::k1F1B && plan.vpp > 1) plan.schedule = Schedule::kInterleaved;
  RETURN_IF_ERROR(ReadEnum(p, "recompute", &plan.recompute));
  RETURN_IF_ERROR(ReadRecomputeModules(p, &plan));
  RETURN_IF_ERROR(ReadRecomputeMethod(p, &plan));
  RETURN_IF_ERROR(ReadStageSplit(p, &plan));
  RETURN_IF_ERROR(ReadOverlaps(p, &plan));
  DropOffloadRuledOut(p, drops, &plan);
  return Status::Ok();
}

// The FLOP counts data/validation/README.md names. An MFU or TFLOP/s figure is compared with
// preflight's own count (3 x forward GEMMs, full attention, no recompute), so it must name one that
// counts the same; a figure counted otherwise is converted to a step time by the file's author.
Status ReadFlopConvention(const MapReader& r, Measured* m) {
  static const std::vector<std::string> kNamed = {"6n", "bloom-8n", "korthikanti-mfu", "maxtext",
                                                  "megatron-full-recompute", "nvidia-recipe", "palm"};
  static const std::vector<std::string> kPreflights = {"korthikanti-mfu", "maxtext", "nvidia-recipe"};
  ASSIGN_OR_RETURN(m->flop_convention, r.StringOr("flop_convention", ""));
  const bool counted = std::any_of(m->metrics.begin(), m->metrics.end(), [](const auto& metric) {
    return metric.first == "mfu" || metric.first == "tflops_per_device";
  });
  const auto among = [&](const std::vector<std::string>& names) {
    return std::find(names.begin(), names.end(), m->flop_convention) != names.end();
  };
  if (counted && !among(kPreflights)) {
    return r.Error("flop_convention",
                   "korthikanti-mfu, maxtext or nvidia-recipe with an mfu or tflops_per_device figure (counts "
                   "as preflight's: 3 x forward, full attention, no recompute); convert another count to a step "
                   "time (data/validation/README.md)");
  }
  if (!m->flop_convention.empty() && !among(kNamed)) {
    return r.Error("flop_convention",
                   "one of 6n, bloom-8n, korthikanti-mfu, maxtext, megatron-full-recompute, nvidia-recipe, palm");
  }
  return Status::Ok();
}

Status ReadMeasured(const MapReader& root, Measured* m) {
  if (!root.Has("measured")) return Status::Ok();
  ASSIGN_OR_RETURN(MapReader r, root.Map("measured"));
  RETURN_IF_ERROR(r.CheckKnownKeys({"step_time_s", "tokens_per_s_per_device", "tflops_per_device",
                                    "mfu", "peak_memory_gib", "device_hours_per_trillion_tokens",
                                    "flop_convention"}));
  for (const std::string& name : MeasuredMetricNames()) {
    if (!r.Has(name)) continue;
    ASSIGN_OR_RETURN(double v, r.Number(name));
    // Bounds of sanity (an error relative to a vanishing measurement is meaningless); MFU is a fraction.
    const double hi = name == "mfu" ? 1.0 : 1e15;
    if (!(v >= 1e-9 && v <= hi)) {
      return r.Error(name, name == "mfu" ? "a fraction above 0 and at most 1" : "a number from 1e-9 to 1e15");
    }
    m->metrics.emplace_back(name, v);
  }
  return ReadFlopConvention(r, m);
}

}  // namespace

StatusOr<Scenario> ParseScenario(const YAML::Node& root, const std::string& file,
                                 const std::string& field_prefix, const Catalog& catalog,
                                 const ParseOptions& options) {
  MapReader r(root, file, field_prefix);
  RETURN_IF_ERROR(r.CheckKnownKeys({"name", "model", "hardware", "cluster", "parallel", "training",
                                    "reliability", "measured", "source", "note"}));
  Scenario s;
  s.file = file;
  ASSIGN_OR_RETURN(s.name, r.StringOr("name", fs::path(file).stem().string()));
  // The name heads every report and table row: one line of printable text. A name the file gives
  // with control characters is refused; one taken from the file's name has them replaced.
  if (r.Has("name") && HasControlCharacter(s.name)) {
    return r.Error("name", "a name without control characters (newlines, tabs, U+0080-U+009F, U+2028, U+2029, bidirectional controls)");
  }
  if (r.Has("name")) RETURN_IF_ERROR(r.Line("name").status());  // not empty or blank
  s.name = ReplaceControlCharacters(s.name, '_');
  ASSIGN_OR_RETURN(s.source, r.StringOr("source", ""));
  ASSIGN_OR_RETURN(s.note, r.StringOr("note", ""));
  ASSIGN_OR_RETURN(s.arch, ReadModel(r, catalog));
  ASSIGN_OR_RETURN(std::string hw_ref, r.String("hardware"));
  auto spec = catalog.Hardware(ResolvePath(hw_ref, file));
  if (!spec.ok()) return spec.status().WithPrefix(file + ": " + r.FieldName("hardware"));
  ASSIGN_OR_RETURN(ClusterOverrides overrides, ReadCluster(r));
  ASSIGN_OR_RETURN(s.cluster, BuildCluster(*spec, overrides, file, field_prefix.empty() ? "" : field_prefix + "."));
  Drops drops(options);
  RETURN_IF_ERROR(ReadGemmTable(r, catalog, &drops, &s.cluster.spec));
  RETURN_IF_ERROR(ReadCollectiveTable(r, catalog, &drops, &s.cluster));
  ASSIGN_OR_RETURN(MapReader training, r.Map("training"));
  (void)training;
  RETURN_IF_ERROR(ReadTraining(r, s.cluster.spec, &drops, &s.job, &s.plan.micro_batch));
  RETURN_IF_ERROR(CheckHardwareCanTime(r, s.cluster.spec, s.job));
  RETURN_IF_ERROR(ReadHostProfile(r, catalog, &s.job));
  RETURN_IF_ERROR(ReadReliability(r, catalog, &s));
  RETURN_IF_ERROR(ReadParallel(r, s.cluster.devices, &drops, &s));
  RETURN_IF_ERROR(CheckTrainingAgainstPlan(r, s));
  RETURN_IF_ERROR(CheckMoeCapacity(r, s));
  ASSIGN_OR_RETURN(s.idle_settings, IdleSettings(r, s));
  s.idle_settings.insert(s.idle_settings.end(), drops.notes().begin(), drops.notes().end());
  RETURN_IF_ERROR(ReadMeasured(r, &s.measured));
  return s;
}

}  // namespace preflight
