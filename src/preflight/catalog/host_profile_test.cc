#include "preflight/catalog/host_profile.h"

#include <gtest/gtest.h>

#include "preflight/base/test_support.h"
#include "preflight/catalog/catalog.h"

namespace preflight {
namespace {

using test_support::ScratchDir;
using test_support::WriteFile;

constexpr char kProfile[] = R"(id: test-stack
source: "a test"
layer: gpt
layer_us: {forward: 900, backward: 1200, checkpointed: 2900}
micro_batch_us: 500
input_us: {before_sync: 1100, after_sync: 150}
checks: {anything: 1}
omitted: ["CUDA launch calls"]
)";

TEST(HostProfileTest, ReadsMicrosecondsAsSecondsAndSumsALayer) {
  const std::string dir = ScratchDir("preflight_host_");
  auto h = LoadHostProfile(WriteFile(dir, "p.yaml", kProfile));
  ASSERT_TRUE(h.ok()) << h.status().message();
  EXPECT_EQ(h->id, "test-stack");
  EXPECT_EQ(h->layer, "gpt");
  EXPECT_DOUBLE_EQ(h->layer_checkpointed.value(), 2900e-6);
  EXPECT_DOUBLE_EQ(h->micro_batch.value(), 500e-6);
  EXPECT_DOUBLE_EQ(h->input_before_sync.value(), 1100e-6);
  EXPECT_DOUBLE_EQ(h->input_after_sync.value(), 150e-6);
  // The input path is optional: without it, nothing is charged for it.
  std::string without = kProfile;
  without.erase(without.find("input_us"), std::string("input_us: {before_sync: 1100, after_sync: 150}\n").size());
  auto bare = LoadHostProfile(WriteFile(dir, "bare.yaml", without));
  ASSERT_TRUE(bare.ok()) << bare.status().message();
  EXPECT_DOUBLE_EQ(bare->input_before_sync.value(), 0);
  EXPECT_DOUBLE_EQ(bare->input_after_sync.value(), 0);
  EXPECT_EQ(h->gpu_waits_per_layer_forward, 0);
  // A profile timed without a GPU gives no collective call; one timed on a GPU host does.
  EXPECT_DOUBLE_EQ(h->collective_call.value(), 0);
  auto calls = LoadHostProfile(WriteFile(dir, "calls.yaml", std::string(kProfile) + "collective_call_us: 42\n"));
  ASSERT_TRUE(calls.ok()) << calls.status().message();
  EXPECT_DOUBLE_EQ(calls->collective_call.value(), 42e-6);
  EXPECT_DOUBLE_EQ(calls->unfused_softmax_op.value(), 0) << "not given";
  auto softmax = LoadHostProfile(WriteFile(dir, "softmax.yaml", std::string(kProfile) + "unfused_softmax_op_us: 11.5\n"));
  ASSERT_TRUE(softmax.ok()) << softmax.status().message();
  EXPECT_DOUBLE_EQ(softmax->unfused_softmax_op.value(), 11.5e-6);
  // A layer that waits for the GPU in its forward gives the checkpointed forward apart.
  std::string waits = kProfile;
  waits.replace(waits.find("checkpointed: 2900}"), std::string("checkpointed: 2900}").size(),
                "checkpointed: 2900, checkpointed_forward: 800}\ngpu_waits_per_layer_forward: 2");
  auto w = LoadHostProfile(WriteFile(dir, "waits.yaml", waits));
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->gpu_waits_per_layer_forward, 2);
  EXPECT_NEAR(w->LayerForwardSeconds(true).value(), 800e-6, 1e-12);
  EXPECT_NEAR(w->LayerForwardSeconds(false).value(), 900e-6, 1e-12);
  // Without a checkpointed forward, full recompute's forward phase is the forward with autograd (an
  // upper bound), not nothing: the whole layer's host time had gone to the backward.
  EXPECT_NEAR(h->LayerForwardSeconds(true).value(), 900e-6, 1e-12);
  // Full recompute: the checkpointed layer as measured whole; without: forward and backward.
  EXPECT_NEAR(h->LayerSeconds(true).value(), 2900e-6, 1e-12);
  EXPECT_NEAR(h->LayerSeconds(false).value(), 2100e-6, 1e-12);
}

TEST(HostProfileTest, BadFieldsNameTheFileAndTheField) {
  const std::string dir = ScratchDir("preflight_host_");
  struct Case {
    std::string text, field;
  } cases[] = {
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 0, backward: 1}\nmicro_batch_us: 1\n", "layer_us.forward"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 1}\nmicro_batch_us: 1\n", "layer_us.backward"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 1, backward: 1}\nmicro_batch_us: -3\n", "micro_batch_us"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 1, backward: 1, sideways: 2}\nmicro_batch_us: 1\n", "sideways"},
      {"id: x\nlayer_us: {checkpointed: 1, forward: 1, backward: 1}\nmicro_batch_us: 1\n", "source"},
      {"id: ''\nsource: s\nlayer_us: {checkpointed: 1, forward: 1, backward: 1}\nmicro_batch_us: 1\n", "id"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 2e9, forward: 1, backward: 1}\nmicro_batch_us: 1\n", "layer_us.checkpointed"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 1, backward: 1}\nmicro_batch_us: 1\ninput_us: {before_sync: 1}\n",
       "input_us.after_sync"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 1, backward: 1}\nmicro_batch_us: 1\ninput_us: {before_sync: 1, after_sync: -2}\n",
       "input_us.after_sync"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 1, forward: 1, backward: 1}\nmicro_batch_us: 1\ninput_us: {before_sync: 1, after_sync: 1, during: 1}\n",
       "input_us.during"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, checkpointed_forward: 5, forward: 1, backward: 1}\nmicro_batch_us: 1\n",
       "layer_us.checkpointed_forward"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, forward: 1, backward: 1}\ngpu_waits_per_layer_forward: 2\nmicro_batch_us: 1\n",
       "gpu_waits_per_layer_forward"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, checkpointed_forward: 2, forward: 1, backward: 1}\ngpu_waits_per_layer_forward: -1\nmicro_batch_us: 1\n",
       "gpu_waits_per_layer_forward"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, checkpointed_forward: 2, forward: 1, backward: 1}\ngpu_waits_per_layer_forward: two\nmicro_batch_us: 1\n",
       "gpu_waits_per_layer_forward"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, forward: 1, backward: 1}\ncollective_call_us: 0\nmicro_batch_us: 1\n",
       "collective_call_us"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, forward: 1, backward: 1}\nunfused_softmax_op_us: -3\nmicro_batch_us: 1\n",
       "unfused_softmax_op_us"},
      // Only the kind the tool times: another name would switch off plan's layer-kind warning.
      {"id: x\nsource: s\nlayer: mamba\nlayer_us: {checkpointed: 5, forward: 1, backward: 1}\nmicro_batch_us: 1\n",
       "layer: expected gpt"},
      {"id: x\nsource: s\nlayer_us: {checkpointed: 5, forward: 1, backward: 1}\ncollective_call_us: fast\nmicro_batch_us: 1\n",
       "collective_call_us"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteFile(dir, "bad.yaml", c.text);
    auto h = LoadHostProfile(path);
    ASSERT_FALSE(h.ok()) << c.text;
    EXPECT_NE(h.status().message().find(path), std::string::npos) << h.status().message();
    EXPECT_NE(h.status().message().find(c.field), std::string::npos) << h.status().message();
  }
}

TEST(HostProfileTest, TheCatalogsProfilesLoadAndUnknownNamesListThem) {
  const Catalog cat = Catalog::Default();
  const std::vector<std::string> ids = cat.HostProfileIds();
  ASSERT_FALSE(ids.empty());
  for (const std::string& id : ids) {
    auto h = cat.HostProfileById(id);
    ASSERT_TRUE(h.ok()) << h.status().message();
    EXPECT_EQ(h->id, id) << "a profile's id names its file";
    EXPECT_FALSE(h->source.empty());
  }
  auto missing = cat.HostProfileById("no-such-stack");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(ids.front()), std::string::npos) << missing.status().message();
}

}  // namespace
}  // namespace preflight
