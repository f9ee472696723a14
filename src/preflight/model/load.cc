#include "preflight/model/load.h"

#include <filesystem>

#include "preflight/model/hf_config.h"

namespace preflight {

StatusOr<Architecture> LoadArchitecture(const Catalog& catalog, const std::string& id_or_path) {
  std::string path;
  ASSIGN_OR_RETURN(nlohmann::json config, catalog.ModelConfig(id_or_path, &path));
  const std::string name =
      LooksLikePath(id_or_path) ? std::filesystem::path(id_or_path).stem().string() : id_or_path;
  return ArchitectureFromHfConfig(config, name, path);
}

}  // namespace preflight
