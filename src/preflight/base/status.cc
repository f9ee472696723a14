#include "preflight/base/status.h"

// Status and StatusOr are header-only; this file gives the base library an object file.
namespace preflight {}
