// Tests of BuildCluster (hardware/cluster.h): catalog defaults, overrides and errors.
#include "preflight/hardware/cluster.h"

#include <gtest/gtest.h>

#include <string>

#include "preflight/catalog/catalog.h"

namespace preflight {
namespace {

HardwareSpec Spec(const std::string& id) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware(id);
  EXPECT_TRUE(h.ok()) << h.status().message();
  return h.ok() ? *h : HardwareSpec{};
}

ClusterOverrides Devices(int64_t n) {
  ClusterOverrides o;
  o.devices = n;
  return o;
}

TEST(ClusterTest, DefaultsComeFromTheCatalog) {
  struct Case {
    const char* id;
    int64_t domain, per_node;
    double hbm_gib, scale_out_gbps;
  };
  const Case cases[] = {
      {"h100-sxm-80gb", 8, 8, 80, 400},
      {"gb200-nvl72", 72, 8, 186, -1},  // per node: min(domain, 8)
      {"ascend-cloudmatrix-384", 384, 8, 128, -1},
      {"tpu-v4", 4096, 8, 32, -1},
      {"trainium2", 16, 16, 96, 200},      // the catalog's node: a trn2.48xlarge's 16 chips
      {"tpu-v7-ironwood", 9216, 4, 192, -1},  // 4-chip VMs
  };
  for (const Case& c : cases) {
    HardwareSpec spec = Spec(c.id);
    StatusOr<Cluster> cl = BuildCluster(spec, Devices(64), "s.yaml");
    ASSERT_TRUE(cl.ok()) << cl.status().message();
    EXPECT_EQ(cl->devices, 64) << c.id;
    EXPECT_EQ(cl->scale_up_domain, c.domain) << c.id;
    EXPECT_EQ(cl->devices_per_node, c.per_node) << c.id;
    EXPECT_DOUBLE_EQ(cl->hbm_capacity.gib(), c.hbm_gib) << c.id;
    EXPECT_EQ(cl->spec.id, c.id);
    EXPECT_DOUBLE_EQ(cl->pue, kDefaultPue);
    if (c.scale_out_gbps >= 0) {
      EXPECT_DOUBLE_EQ(cl->scale_out_gbits_per_s_per_device, c.scale_out_gbps) << c.id;
    } else if (spec.scale_out_gbits_per_s.known()) {
      EXPECT_DOUBLE_EQ(cl->scale_out_gbits_per_s_per_device, spec.scale_out_gbits_per_s.value)
          << c.id;
    } else {
      EXPECT_EQ(cl->scale_out_gbits_per_s_per_device, 0) << c.id << ": 0 when unknown";
    }
  }
}

TEST(ClusterTest, OverridesWin) {
  ClusterOverrides o = Devices(1024);
  o.devices_per_node = 4;
  o.scale_up_domain = 16;
  o.scale_out_gbits_per_s_per_device = 100;
  o.hbm_capacity_gib = 96;
  o.pue = 1.1;
  StatusOr<Cluster> c = BuildCluster(Spec("h100-sxm-80gb"), o, "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->devices, 1024);
  EXPECT_EQ(c->devices_per_node, 4);
  EXPECT_EQ(c->scale_up_domain, 16);
  EXPECT_DOUBLE_EQ(c->scale_out_gbits_per_s_per_device, 100);
  EXPECT_DOUBLE_EQ(c->hbm_capacity.value(), 96.0 * 1073741824.0);
  EXPECT_DOUBLE_EQ(c->pue, 1.1);
}

// A node smaller than an in-node domain (H100: NVLink across 8 GPUs of a server) bounds the domain:
// 4-GPU nodes do not join 8 GPUs over NVLink. It kept the catalog's 8, timing TP 8 over two nodes as
// NVLink. A rack-scale domain (GB200 NVL72) spans its 4-GPU trays and stays; a domain given stays.
TEST(ClusterTest, ASmallerNodeBoundsAnInNodeDomain) {
  ClusterOverrides o = Devices(16);
  o.devices_per_node = 4;
  StatusOr<Cluster> c = BuildCluster(Spec("h100-sxm-80gb"), o, "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->scale_up_domain, 4);
  EXPECT_TRUE(c->domain_cut_to_node);
  StatusOr<Cluster> rack = BuildCluster(Spec("gb200-nvl72"), o, "s.yaml");
  ASSERT_TRUE(rack.ok()) << rack.status().message();
  EXPECT_EQ(rack->scale_up_domain, 72);
  o.scale_up_domain = 8;
  StatusOr<Cluster> given = BuildCluster(Spec("h100-sxm-80gb"), o, "s.yaml");
  ASSERT_TRUE(given.ok()) << given.status().message();
  EXPECT_EQ(given->scale_up_domain, 8);
}

TEST(ClusterTest, DomainOverrideDrivesDefaultNodeSize) {
  ClusterOverrides o = Devices(64);
  o.scale_up_domain = 4;
  StatusOr<Cluster> c = BuildCluster(Spec("h100-sxm-80gb"), o, "s.yaml");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->devices_per_node, 4) << "min(scale_up_domain, 8)";
}

TEST(ClusterTest, UnknownCatalogFigures) {
  HardwareSpec spec = Spec("h100-sxm-80gb");
  spec.id = "mystery";
  spec.scale_up_domain_devices = Figure{};
  spec.scale_out_gbits_per_s = Figure{};
  spec.hbm_capacity_gib = Figure{};
  // No HBM capacity anywhere: an error naming the field and the device.
  StatusOr<Cluster> c = BuildCluster(spec, Devices(8), "run.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(c.status().message().find("run.yaml: cluster.hbm_capacity_gib:"), std::string::npos)
      << c.status().message();
  EXPECT_NE(c.status().message().find("mystery"), std::string::npos) << c.status().message();
  // With the capacity given, the rest falls back: domain 1, one device per node, scale-out 0.
  ClusterOverrides o = Devices(8);
  o.hbm_capacity_gib = 24;
  StatusOr<Cluster> ok = BuildCluster(spec, o, "run.yaml");
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok->scale_up_domain, 1);
  EXPECT_EQ(ok->devices_per_node, 1);
  EXPECT_EQ(ok->scale_out_gbits_per_s_per_device, 0);
  EXPECT_DOUBLE_EQ(ok->hbm_capacity.gib(), 24);
}

TEST(ClusterTest, ErrorsNameFileAndField) {
  struct Case {
    const char* field;
    ClusterOverrides o;
  };
  auto with = [](auto set) {
    ClusterOverrides o = Devices(8);
    set(o);
    return o;
  };
  const Case cases[] = {
      {"cluster.devices", Devices(0)},
      {"cluster.devices", Devices(-8)},
      {"cluster.devices", Devices(kMaxClusterDevices + 1)},
      {"cluster.scale_up_domain", with([](ClusterOverrides& o) { o.scale_up_domain = 0; })},
      {"cluster.devices_per_node", with([](ClusterOverrides& o) { o.devices_per_node = -1; })},
      {"cluster.hbm_capacity_gib", with([](ClusterOverrides& o) { o.hbm_capacity_gib = 0.0; })},
      {"cluster.scale_out_gbits_per_s_per_device",
       with([](ClusterOverrides& o) { o.scale_out_gbits_per_s_per_device = -100.0; })},
      {"cluster.pue", with([](ClusterOverrides& o) { o.pue = 0.9; })},
      // Beyond the device's share of the network (100 Gb/s: 12.5 GB/s), as a hardware file would be.
      {"cluster.scale_out_busbw_gbytes_per_s", with([](ClusterOverrides& o) {
         o.scale_out_gbits_per_s_per_device = 100.0;
         o.scale_out_busbw_gbytes_per_s = 12.6;
       })},
  };
  HardwareSpec spec = Spec("a100-sxm-80gb");
  for (const Case& c : cases) {
    StatusOr<Cluster> cl = BuildCluster(spec, c.o, "scenario.yaml");
    ASSERT_FALSE(cl.ok()) << c.field;
    EXPECT_EQ(cl.status().code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_EQ(cl.status().message().rfind(std::string("scenario.yaml: ") + c.field + ":", 0), 0u)
        << cl.status().message();
  }
}

TEST(ClusterTest, PueOfOneIsAllowed) {
  ClusterOverrides o = Devices(8);
  o.pue = 1.0;
  StatusOr<Cluster> c = BuildCluster(Spec("a100-sxm-80gb"), o, "s.yaml");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_DOUBLE_EQ(c->pue, 1.0);
}

}  // namespace
}  // namespace preflight
