// Tests of cost/collectives.h against hand-computed values of the NCCL tuning model
// (default tuner constants, µs: ring LL 6.6 + 0.6 per NVLink step, Simple 8.4 + 3.4 per NVLink
// step; tree LL 6.8 + 0.6 per NVLink step + 5.0 per network step) and the nccl-tests bus-bandwidth
// factors (all-reduce moves 2(n-1)/n of the buffer; cost-model-notes §4.1 example: 1 GB over
// 8 GPUs at 360 GB/s busbw = 4.86 ms).
#include "preflight/cost/collectives.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "preflight/catalog/catalog.h"

namespace preflight {
namespace {

Fabric Node(double scale_up_gbps, double scale_out_gbps = 21.2) {
  Fabric f;
  f.devices_per_node = 8;
  f.scale_up_domain = 8;
  f.scale_up_busbw = BytesPerSecond::GBps(scale_up_gbps);
  f.scale_up_ring_busbw = f.scale_up_busbw;
  f.scale_out_busbw = BytesPerSecond::GBps(scale_out_gbps);
  f.scale_out_link = BytesPerSecond::GBps(25);
  return f;
}

constexpr double kUs = 1e-6;

// A cluster of the catalog's device `id`: `devices` of it, `per_node` a node, `domain` a scale-up
// domain.
Cluster CatalogCluster(const std::string& id, int64_t devices, int64_t per_node, int64_t domain) {
  auto spec = Catalog::Default().Hardware(id);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  Cluster c;
  if (spec.ok()) c.spec = *spec;
  c.devices = devices, c.devices_per_node = per_node, c.scale_up_domain = domain;
  return c;
}

TEST(CollectivesTest, SmallAllReduceInOneNodeIsLowLatencyProtocol) {
  // LL ring: 6.6 + 2·7 steps × 0.6 = 15.0 µs (measured 8x A100 one process per GPU: 18-25 µs).
  EXPECT_NEAR(AllReduceTime(Node(231.6), Bytes(8), 8, 8).value(), 15.0 * kUs, 0.01 * kUs);
}

TEST(CollectivesTest, LargeAllReduceIsBandwidthBoundSimpleProtocol) {
  // Simple ring: 8.4 + 14 × 3.4 = 56 µs, plus 1e9 · 14/8 / 360e9 = 4.861 ms.
  const double expected = 56 * kUs + 1e9 * 14.0 / 8.0 / 360e9;
  EXPECT_NEAR(AllReduceTime(Node(360), Bytes(1e9), 8, 8).value(), expected, 1e-9);
}

TEST(CollectivesTest, ManyNodesUseTheTreeForSmallMessages) {
  // 64 nodes x 8: ring LL = 6.6 + 896·0.6... far above tree LL = 6.8 + 2·7·0.6 + 2·6·5.0 = 75.2 µs.
  EXPECT_NEAR(AllReduceTime(Node(231.6), Bytes(8), 512, 8).value(), 75.2 * kUs, 0.01 * kUs);
}

// Across nodes NCCL's flat ring runs a channel per NIC: each of the ring's 2(n-1)/n passes moves
// 1/8 of the buffer through every NIC while a rank's NVLink carries the 7/8 that stays in its
// node, at the same time, so the slower of the two sets the time (cost-model-notes §4.1:
// multi-node ring busbw ≈ G·B_nic, NVIDIA's 46-48 GB/s per NDR NIC, about 375 GB/s for 8 NICs),
// not their sum.
TEST(CollectivesTest, AcrossNodesTheSlowerOfNvlinkAndNetworkSetsTheTime) {
  const double s = 8e9;  // large: bandwidth-bound, either algorithm
  const double passes = 2 * 63.0 / 64;  // a ring of 64 ranks over 8 nodes
  const double nvlink = s * passes * 7.0 / 8.0 / 360e9;
  const double network = s * passes / 8 / 40e9;
  ASSERT_GT(network, nvlink);
  const double t = AllReduceTime(Node(360, 40), Bytes(s), 64, 8).value();
  EXPECT_GT(t, network);
  // Beyond the NIC's share only latency: the ring's (Simple, 585.2 µs; the tree's 0.92 share of the
  // bandwidth costs more at this size).
  EXPECT_LT(t, network + 600 * kUs) << "latency only beyond the NIC's share";
  // NVLink-bound when the network is faster.
  const double fast_network = AllReduceTime(Node(360, 80), Bytes(s), 64, 8).value();
  EXPECT_GT(fast_network, nvlink);
  EXPECT_LT(fast_network, nvlink + 600 * kUs);
}

// NCCL's tuning model gives the tree 0.92 of the bus bandwidth for an all-reduce (and of that,
// LL 1/3.8 and LL128 120/128 across nodes): a large all-reduce across nodes takes at least the
// ring's transfer (here the network's share), and the tree no longer undercuts it on bandwidth.
TEST(CollectivesTest, TheTreeHasNcclsBandwidthShare) {
  // 4 GB over 64 ranks on 8 nodes: the network's share, 4e9 · 2·63/64 / 8 / 46e9 = 21.40 ms, sets
  // the transfer. The tree (Simple: 8.4 + 2·7·4.0 + 2·3·14 = 148.4 µs of latency) would win at the
  // ring's bandwidth; at 0.92 of it, moving 2·S where the ring moves 2·63/64·S, it loses 2.2 ms,
  // and the ring (Simple: 8.4 + 112·3.4 + 14·14 = 585.2 µs) is the faster.
  const double s = 4e9;
  const double transfer = s * 2 * 63.0 / 64 / 8 / 46e9;
  EXPECT_NEAR(AllReduceTime(Node(478.9, 46), Bytes(s), 64, 8).value(), transfer + 585.2 * kUs, 0.01 * kUs);
}

// On a full mesh (MI300X's xGMI) a group of g GPUs of the node has only its g - 1 links: 2 GPUs
// all-reduce at one link's usable rate (hardware.md §9c: 47.7 GB/s measured), 8 at the measured
// 8-GPU bus bandwidth.
TEST(CollectivesTest, AFullMeshGroupUsesOnlyItsOwnLinks) {
  Fabric f = Node(316.8);
  f.scale_up_peer = BytesPerSecond::GBps(48);
  const double s = 1e9;
  EXPECT_GE(AllReduceTime(f, Bytes(s), 2, 2).value(), s * 1.0 / 48e9);
  EXPECT_LT(AllReduceTime(f, Bytes(s), 2, 2).value(), s * 1.0 / 48e9 * 1.01);
  EXPECT_NEAR(AllReduceTime(f, Bytes(s), 4, 4).value(), 8.4e-6 + 6 * 3.4e-6 + s * 1.5 / 144e9, 1e-6);
  EXPECT_NEAR(AllReduceTime(f, Bytes(s), 8, 8).value(), 56e-6 + s * 14.0 / 8.0 / 316.8e9, 1e-6);
  EXPECT_GE(PointToPointTime(f, Bytes(s), false).value(), s / 48e9);
  // A switched node gives any group the measured rate.
  EXPECT_LT(AllReduceTime(Node(316.8), Bytes(s), 2, 2).value(), s * 1.0 / 300e9);
  // The catalog's MI300X says so.
  std::vector<std::string> warnings;
  EXPECT_DOUBLE_EQ(FabricFromCluster(CatalogCluster("mi300x", 8, 8, 8), &warnings).scale_up_peer.value(), 48e9);
}

// A torus group is laid out as the block that gives it the most links: one per axis where its
// side is 2, two where the side closes a ring; its all-to-all crosses the busiest axis's mean ring
// distance, floor(s²/4)/s hops, per link.
TEST(CollectivesTest, ATorusGroupTakesTheBlockWithTheMostLinks) {
  Fabric f = Node(300);
  EXPECT_EQ(TorusBlockOf(f, 64).links, 0);
  EXPECT_DOUBLE_EQ(TorusHopFactor(f, 64), 1.0);
  f.torus_dimensions = 3;
  EXPECT_EQ(TorusBlockOf(f, 1).links, 0);
  EXPECT_EQ(TorusBlockOf(f, 2).links, 1);   // the one link between two neighbours
  EXPECT_EQ(TorusBlockOf(f, 3).links, 2);   // a ring of 3
  EXPECT_EQ(TorusBlockOf(f, 4).links, 2);   // 2 x 2, or a ring of 4
  EXPECT_EQ(TorusBlockOf(f, 6).links, 3);   // 3 x 2
  EXPECT_EQ(TorusBlockOf(f, 7).links, 2);   // a prime is a ring
  EXPECT_EQ(TorusBlockOf(f, 8).links, 3);   // 2 x 2 x 2 or 4 x 2
  EXPECT_EQ(TorusBlockOf(f, 27).links, 6);  // 3 x 3 x 3
  EXPECT_EQ(TorusBlockOf(f, 64).links, 6);
  EXPECT_DOUBLE_EQ(TorusHopFactor(f, 2), 1.0);
  EXPECT_NEAR(TorusHopFactor(f, 8), 0.5 * 3 * 8 / 7, 1e-9);     // 2 x 2 x 2: 1.71
  EXPECT_NEAR(TorusHopFactor(f, 64), 0.5 * 6 * 64 / 63, 1e-9);  // 4 x 4 x 4: 3.05
  EXPECT_NEAR(TorusHopFactor(f, 27), (2.0 / 3 / 2) * 6 * 27 / 26, 1e-9);  // 3 x 3 x 3
  f.torus_dimensions = 2;
  EXPECT_EQ(TorusBlockOf(f, 64).links, 4);
  EXPECT_NEAR(TorusHopFactor(f, 16), 0.5 * 4 * 16 / 15, 1e-9);  // 4 x 4: 2.13
  f.torus_dimensions = 1;
  EXPECT_EQ(TorusBlockOf(f, 64).links, 2);
}

// A torus fabric with the given slice shapes.
Fabric SlicedTorus(int dims, std::vector<TorusSliceShape> shapes) {
  Fabric f = Node(300);
  f.torus_dimensions = dims;
  f.torus_slices = std::make_shared<std::vector<TorusSliceShape>>(std::move(shapes));
  return f;
}

TEST(CollectivesTest, AMeshTakesWholeAxesOfTheSliceFromItsMostIntensiveGroupDown) {
  const Fabric v5e = SlicedTorus(2, {{{4, 4, 1}, true}, {{16, 16, 1}, true}});
  const Fabric v5p = SlicedTorus(3, {{{2, 4, 4}, false}, {{4, 4, 8}, true}, {{4, 8, 8}, true}});
  const Fabric example = SlicedTorus(3, {{{4, 4, 16}, true}});  // JAX's own (mesh_utils docstring)
  // Each group alone would take its best block: 4 x 4 (4 links) for 16 on the 2D torus, 2 x 2 x 2
  // (3 links) for 8 on the 3D one.
  EXPECT_EQ(TorusBlockOf(v5e, 16).links, 4);
  EXPECT_EQ(TorusBlockOf(v5p, 8).links, 3);
  struct Case {
    const char* what;
    const Fabric* f;
    int64_t slice, pp, dp, cp, tp;
    bool sharded;
    int pp_links, dp_links, tp_links;
  };
  const Case cases[] = {
      {"v5e 16 x 16: TP 16 and FSDP 16 an axis each", &v5e, 256, 1, 16, 1, 16, true, 0, 2, 2},
      {"v5e 16 x 16: FSDP over the slice, both axes", &v5e, 256, 1, 256, 1, 1, true, 0, 4, 0},
      {"v5p 4 x 4 x 8: TP 8 the axis of 8, FSDP 16 the plane", &v5p, 128, 1, 16, 1, 8, true, 0, 4, 2},
      {"4 x 4 x 16, [data 16, model 16]: model the plane, data the axis", &example, 256, 1, 16, 1, 16, false, 0, 2, 4},
      {"4 x 4 x 8, PP 8 and FSDP 16: FSDP the plane, PP the axis", &v5p, 128, 8, 16, 1, 1, true, 2, 4, 0},
      {"4 x 4 x 8, PP 8 and DP 16: PP first, still the axis", &v5p, 128, 8, 16, 1, 1, false, 2, 4, 0},
      {"4 x 4 x 16, PP 16 and FSDP 16: FSDP (first) takes the plane", &example, 256, 16, 16, 1, 1, true, 2, 4, 0},
      {"4 x 4 x 16, PP 16 and DP 16: PP (first) takes the plane", &example, 256, 16, 16, 1, 1, false, 4, 2, 0},
      {"2 x 4 x 4 without wraparound: a side of 4 is a line", &v5p, 32, 1, 8, 1, 4, true, 0, 2, 1},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const TorusMesh m = PlaceTorusMesh(*c.f, c.slice, c.pp, c.dp, c.cp, c.tp, c.sharded);
    ASSERT_TRUE(m.placed);
    EXPECT_EQ(m.pp.links, c.pp_links);
    EXPECT_EQ(m.dp.links, c.dp_links);
    EXPECT_EQ(m.tp.links, c.tp_links);
  }
}

TEST(CollectivesTest, AMeshThatNeedsASplitAxisOrAnUnknownSliceIsNotPlaced) {
  const Fabric v5p = SlicedTorus(3, {{{4, 4, 4}, true}, {{4, 4, 8}, true}});
  EXPECT_FALSE(PlaceTorusMesh(v5p, 64, 1, 32, 1, 2, true).placed);   // no axis of 2
  EXPECT_FALSE(PlaceTorusMesh(v5p, 256, 1, 32, 1, 8, true).placed);  // no 256-chip shape
  EXPECT_FALSE(PlaceTorusMesh(v5p, 128, 1, 8, 1, 8, true).placed);   // the ranks do not fill it
  Fabric bare = v5p;
  bare.torus_slices.reset();
  EXPECT_FALSE(PlaceTorusMesh(bare, 64, 1, 16, 1, 4, true).placed);
  EXPECT_FALSE(PlaceTorusMesh(Node(300), 8, 1, 8, 1, 1, true).placed);  // not a torus
}

TEST(CollectivesTest, APlacedGroupIsTimedOnItsOwnAxes) {
  const Fabric v5e = SlicedTorus(2, {{{16, 16, 1}, true}});
  const TorusMesh m = PlaceTorusMesh(v5e, 256, 1, 16, 1, 16, true);
  ASSERT_TRUE(m.placed);
  const Fabric tp = WithTorusGroup(v5e, 16, m.tp);
  const Bytes b(1e9);
  // Half the links: about twice the time of the best block.
  EXPECT_NEAR(AllReduceTime(tp, b, 16, 16).value() / AllReduceTime(v5e, b, 16, 16).value(), 2.0, 0.05);
  // Groups of other sizes keep their best block.
  EXPECT_DOUBLE_EQ(AllReduceTime(tp, b, 8, 8).value(), AllReduceTime(v5e, b, 8, 8).value());
}

TEST(CollectivesTest, ATorusAllToAllIsSlowerThanASwitchOfTheSameLinks) {
  Fabric sw = Node(300);
  sw.scale_up_domain = 64;
  Fabric torus = sw;
  torus.torus_dimensions = 3;
  const Bytes b(1e9);
  EXPECT_GT(AllToAllTime(torus, b, 64, 64).value(), 2.5 * AllToAllTime(sw, b, 64, 64).value());
  // A pair on one axis of a 3D torus has one link of the six: its ring runs at a sixth, and a
  // send to a neighbour too.
  EXPECT_GT(AllReduceTime(torus, b, 2, 2).value(), 5.5 * AllReduceTime(sw, b, 2, 2).value());
  EXPECT_GT(PointToPointTime(torus, b, false).value(), 5.5 * PointToPointTime(sw, b, false).value());
  // 27 devices as 3 x 3 x 3 use all six.
  EXPECT_NEAR(AllReduceTime(torus, b, 27, 27).value(), AllReduceTime(sw, b, 27, 27).value(), 1e-12);
  // The catalog's TPU v5p says it is a 3D torus.
  std::vector<std::string> warnings;
  Cluster c = CatalogCluster("tpu-v5p", 64, 4, 64);
  EXPECT_EQ(FabricFromCluster(c, &warnings).torus_dimensions, 3);
  // ... and gives its slice shapes: 64 chips are a 4 x 4 x 4 cube, with wraparound.
  const Fabric catalog = FabricFromCluster(c, &warnings);
  ASSERT_TRUE(catalog.torus_slices);
  EXPECT_TRUE(std::any_of(catalog.torus_slices->begin(), catalog.torus_slices->end(), [](const TorusSliceShape& s) {
    return s.sides == std::array<int64_t, 3>{4, 4, 4} && s.wraps;
  }));
  EXPECT_TRUE(std::none_of(warnings.begin(), warnings.end(),
                           [](const std::string& w) { return w.find("unknown axes") != std::string::npos; }));
  // A torus whose axes are not known is timed as a switch, and says so.
  c.spec.scale_up_torus_dimensions = Figure{};
  warnings.clear();
  EXPECT_EQ(FabricFromCluster(c, &warnings).torus_dimensions, 0);
  EXPECT_TRUE(std::any_of(warnings.begin(), warnings.end(),
                          [](const std::string& w) { return w.find("a torus of unknown axes") != std::string::npos; }));
}

// A job takes whole tiles of its model-parallel blocks (and of its nodes) of each domain: all of an
// 8-GPU node or an NVL72 rack where they tile it, 64 of a rack's 72 GPUs at TP 16 or EP 64 (Slurm's
// segments of 16 trays), the whole domain where one tile is larger than it.
TEST(CollectivesTest, AJobTakesWholeTilesOfItsModelParallelBlocks) {
  EXPECT_EQ(ModelParallelBlock(8, 1, 1, 1), 8);
  EXPECT_EQ(ModelParallelBlock(4, 2, 1, 16), 16);
  EXPECT_EQ(ModelParallelBlock(2, 3, 1, 4), 12);
  EXPECT_EQ(ModelParallelBlock(1, 1, 1, 1), 1);
  Fabric node = Node(360);
  for (int64_t block : {1, 2, 4, 8, 16, 24, 128}) EXPECT_EQ(PlacedDomain(node, block, 1152), 8) << block;
  Fabric nvl = Node(600);
  nvl.scale_up_domain = 72;
  nvl.devices_per_node = 4;
  EXPECT_EQ(PlacedDomain(nvl, 1, 1152), 72);
  EXPECT_EQ(PlacedDomain(nvl, 8, 1152), 72);
  EXPECT_EQ(PlacedDomain(nvl, 6, 1152), 72);   // tiles of lcm(6, 4) = 12 GPUs
  EXPECT_EQ(PlacedDomain(nvl, 16, 1152), 64);
  EXPECT_EQ(PlacedDomain(nvl, 32, 1152), 64);
  EXPECT_EQ(PlacedDomain(nvl, 48, 1152), 48);
  EXPECT_EQ(PlacedDomain(nvl, 64, 1152), 64);
  EXPECT_EQ(PlacedDomain(nvl, 72, 1152), 72);
  EXPECT_EQ(PlacedDomain(nvl, 128, 1152), 72);  // larger than a rack: it straddles racks anyway
  // Placed so, TP 16 groups (1,152 GPUs at PP 4) never straddle two racks; in rank order they do.
  EXPECT_EQ(RanksPerDomain(nvl, 1, 16, 288, 4), 8);
  EXPECT_EQ(RanksPerDomain(nvl, 1, 16, 288, 4, PlacedDomain(nvl, 16, 1152)), 16);
}

// A job holds the rest of every domain it fills to its tiles (what a rental bills): 1,152 GB200s
// at TP 16 take 64 of each 72-GPU rack, 18 racks, 1,296 held; 80 fill one rack and take 16 of a
// second, which keeps its other 56 for other jobs: 88. Tiles that divide the rack (TP 8, or TP 4 x
// CP 2 with EP 6: lcm 24) hold nothing more, nor does an 8-GPU node.
TEST(CollectivesTest, AJobHoldsTheRestOfEachDomainItFillsToItsTiles) {
  Cluster rack;
  rack.devices = 1152, rack.devices_per_node = 4, rack.scale_up_domain = 72;
  Plan p;
  p.tp = 16, p.cp = 1, p.pp = 4, p.dp = 18, p.ep = 1, p.etp = 1;
  EXPECT_EQ(DevicesHeld(rack, p), 1296);
  p.tp = 8, p.dp = 36;
  EXPECT_EQ(DevicesHeld(rack, p), 1152);
  p.tp = 4, p.cp = 2, p.ep = 6;
  EXPECT_EQ(DevicesHeld(rack, p), 1152);
  rack.devices = 80;
  p.tp = 16, p.cp = 1, p.pp = 1, p.dp = 5, p.ep = 1;
  EXPECT_EQ(DevicesHeld(rack, p), 88);
  Cluster node;
  node.devices = 64, node.devices_per_node = 8, node.scale_up_domain = 8;
  p.tp = 16, p.dp = 4;
  EXPECT_EQ(DevicesHeld(node, p), 64);
}

// Groups that fill scale-up domains unevenly: the domain holding the fewest of a group's ranks
// carries its cross-domain traffic on the fewest NICs.
TEST(CollectivesTest, UnevenlyFilledDomainsGiveTheFewestRanks) {
  Fabric f = Node(360);
  // 24 GPUs on 8-GPU nodes at PP 2: each stage's 12 DP ranks sit 8 + 4 (stage 0) and 4 + 8.
  EXPECT_EQ(RanksPerDomain(f, 1, 12), 8);
  EXPECT_EQ(RanksPerDomain(f, 1, 12, 12, 2), 4);
  // NVL72: TP 4, DP 4, PP 16: stage 4 holds ranks 64-79, whose DP groups have 2 ranks in each rack.
  Fabric nvl = Node(600);
  nvl.scale_up_domain = 72;
  nvl.devices_per_node = 4;
  EXPECT_EQ(RanksPerDomain(nvl, 4, 4), 4);
  EXPECT_EQ(RanksPerDomain(nvl, 4, 4, 16, 16), 2);
  // A TPU v5p pod slice of 6,144 chips: 8,192 chips at TP 4, DP 1,024, PP 2 put stage 1's DP
  // groups 512 + 512 across two slices (the even share would say 1,024 in one).
  Fabric pod = Node(600);
  pod.scale_up_domain = 6144;
  pod.devices_per_node = 4;
  EXPECT_EQ(RanksPerDomain(pod, 4, 1024, 4096, 2), 512);
  // Aligned layouts keep the even share: TP 8, DP 16 on 8-GPU nodes; 4 ranks 4 apart, 2 per node.
  EXPECT_EQ(RanksPerDomain(f, 8, 16, 128, 4), 1);
  EXPECT_EQ(RanksPerDomain(f, 4, 4, 16, 8), 2);
  EXPECT_EQ(RanksPerDomain(f, 1, 8, 64, 2), 8);
  // Brute force over every group of small layouts: the fewest members in any touched domain.
  for (int64_t d : {4, 6, 8, 12}) {
    for (int64_t s : {1, 2, 3, 4, 5, 8, 13}) {
      for (int64_t n : {2, 3, 4, 6, 11, 16}) {
        for (int64_t stages : {1, 2, 3}) {
          for (int64_t blocks : {1, 2, 3}) {
            const int64_t stage = s * n * blocks;
            int64_t fewest = n;
            for (int64_t p = 0; p < stages; ++p) {
              for (int64_t b = 0; b < blocks; ++b) {
                for (int64_t o = 0; o < s; ++o) {
                  std::vector<int64_t> count(static_cast<size_t>(stage * stages / d + 2), 0);
                  for (int64_t k = 0; k < n; ++k) ++count[static_cast<size_t>((p * stage + b * s * n + o + k * s) / d)];
                  int64_t touched = 0, least = n;
                  for (int64_t c : count) {
                    if (c > 0) ++touched, least = std::min(least, c);
                  }
                  if (touched > 1) fewest = std::min(fewest, least);
                }
              }
            }
            Fabric g = Node(360);
            g.scale_up_domain = d;
            g.devices_per_node = d;
            EXPECT_EQ(RanksPerDomain(g, s, n, stage, stages), fewest)
                << "d " << d << " s " << s << " n " << n << " stage " << stage << " stages " << stages;
          }
        }
      }
    }
  }
}

// NCCL's shares that depend on the collective (tuning.cc). A ring's LL128 runs at 0.7 of the bus
// bandwidth with one rank per node: a 16.6 MB reduce-scatter over 16 nodes (one pass, 15 network
// steps; the network carries 15/16 of it at 46 GB/s, 338 µs) takes Simple's 8.4 + 15 · 14 µs plus
// the transfer, where LL128 at 0.92 (14 + 15 · 4.0 µs plus the transfer / 0.92) had won by 115 µs.
TEST(CollectivesTest, RingLl128RunsSlowerWithOneRankPerNode) {
  const double s = 16.6e6, transfer = s * 15.0 / 16 / 46e9;
  const double simple = (8.4 + 15 * 14) * kUs + transfer, ll128 = (14 + 15 * 4.0) * kUs + transfer / 0.7;
  EXPECT_NEAR(ReduceScatterTime(Node(478.9, 46), Bytes(s), 16, 1).value(), std::min(simple, ll128), 1e-9);
}

// A ring's LL moves a third of the bus bandwidth for an all-gather inside one node (a quarter for
// an all-reduce): 1 MB over 8 GPUs, 7/8 of it at 478.9 GB/s, LL 6.6 + 7 · 0.6 µs plus 3 times that.
TEST(CollectivesTest, RingLlAllGatherInOneNodeRunsAtAThird) {
  const double transfer = 1e6 * 7.0 / 8 / 478.9e9;
  EXPECT_NEAR(AllGatherTime(Node(478.9), Bytes(1e6), 8, 8).value(), (6.6 + 7 * 0.6) * kUs + 3 * transfer, 1e-9);
}

// The tree's algorithm bandwidth is half its bus bandwidth (tuning.cc's ratio .5): it moves 2·S,
// where the ring's 2(n - 1)/n·S. 31.6 MB over 16 ranks on two nodes: the network sets the ring's
// transfer (S · 2 · 15/16 / 8 / 46 GB/s = 161 µs); the tree's LL128 (14 + 14 · 1.25 + 2 · 8.5 µs, at
// 120/128 of 0.92 of the bus bandwidth) moves 16/15 of that and still beats the ring's LL128
// (14 + 28 · 1.9 + 2 · 4.0 µs plus the transfer / 0.92).
TEST(CollectivesTest, TheTreeMovesTwiceTheBuffer) {
  const double s = 31.6e6, transfer = s * 2 * 15.0 / 16 / 8 / 46e9;
  const double tree = 48.5 * kUs + transfer * 16.0 / 15 * 128.0 / (120 * 0.92);
  const double ring = 75.2 * kUs + transfer / 0.92;
  ASSERT_LT(tree, ring);
  EXPECT_NEAR(AllReduceTime(Node(478.9, 46), Bytes(s), 16, 8).value(), tree, 1e-9);
}

TEST(CollectivesTest, ReduceScatterIsOnePassOfTheRing) {
  // Simple: 8.4 + 7 × 3.4 = 32.2 µs, plus half the all-reduce traffic.
  const double expected = 32.2 * kUs + 0.5 * 1e9 * 14.0 / 8.0 / 360e9;
  EXPECT_NEAR(ReduceScatterTime(Node(360), Bytes(1e9), 8, 8).value(), expected, 1e-9);
}

// DeepEP-style dispatch: the network carries one copy per remote domain, NVLink every copy that
// lands on another GPU of its domain; the slower side plus one network step (these sizes take the
// Simple protocol: 8.4 + 14 µs, or 8.4 + 3.4 µs for an NVLink step).
TEST(CollectivesTest, ForwardedAllToAllTakesTheSlowerOfNetworkAndNvlink) {
  const Fabric f = Node(360, 40);
  const double nvlink = 1e9 * 7.0 / 8.0 / 360e9, network = 0.4e9 / 40e9;
  EXPECT_NEAR(ForwardedAllToAllTime(f, Bytes(1e9), Bytes(0.4e9), 64, 8).value(),
              std::max(nvlink, network) + 22.4 * kUs, 1e-9);
  EXPECT_NEAR(ForwardedAllToAllTime(f, Bytes(1e9), Bytes(0.01e9), 64, 8).value(), nvlink + 22.4 * kUs, 1e-9);
  // Inside one domain nothing crosses the network: NVLink alone, one NVLink step.
  EXPECT_NEAR(ForwardedAllToAllTime(f, Bytes(1e9), Bytes(0.4e9), 8, 8).value(), nvlink + 11.8 * kUs, 1e-9);
  EXPECT_LT(ForwardedAllToAllTime(f, Bytes(1e9), Bytes(0.4e9), 64, 8).value(),
            AllToAllTime(f, Bytes(1e9), 64, 8).value())
      << "fewer bytes cross the network than the all-to-all's 56 of 64 shares";
  EXPECT_EQ(ForwardedAllToAllTime(f, Bytes(1e9), Bytes(0.4e9), 1, 8).value(), 0);
}

TEST(CollectivesTest, PointToPointLatency) {
  EXPECT_NEAR(PointToPointTime(Node(231.6), Bytes(8), false).value(), 7.2 * kUs, 0.01 * kUs);
  EXPECT_NEAR(PointToPointTime(Node(231.6), Bytes(8), true).value(), 9.3 * kUs, 0.01 * kUs);
}

TEST(CollectivesTest, TimeGrowsWithSizeAndGroup) {
  const Fabric f = Node(231.6);
  double last = 0;
  for (double bytes = 8; bytes < 4e9; bytes *= 2) {
    const double t = AllReduceTime(f, Bytes(bytes), 16, 8).value();
    EXPECT_GE(t, last) << bytes;
    last = t;
  }
  EXPECT_LT(AllReduceTime(f, Bytes(64e6), 8, 8).value(), AllReduceTime(f, Bytes(64e6), 64, 8).value());
  EXPECT_EQ(AllReduceTime(f, Bytes(64e6), 1, 1).value(), 0);
}

// NVLS lifts the H100's all-reduce bus bandwidth (478.9 GB/s) above its 450 GB/s NVLink rate; a
// reduce-scatter or all-gather ring is held to the link rate.
TEST(CollectivesTest, RingCollectivesStayBelowTheLinkRate) {
  StatusOr<HardwareSpec> h = Catalog::Default().Hardware("h100-sxm-80gb");
  ASSERT_TRUE(h.ok()) << h.status().message();
  ClusterOverrides o;
  o.devices = 8;
  StatusOr<Cluster> c = BuildCluster(*h, o, "test");
  ASSERT_TRUE(c.ok());
  std::vector<std::string> warnings;
  const Fabric f = FabricFromCluster(*c, &warnings);
  EXPECT_DOUBLE_EQ(f.scale_up_busbw.value(), 478.9e9);
  EXPECT_DOUBLE_EQ(f.scale_up_ring_busbw.value(), 450e9);
  EXPECT_DOUBLE_EQ(f.scale_up_link.value(), 450e9);
  const double expected = 8.4 * kUs + 7 * 3.4 * kUs + 1e9 * 7.0 / 8.0 / 450e9;
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(1e9), 8, 8).value(), expected, 1e-9);
}


TEST(CollectivesTest, MeasuredCurvesReplaceTheModelForTheGroupsTheyCover) {
  Fabric f = Node(231.6);
  auto table = std::make_shared<CollectiveTable>();
  // 32 MB all-reduce over one node of 8 in 377.6 µs (busbw 155.5 GB/s, not the model's 231.6).
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{16777216, 213.3}, {33554432, 377.6}}}).ok());
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllGather, 8, 8, {{{16777216, 100}, {33554432, 180}}}).ok());
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllToAll, 8, 8, {{{16777216, 90}, {33554432, 170}}}).ok());
  const double modelled = AllReduceTime(f, Bytes(33554432), 8, 8).value();
  f.measured = table;
  EXPECT_NEAR(AllReduceTime(f, Bytes(33554432), 8, 8).value(), 377.6 * kUs, 1e-12);
  EXPECT_GT(AllReduceTime(f, Bytes(33554432), 8, 8).value(), modelled * 1.2);
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(33554432), 8, 8).value(), 180 * kUs, 1e-12);
  EXPECT_NEAR(AllToAllTime(f, Bytes(16777216), 8, 8).value(), 90 * kUs, 1e-12);
  // Groups the table does not cover keep the α-β model.
  f.measured = nullptr;
  const double four = AllReduceTime(f, Bytes(33554432), 4, 4).value();
  const double sixteen = AllReduceTime(f, Bytes(33554432), 16, 8).value();
  f.measured = table;
  EXPECT_DOUBLE_EQ(AllReduceTime(f, Bytes(33554432), 4, 4).value(), four);
  EXPECT_DOUBLE_EQ(AllReduceTime(f, Bytes(33554432), 16, 8).value(), sixteen);
}

// With only an all-reduce curve (all_reduce_perf is what most clusters measure), reduce-scatter and
// all-gather over that group take half of it: a ring all-reduce is one pass of each.
TEST(CollectivesTest, AnAllReduceCurveAloneTimesTheRingPassesAtHalfOfIt) {
  Fabric f = Node(231.6);
  auto table = std::make_shared<CollectiveTable>();
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1048576, 92.8}, {33554432, 377.6}}}).ok());
  f.measured = table;
  EXPECT_NEAR(AllGatherTime(f, Bytes(1048576), 8, 8).value(), 46.4 * kUs, 1e-12);
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(33554432), 8, 8).value(), 188.8 * kUs, 1e-12);
  // An all-gather curve, where there is one, comes first.
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllGather, 8, 8, {{{1048576, 30}, {33554432, 150}}}).ok());
  EXPECT_NEAR(AllGatherTime(f, Bytes(1048576), 8, 8).value(), 30 * kUs, 1e-12);
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(33554432), 8, 8).value(), 150 * kUs, 1e-12);
}

// An all-reduce done in the switch (NVLS) can beat twice a ring pass; a reduce-scatter or
// all-gather taken as half of it is still held to moving (n-1)/n of the buffer at the link rate,
// where the catalog knows it (the NVLink rate on an H100: 450 GB/s against NVLS's 478.9).
TEST(CollectivesTest, HalfAMeasuredAllReduceIsHeldToTheLinkRate) {
  Fabric f = Node(478.9);
  f.scale_up_ring_busbw = BytesPerSecond::GBps(450);
  auto table = std::make_shared<CollectiveTable>();
  // 1.75 x 1 GB at 478.9 GB/s: 3.654 ms, half of it 1.827 ms; the ring pass takes 0.875 GB / 450 GB/s.
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1e6, 40}, {1e9, 3654.2}}}).ok());
  f.measured = table;
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(1e9), 8, 8).value(), 1.827e-3, 1e-6);  // no link rate known: half
  f.scale_up_link = BytesPerSecond::GBps(450);
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(1e9), 8, 8).value(), 0.875e9 / 450e9, 1e-12);
  EXPECT_NEAR(AllGatherTime(f, Bytes(1e6), 8, 8).value(), 20 * kUs, 1e-12);  // half the curve, above the bound
  // Across domains the pass is hierarchical and the link floor does not apply.
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 16, 8, {{{1e6, 40}, {1e9, 3654.2}}}).ok());
  EXPECT_NEAR(ReduceScatterTime(f, Bytes(1e9), 16, 8).value(), 1.827e-3, 1e-6);
}

// Past a curve's largest row the time runs on at the curve's marginal rate over its last doubling,
// held between that row's own rate and the larger of it and the model's: a curve measured only to
// 1 MiB (Azure ND A100 v4's 512 KiB and 1 MiB rows) timed 32 MiB at the 1 MiB row's rate, 1,621 µs,
// 3.7 times the 442 µs that the same source measured at 32 MiB.
TEST(CollectivesTest, PastTheLargestRowACurveRunsOnAtItsMarginalRate) {
  Fabric f = Node(231.6);
  const Bytes mib(1048576), big(33554432);
  const double model_extra = (AllReduceTime(f, big, 8, 8) - AllReduceTime(f, mib, 8, 8)).value();
  auto table = std::make_shared<CollectiveTable>();
  // Still latency-bound: 3 µs for the last 512 KiB is faster than the fabric, which caps it.
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{524288, 47.7}, {1048576, 50.7}}}).ok());
  f.measured = table;
  EXPECT_NEAR(AllReduceTime(f, big, 8, 8).value(), 50.7 * kUs + model_extra, 1e-12);
  EXPECT_NEAR(AllReduceTime(f, mib, 8, 8).value(), 50.7 * kUs, 1e-12);  // the row itself, as measured
  // Half of it for a ring pass, as below the row.
  EXPECT_NEAR(ReduceScatterTime(f, big, 8, 8).value(), (50.7 * kUs + model_extra) / 2, 1e-12);

  // A last doubling that took no longer (the latency-bound sizes of a real nccl-tests curve, whose
  // 512 KiB and 1 MiB all-reduces take about the same time): on at the fabric's rate too.
  auto latency = std::make_shared<CollectiveTable>();
  ASSERT_TRUE(latency->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{524288, 50}, {1048576, 49}}}).ok());
  f.measured = latency;
  EXPECT_NEAR(AllReduceTime(f, big, 8, 8).value(), 49 * kUs + model_extra, 1e-12);
  // A curve slower than the fabric (about 11 µs a MiB here) whose last doubling runs at 30 µs a
  // MiB, faster than its row's 45: on at 30.
  auto slow = std::make_shared<CollectiveTable>();
  ASSERT_TRUE(slow->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{524288, 30}, {1048576, 45}}}).ok());
  f.measured = slow;
  EXPECT_NEAR(AllReduceTime(f, Bytes(2 * 1048576), 8, 8).value(), 75 * kUs, 1e-12);
  // A curve saturated at its largest row (time proportional to size) runs on at that row's rate,
  // even where the model is faster: 100 GB/s bus bandwidth, not 231.6.
  auto flat = std::make_shared<CollectiveTable>();
  ASSERT_TRUE(flat->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{5e8, 8750}, {1e9, 17500}}}).ok());
  f.measured = flat;
  EXPECT_NEAR(AllReduceTime(f, Bytes(2e9), 8, 8).value(), 35000 * kUs, 1e-9);
  // A curve faster than the model keeps its own rate: the model never slows it down.
  auto fast = std::make_shared<CollectiveTable>();
  ASSERT_TRUE(fast->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{5e8, 2900}, {1e9, 5800}}}).ok());
  f.measured = fast;
  EXPECT_NEAR(AllReduceTime(f, Bytes(2e9), 8, 8).value(), 11600 * kUs, 1e-9);
}

// For the search's bound, past the largest row: never above the bytes at the best rate the curve
// reached, which a curve that dips reached below its largest row.
TEST(CollectivesTest, PastTheLargestRowTheBoundKeepsTheBestRate) {
  Fabric f = Node(231.6);
  auto table = std::make_shared<CollectiveTable>();
  ASSERT_TRUE(table->AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1e6, 10}, {2e6, 40}}}).ok());
  f.measured = table;
  const double t = AllReduceTime(f, Bytes(4e6), 8, 8).value();
  EXPECT_NEAR(t, 80 * kUs, 1e-12);  // 40 µs on at the row's rate (the last doubling ran slower)
  f.measured_as_bound = true;
  EXPECT_NEAR(AllReduceTime(f, Bytes(4e6), 8, 8).value(), 40 * kUs, 1e-12);  // 4 MB at 1 MB's rate
}

}  // namespace
}  // namespace preflight
