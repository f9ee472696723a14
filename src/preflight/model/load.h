// File: model/load.h
//
// Loads a model by catalog id or config.json path into an Architecture.
//
//   ASSIGN_OR_RETURN(Architecture a, LoadArchitecture(Catalog::Default(), "llama-3.1-8b"));
#pragma once

#include <string>

#include "preflight/base/status.h"
#include "preflight/catalog/catalog.h"
#include "preflight/model/architecture.h"

namespace preflight {

// NotFound for an unknown id or missing file; InvalidArgument for a malformed or unsupported
// config (naming the file and key). The architecture's name is the id (or the file stem).
StatusOr<Architecture> LoadArchitecture(const Catalog& catalog, const std::string& id_or_path);

}  // namespace preflight
