// File: model/internal/config_reader.h
//
// Internal to the model module: typed, checked access to a Hugging Face config.json's keys
// (ConfigReader), and the readers of each model_type (hf_families.cc) that fill an Architecture
// from it; hf_config.cc checks the sizes they read and finalises the layers.
//
//   ConfigReader r(config, "path/config.json");
//   ASSIGN_OR_RETURN(int64_t hidden, r.Int("hidden_size"));   // InvalidArgument naming file and key
//   RETURN_IF_ERROR(ReadByType("llama", r, &arch));
#pragma once

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "preflight/base/status.h"
#include "preflight/model/architecture.h"
#include "preflight/model/hf_config.h"

namespace preflight::model_internal {

// The largest whole number a config size may hold (2^31): every size in a published config fits.
constexpr double kMaxConfigInt = 2147483648.0;

// Typed access to a config's keys. Each accessor returns InvalidArgument naming the file and the
// key ("<source>: <key>: expected ..., got ...") where the value is of the wrong kind; the `...Or`
// forms return `fallback` where the key is absent or null.
class ConfigReader {
 public:
  using json = nlohmann::json;

  // `looked_up`, when given, receives every key the reader is asked for (HfConfigKeysRead).
  ConfigReader(const json& j, std::string source, std::set<std::string>* looked_up = nullptr)
      : j_(j), source_(std::move(source)), looked_up_(looked_up) {}

  bool Has(const char* key) const {
    if (looked_up_ != nullptr) looked_up_->insert(key);
    return j_.contains(key) && !j_[key].is_null();
  }

  // Given as null (None in transformers), which differs from absent where a class default is not None.
  bool IsNull(const char* key) const {
    if (looked_up_ != nullptr) looked_up_->insert(key);
    return j_.contains(key) && j_[key].is_null();
  }

  // A whole number of at most 2^31 in size (a float with no fraction is taken); absent: an error.
  StatusOr<int64_t> Int(const char* key) const {
    if (!Has(key)) return Error(key, "a positive whole number");
    const json& v = j_[key];
    if (!v.is_number()) return Error(key, "a whole number");
    // Every size in a model config fits in 32 bits; the bound keeps products of sizes in range.
    const double d = v.get<double>();
    if (d != std::floor(d) || std::abs(d) > kMaxConfigInt) {
      return Error(key, "a whole number of at most 2^31 in size");
    }
    if (v.is_number_float()) return static_cast<int64_t>(d);
    return v.get<int64_t>();
  }
  // The first of `keys` the config has (the name an error about that size should carry), else the
  // first of them.
  const char* KeyOf(std::initializer_list<const char*> keys) const {
    for (const char* k : keys) {
      if (Has(k)) return k;
    }
    return *keys.begin();
  }
  // The layer count, from the first of `keys` present, checked before any per-layer table is sized.
  StatusOr<int64_t> Layers(std::initializer_list<const char*> keys) const {
    const char* key = KeyOf(keys);
    ASSIGN_OR_RETURN(int64_t layers, Int(key));
    if (layers <= 0 || layers > kMaxModelLayers)
      return Error(key, ("a positive whole number of at most " + std::to_string(kMaxModelLayers)).c_str());
    return layers;
  }
  StatusOr<int64_t> IntOr(const char* key, int64_t fallback) const {  // Int, or `fallback`
    return Has(key) ? Int(key) : StatusOr<int64_t>(fallback);
  }
  StatusOr<bool> BoolOr(const char* key, bool fallback) const {  // true or false
    if (!Has(key)) return fallback;
    if (!j_[key].is_boolean()) return Error(key, "true or false");
    return j_[key].get<bool>();
  }
  StatusOr<double> NumberOr(const char* key, double fallback) const {  // any number
    if (!Has(key)) return fallback;
    if (!j_[key].is_number()) return Error(key, "a number");
    return j_[key].get<double>();
  }
  // Whether a dropout probability (0 to 1; absent: `fallback`) drops anything.
  StatusOr<bool> DropoutOr(const char* key, double fallback) const {
    ASSIGN_OR_RETURN(double p, NumberOr(key, fallback));
    if (!(p >= 0 && p <= 1)) return Error(key, "a dropout probability from 0 to 1");
    return p > 0;
  }
  StatusOr<std::string> StringOr(const char* key, std::string fallback) const {  // a string
    if (!Has(key)) return fallback;
    if (!j_[key].is_string()) return Error(key, "a string");
    return j_[key].get<std::string>();
  }
  // The first of `keys` present, as an int.
  StatusOr<int64_t> FirstInt(std::initializer_list<const char*> keys) const {
    for (const char* k : keys) {
      if (Has(k)) return Int(k);
    }
    return Error(*keys.begin(), "a positive whole number");
  }
  // A list of whole numbers (layer indices); absent: empty.
  StatusOr<std::vector<int64_t>> IntListOr(const char* key) const {
    std::vector<int64_t> out;
    if (!Has(key)) return out;
    if (!j_[key].is_array()) return Error(key, "a list of layer indices");
    for (const json& v : j_[key]) {
      if (!v.is_number_integer()) return Error(key, "a list of layer indices");
      out.push_back(v.get<int64_t>());
    }
    return out;
  }
  // A list of strings; absent: empty.
  StatusOr<std::vector<std::string>> StringListOr(const char* key) const {
    std::vector<std::string> out;
    if (!Has(key)) return out;
    if (!j_[key].is_array()) return Error(key, "a list of strings");
    for (const json& v : j_[key]) {
      if (!v.is_string()) return Error(key, "a list of strings");
      out.push_back(v.get<std::string>());
    }
    return out;
  }
  // The InvalidArgument for `key`: what was `expected`, and the value given ("nothing" if absent).
  Status Error(const char* key, const char* expected) const {
    std::string got = "nothing";
    if (j_.contains(key))
      got = j_[key].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return InvalidArgument(source_ + ": " + key + ": expected " + expected + ", got " + got);
  }

 private:
  const json& j_;
  std::string source_;
  std::set<std::string>* looked_up_;
};

// Reads the keys of config type `type` (one of SupportedModelTypes) into *a: InvalidArgument
// naming the file and key on a missing or mistyped one, or on a type not supported.
Status ReadByType(const std::string& type, const ConfigReader& r, Architecture* a);

}  // namespace preflight::model_internal
