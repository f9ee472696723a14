#include "preflight/model/architecture.h"

#include <algorithm>

namespace preflight {

double Architecture::LocalLayerShare() const {
  if (sliding_window <= 0 || layers <= 0) return 0.0;
  int64_t local = layers;  // kAll
  if (local_layers == LocalLayers::kEven) local = (layers + 1) / 2;
  if (local_layers == LocalLayers::kFrom) local = std::clamp<int64_t>(layers - local_from, 0, layers);
  return static_cast<double>(local) / static_cast<double>(layers);
}

int64_t Architecture::MoeLayerCount() const {
  if (static_cast<int64_t>(moe_prefix_.size()) == layers + 1) return moe_prefix_[layers];
  int64_t n = 0;
  for (bool b : moe_layer) n += b ? 1 : 0;
  return n;
}

int64_t Architecture::MoeLayersIn(int64_t first, int64_t n) const {
  if (moe_layer.empty() || n <= 0) return 0;
  if (static_cast<int64_t>(moe_prefix_.size()) == layers + 1) {
    return moe_prefix_[first + n] - moe_prefix_[first];
  }
  int64_t count = 0;
  for (int64_t i = first; i < first + n; ++i) count += moe_layer[i] ? 1 : 0;
  return count;
}

void Architecture::FinalizeLayers() {
  moe_prefix_.assign(layers + 1, 0);
  for (int64_t i = 0; i < layers; ++i) moe_prefix_[i + 1] = moe_prefix_[i] + (IsMoeLayer(i) ? 1 : 0);
  const int64_t moe = moe_prefix_[layers];
  const int64_t start = layers - moe;
  moe_suffix_start_ = MoeLayersIn(start, moe) == moe ? start : -1;
}

}  // namespace preflight
