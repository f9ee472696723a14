#include "preflight/catalog/host_profile.h"

#include "preflight/catalog/yaml_reader.h"

namespace preflight {
namespace {

// A time in µs at `key` of `r`, positive and finite.
StatusOr<Seconds> Microseconds(const MapReader& r, std::string_view key) {
  ASSIGN_OR_RETURN(double us, r.Number(key));
  if (!(us > 0) || us > 1e9) return r.Error(key, "a positive time in microseconds, at most 1e9 (a sanity bound)");
  return Seconds(us * 1e-6);
}

}  // namespace

StatusOr<HostProfile> LoadHostProfile(const std::string& path) {
  ASSIGN_OR_RETURN(YAML::Node root, LoadYamlFile(path));
  MapReader r(root, path, "");
  RETURN_IF_ERROR(r.ExpectMap());
  RETURN_IF_ERROR(
      r.CheckKnownKeys({"id", "source", "stack", "layer", "layer_us", "micro_batch_us", "input_us",
                       "gpu_waits_per_layer_forward", "collective_call_us", "unfused_softmax_op_us", "checks",
                        "shapes", "omitted"}));
  HostProfile h;
  h.file = path;
  ASSIGN_OR_RETURN(h.id, r.String("id"));
  if (h.id.find_first_not_of(" \t") == std::string::npos) return r.Error("id", "a non-empty id");
  ASSIGN_OR_RETURN(h.source, r.String("source"));
  ASSIGN_OR_RETURN(h.stack, r.StringOr("stack", ""));
  ASSIGN_OR_RETURN(h.layer, r.StringOr("layer", ""));
  // The one kind the host tool times; another name would silently switch off plan's warning that
  // a model's layers differ from the one timed.
  if (r.Has("layer") && h.layer != "gpt") return r.Error("layer", "gpt (the kind of layer the host tool times)");
  ASSIGN_OR_RETURN(MapReader layer, r.Map("layer_us"));
  RETURN_IF_ERROR(layer.CheckKnownKeys({"forward", "backward", "checkpointed", "checkpointed_forward"}));
  ASSIGN_OR_RETURN(h.layer_forward, Microseconds(layer, "forward"));
  ASSIGN_OR_RETURN(h.layer_backward, Microseconds(layer, "backward"));
  ASSIGN_OR_RETURN(h.layer_checkpointed, Microseconds(layer, "checkpointed"));
  if (layer.Has("checkpointed_forward")) {
    ASSIGN_OR_RETURN(h.layer_checkpointed_forward, Microseconds(layer, "checkpointed_forward"));
    if (!(h.layer_checkpointed_forward < h.layer_checkpointed)) {
      return layer.Error("checkpointed_forward", "a time below checkpointed (it is a part of it)");
    }
  }
  ASSIGN_OR_RETURN(h.gpu_waits_per_layer_forward, r.IntOr("gpu_waits_per_layer_forward", 0));
  if (h.gpu_waits_per_layer_forward < 0 || h.gpu_waits_per_layer_forward > 1000) {
    return r.Error("gpu_waits_per_layer_forward", "a whole number from 0 to 1000");
  }
  if (h.gpu_waits_per_layer_forward > 0 && !layer.Has("checkpointed_forward")) {
    return r.Error("gpu_waits_per_layer_forward",
                   "layer_us.checkpointed_forward beside it (the forward and backward are timed apart)");
  }
  if (r.Has("collective_call_us")) {
    ASSIGN_OR_RETURN(h.collective_call, Microseconds(r, "collective_call_us"));
  }
  if (r.Has("unfused_softmax_op_us")) {
    ASSIGN_OR_RETURN(h.unfused_softmax_op, Microseconds(r, "unfused_softmax_op_us"));
  }
  ASSIGN_OR_RETURN(h.micro_batch, Microseconds(r, "micro_batch_us"));
  if (r.Has("input_us")) {
    ASSIGN_OR_RETURN(MapReader input, r.Map("input_us"));
    RETURN_IF_ERROR(input.CheckKnownKeys({"before_sync", "after_sync"}));
    ASSIGN_OR_RETURN(h.input_before_sync, Microseconds(input, "before_sync"));
    ASSIGN_OR_RETURN(h.input_after_sync, Microseconds(input, "after_sync"));
  }
  return h;
}

}  // namespace preflight
