#include "preflight/model/architecture.h"

namespace preflight {

int64_t Architecture::MoeLayerCount() const {
  int64_t n = 0;
  for (bool b : moe_layer) n += b ? 1 : 0;
  return n;
}

}  // namespace preflight
