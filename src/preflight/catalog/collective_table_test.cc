#include "preflight/catalog/collective_table.h"

#include <gtest/gtest.h>

#include <cmath>

#include "preflight/base/test_support.h"

namespace preflight {
namespace {

using test_support::ScratchDir;
using test_support::WriteFile;

// Two rows of nccl-tests 2.13 output (root column), as mpirun prints them, around header lines.
constexpr char kNcclTestsNew[] = R"(# nThread 1 nGpus 1 minBytes 1048576 maxBytes 4194304 step: 2(factor) warmup iters: 5 iters: 20
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
[1,0]<stdout>:     1048576        262144     float     sum      -1    40.00   26.21   45.88      0    39.00   26.89   47.05      0
[1,0]<stdout>:     4194304       1048576     float     sum      -1    80.00   52.43   91.75      0    79.00   53.09   92.91      0
# Avg bus bandwidth    : 68.8
)";

// An all_gather over 16 ranks (bus factor 15/16), nccl-tests 2.13 layout.
constexpr char kNcclTestsGather16[] = R"(#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
     1048576        262144     float    none      -1    40.00   26.21   24.57      0    39.00   26.89   25.21      0
     4194304       1048576     float    none      -1    80.00   52.43   49.15      0    79.00   53.09   49.77      0
)";

// The older layout without the root column.
constexpr char kNcclTestsOld[] = R"(       size         count    type   redop     time   algbw   busbw  error     time   algbw   busbw  error
          32             8   float     sum    25.10    0.00    0.00  0e+00    24.90    0.00    0.00  0e+00
     1048576        262144   float     sum    30.00   34.95   61.17  0e+00    29.00   36.16   63.28  0e+00
)";

TEST(NcclTestsOutputTest, ReadsTheOutOfPlaceTimeWithAndWithoutTheRootColumn) {
  auto fresh = ParseNcclTestsOutput(kNcclTestsNew, "new.txt");
  ASSERT_TRUE(fresh.ok()) << fresh.status().message();
  ASSERT_EQ(fresh->size(), 2u);
  EXPECT_DOUBLE_EQ((*fresh)[0][0], 1048576);
  EXPECT_DOUBLE_EQ((*fresh)[0][1], 40.0);
  EXPECT_DOUBLE_EQ((*fresh)[1][1], 80.0);
  auto old = ParseNcclTestsOutput(kNcclTestsOld, "old.txt");
  ASSERT_TRUE(old.ok()) << old.status().message();
  ASSERT_EQ(old->size(), 2u);
  EXPECT_DOUBLE_EQ((*old)[0][0], 32);
  EXPECT_DOUBLE_EQ((*old)[0][1], 25.10);
  EXPECT_DOUBLE_EQ((*old)[1][1], 30.0);
}

TEST(NcclTestsOutputTest, SrunPrefixesAreReadAndWrongResultsRefused) {
  const std::string srun =
      "0:     1048576        262144     float     sum      -1    40.00   26.21   45.88      0    39.00   26.89   47.05    N/A\n"
      "0:     4194304       1048576     float     sum      -1    80.00   52.43   91.75      0    79.00   53.09   92.91    N/A\n";
  auto rows = ParseNcclTestsOutput(srun, "srun.txt");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(rows->size(), 2u);
  const std::string wrong =
      "     1048576        262144     float     sum      -1    40.00   26.21   45.88      3    39.00   26.89   47.05      0\n"
      "     4194304       1048576     float     sum      -1    80.00   52.43   91.75      0    79.00   53.09   92.91      0\n";
  auto bad = ParseNcclTestsOutput(wrong, "wrong.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("wrong.txt"), std::string::npos);
  EXPECT_NE(bad.status().message().find("3 wrong"), std::string::npos) << bad.status().message();
  // nccl-tests prints the count with %6g: a million wrong reads 1e+06 (it passed as no whole number).
  const std::string million =
      "     1048576        262144     float     sum      -1    40.00   26.21   45.88  1e+06    39.00   26.89   47.05      0\n"
      "     4194304       1048576     float     sum      -1    80.00   52.43   91.75      0    79.00   53.09   92.91      0\n";
  auto many = ParseNcclTestsOutput(million, "million.txt");
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.status().message().find("1e+06 wrong"), std::string::npos) << many.status().message();
}

// A result row whose time is not a positive number is damaged output: skipping it would change
// the curve without a word.
TEST(NcclTestsOutputTest, AResultRowWithoutAPositiveTimeIsAnError) {
  for (const char* time : {"nan", "-213.3", "0", "x"}) {
    const std::string text =
        std::string("     1048576        262144     float     sum      -1    40.00   26.21   45.88      0    39.00   26.89   47.05      0\n"
                    "     4194304       1048576     float     sum      -1    ") +
        time + "   52.43   91.75      0    79.00   53.09   92.91      0\n";
    auto rows = ParseNcclTestsOutput(text, "damaged.txt");
    ASSERT_FALSE(rows.ok()) << time;
    EXPECT_NE(rows.status().message().find("damaged.txt: expected a positive time in microseconds in the row of 4194304 "
                                           "bytes, got '" + std::string(time) + "'"),
              std::string::npos)
        << rows.status().message();
  }
}

// A line that starts like a result row and is not one (a negative, fractional or suffixed size,
// a row cut short) is damaged output too; launcher and log lines, a lone number and the 0-byte
// rows a small -b gives gathers are not rows.
TEST(NcclTestsOutputTest, ALineThatStartsLikeAResultRowMustBeOne) {
  const std::string good = "     1048576        262144     float     sum      -1    40.00   26.21   45.88      0    39.00   26.89   47.05      0\n";
  for (const char* row : {"  -1024   256  float  sum  -1  23.45 0.04 0.08 0  23.10 0.04 0.08 0",
                          "  1024x   256  float  sum  -1  23.45 0.04 0.08 0  23.10 0.04 0.08 0",
                          "  1024.5  256  float  sum  -1  23.45 0.04 0.08 0  23.10 0.04 0.08 0",
                          "  1e99    256  float  sum  -1  23.45 0.04 0.08 0  23.10 0.04 0.08 0",
                          "  1024    256  float  sum  -1  23.45", "  1024    256  float"}) {
    auto rows = ParseNcclTestsOutput(good + row + "\n" + good, "damaged.txt");
    ASSERT_FALSE(rows.ok()) << row;
    EXPECT_NE(rows.status().message().find("damaged.txt: expected a result row"), std::string::npos)
        << rows.status().message();
  }
  const std::string noise =
      "--------------------------------------------------------------------------\n"
      "node7:4242:4242 [0] NCCL INFO Bootstrap : Using eth0:10.0.0.7<0>\n"
      "10-0-0-7:4242:4242 [0] NCCL INFO NET/IB : No device found.\n"
      "2024-05-01 12:00:00 launcher started\n"
      "0\n"  // an echoed exit code
      "           0             0     float    none      -1     0.33    0.00    0.00      0     0.30    0.00    0.00    N/A\n"
      "       size         count    type   redop     time   algbw   busbw  error     time   algbw   busbw  error\n";
  auto rows = ParseNcclTestsOutput(noise + good + std::string(kNcclTestsOld), "noisy.txt");
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  EXPECT_EQ(rows->size(), 3u);
}

TEST(NcclTestsOutputTest, TextWithoutResultRowsIsAnError) {
  auto rows = ParseNcclTestsOutput("# nThread 1 nGpus 1\n# Avg bus bandwidth : 0\n", "empty.txt");
  ASSERT_FALSE(rows.ok());
  EXPECT_NE(rows.status().message().find("empty.txt"), std::string::npos);
}

CollectiveTable TwoPointAllReduce() {
  CollectiveTable t;
  // 1 MB in 40 µs, 4 MB in 80 µs (8 ranks, one domain).
  EXPECT_TRUE(t.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{4194304, 80}, {1048576, 40}}}).ok());
  return t;
}

TEST(CollectiveTableTest, InterpolatesInLogLogAndExtendsByTheEdgeRows) {
  const CollectiveTable t = TwoPointAllReduce();
  // Measured points are returned exactly.
  EXPECT_NEAR(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(1048576))->value(), 40e-6, 1e-12);
  EXPECT_NEAR(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(4194304))->value(), 80e-6, 1e-12);
  // Halfway in log(size) is the geometric mean of the times: 2 MB -> sqrt(40 * 80) µs.
  EXPECT_NEAR(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(2097152))->value(), std::sqrt(40.0 * 80.0) * 1e-6, 1e-12);
  // Below the smallest size: never faster than the smallest measured collective.
  EXPECT_NEAR(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(8))->value(), 40e-6, 1e-12);
  // Above the largest: the largest row's bandwidth (twice the bytes, twice the time).
  EXPECT_NEAR(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(8388608))->value(), 160e-6, 1e-12);
}

// The largest row and the curve's last doubling, from which the step model runs on past it.
TEST(CollectiveTableTest, TheLargestRowAndTheLastDoubling) {
  const CollectiveTable t = TwoPointAllReduce();
  auto e = t.LargestRow(CollectiveOp::kAllReduce, 8, 8);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->bytes.value(), 4194304);
  EXPECT_NEAR(e->time.value(), 80e-6, 1e-12);
  EXPECT_EQ(e->span_bytes.value(), 2097152);  // from 2 MB, half the row
  EXPECT_NEAR(e->span_time.value(), (80 - std::sqrt(40.0 * 80.0)) * 1e-6, 1e-12);
  EXPECT_NEAR(e->best_time.value(), 80e-6, 1e-12);
  EXPECT_FALSE(t.LargestRow(CollectiveOp::kAllGather, 8, 8).has_value());
  // A curve spanning less than a doubling: from its smallest row.
  CollectiveTable short_curve;
  ASSERT_TRUE(short_curve.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{3e6, 60}, {4e6, 70}}}).ok());
  auto s = short_curve.LargestRow(CollectiveOp::kAllReduce, 8, 8);
  EXPECT_EQ(s->span_bytes.value(), 1e6);
  EXPECT_NEAR(s->span_time.value(), 10e-6, 1e-12);
}

TEST(CollectiveTableTest, SizesThatAreNotPositiveNumbersHaveNoTime) {
  const CollectiveTable t = TwoPointAllReduce();
  EXPECT_FALSE(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(0)).has_value());
  EXPECT_FALSE(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(std::nan(""))).has_value());
  EXPECT_FALSE(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(-1)).has_value());
  EXPECT_NEAR(t.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(1e30))->value(), 80e-6 * 1e30 / 4194304, 1e12);
}

TEST(CollectiveTableTest, AppliesOnlyToTheMeasuredGroup) {
  const CollectiveTable t = TwoPointAllReduce();
  EXPECT_FALSE(t.Time(CollectiveOp::kAllReduce, 4, 4, Bytes(1048576)).has_value());
  EXPECT_FALSE(t.Time(CollectiveOp::kAllReduce, 8, 4, Bytes(1048576)).has_value());
  EXPECT_FALSE(t.Time(CollectiveOp::kAllGather, 8, 8, Bytes(1048576)).has_value());
  // A per-domain count above the group size means the whole group shares one domain.
  EXPECT_TRUE(t.Time(CollectiveOp::kAllReduce, 8, 72, Bytes(1048576)).has_value());
}

TEST(CollectiveTableTest, RejectsMalformedCurves) {
  CollectiveTable t;
  EXPECT_FALSE(t.AddCurve(CollectiveOp::kAllReduce, 1, 1, {{{1, 1}, {2, 2}}}).ok());
  EXPECT_FALSE(t.AddCurve(CollectiveOp::kAllReduce, 8, 3, {{{1, 1}, {2, 2}}}).ok());
  EXPECT_FALSE(t.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1, 1}}}).ok());
  EXPECT_FALSE(t.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1, 1}, {1, 2}}}).ok());
  EXPECT_FALSE(t.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1, 0}, {2, 2}}}).ok());
  EXPECT_TRUE(t.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1, 1}, {2, 2}}}).ok());
  EXPECT_FALSE(t.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{4, 1}, {8, 2}}}).ok());  // same group twice
}

TEST(CollectiveTableTest, LoadsInlineRowsAndNcclTestsOutputBesideTheFile) {
  const std::string dir = ScratchDir("preflight_collectives_");
  WriteFile(dir, "ag.txt", kNcclTestsGather16);
  const std::string path = WriteFile(dir, "node.yaml",
                                     "source: \"nccl-tests on a test node\"\n"
                                     "collectives:\n"
                                     "  - {op: all_reduce, ranks: 8, rows: [[1048576, 30], [4194304, 60]]}\n"
                                     "  - {op: all_gather, ranks: 16, ranks_per_domain: 8, nccl_tests: ag.txt}\n");
  auto t = LoadCollectiveTable(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->source, "nccl-tests on a test node");
  EXPECT_NEAR(t->Time(CollectiveOp::kAllReduce, 8, 8, Bytes(4194304))->value(), 60e-6, 1e-12);
  EXPECT_NEAR(t->Time(CollectiveOp::kAllGather, 16, 8, Bytes(4194304))->value(), 80e-6, 1e-12);
}

// Vendors publish bus bandwidth by size; busbw_rows turns it into times with nccl-tests' factors
// (all-reduce 2(n-1)/n, the others (n-1)/n), and the table keeps the hardware it names.
TEST(CollectiveTableTest, BusBandwidthRowsBecomeTimes) {
  const std::string dir = ScratchDir("preflight_collectives_");
  const std::string path = WriteFile(dir, "vendor.yaml",
                                     "hardware: a100-sxm-80gb\n"
                                     "source: \"a vendor's table\"\n"
                                     "collectives:\n"
                                     "  - {op: all_reduce, ranks: 8, busbw_rows: [[1000000000, 175], [2000000000, 200]]}\n"
                                     "  - {op: all_gather, ranks: 4, busbw_rows: [[1000000000, 150], [2000000000, 160]]}\n");
  auto t = LoadCollectiveTable(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->hardware, "a100-sxm-80gb");
  // 1.75 x 1 GB / 175 GB/s = 10 ms; 0.75 x 1 GB / 150 GB/s = 5 ms.
  EXPECT_NEAR(t->Time(CollectiveOp::kAllReduce, 8, 8, Bytes(1e9))->value(), 10e-3, 1e-12);
  EXPECT_NEAR(t->Time(CollectiveOp::kAllGather, 4, 4, Bytes(1e9))->value(), 5e-3, 1e-12);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(CollectiveOp::kReduceScatter, 8), 7.0 / 8.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(CollectiveOp::kAllToAll, 4), 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(BusBandwidthFactor(CollectiveOp::kAllReduce, 2), 1.0);

  const std::string both = WriteFile(dir, "both.yaml",
                                     "source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1, 2], [2, 3]], "
                                     "busbw_rows: [[1, 2], [2, 3]]}]\n");
  auto bad = LoadCollectiveTable(both);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(both + ": collectives[0]: expected only one of rows, busbw_rows or nccl_tests"),
            std::string::npos)
      << bad.status().message();
  for (const char* rate : {"0", "-5", "1e-320"}) {
    const std::string zero = WriteFile(dir, "zero.yaml",
                                       std::string("source: x\ncollectives: [{op: all_reduce, ranks: 8, busbw_rows: [[1, 2], [2, ") +
                                           rate + "]]}]\n");
    auto z = LoadCollectiveTable(zero);
    ASSERT_FALSE(z.ok()) << rate;
    EXPECT_NE(z.status().message().find(zero + ": collectives[0].busbw_rows[1]: expected a whole number of bytes from 1 to "
                                               "2^50 and a bus bandwidth from 1e-3 to 1e6 GB/s"),
              std::string::npos)
        << z.status().message();
  }
}

// The search's bound times one collective of a step's whole volume: at the best rate the curve
// reaches up to that size, which is the curve's own time where the rate keeps rising and below it
// past a dip (measured noise).
TEST(CollectiveTableTest, TimeAtBestRateNeverExceedsManySmallerCollectives) {
  CollectiveTable rising;
  ASSERT_TRUE(rising.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1e6, 50}, {4e6, 100}, {16e6, 200}}}).ok());
  for (double bytes : {2e6, 16e6, 64e6}) {
    EXPECT_NEAR(rising.TimeAtBestRate(CollectiveOp::kAllReduce, 8, 8, Bytes(bytes))->value(),
                rising.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(bytes))->value(), 1e-15);
  }
  CollectiveTable dipping;  // 80 GB/s at 4 MB, 32 GB/s at 16 MB
  ASSERT_TRUE(dipping.AddCurve(CollectiveOp::kAllReduce, 8, 8, {{{1e6, 50}, {4e6, 50}, {16e6, 500}}}).ok());
  const double at_16 = dipping.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(16e6))->value();
  const double bound = dipping.TimeAtBestRate(CollectiveOp::kAllReduce, 8, 8, Bytes(16e6))->value();
  EXPECT_NEAR(bound, 16e6 / 80e9, 1e-12);                                        // 4 MB's rate
  EXPECT_LE(bound, 4 * dipping.Time(CollectiveOp::kAllReduce, 8, 8, Bytes(4e6))->value() + 1e-15);
  EXPECT_LT(bound, at_16);
  // Below the first row a collective takes that row's time, so its rate only grows with size.
  EXPECT_NEAR(dipping.TimeAtBestRate(CollectiveOp::kAllReduce, 8, 8, Bytes(5e5))->value(), 50e-6, 1e-15);
  EXPECT_FALSE(dipping.TimeAtBestRate(CollectiveOp::kAllReduce, 4, 4, Bytes(16e6)).has_value());
}

// An nccl-tests output whose header lists its ranks must list as many as the entry declares: an
// 8-rank run declared as 16 ranks loaded, its times read as a 16-rank curve's.
TEST(CollectiveTableTest, TheRanksAnOutputListsMustBeTheEntrys) {
  const std::string dir = ScratchDir("preflight_collectives_ranks_");
  std::string header;
  for (int r = 0; r < 8; ++r) {
    const std::string n = std::to_string(r);
    header.append("#  Rank  ").append(n).append(" Group  0 Pid 1234 on node1 device  ").append(n);
    header.append(" [0x18] NVIDIA H100 80GB HBM3\n");
  }
  WriteFile(dir, "ar8.txt", header + kNcclTestsNew);
  auto table = [&](int ranks) {
    std::string text = "source: x\ncollectives:\n  - {op: all_reduce, ranks: ";
    text.append(std::to_string(ranks)).append(", ranks_per_domain: 8, nccl_tests: ar8.txt}\n");
    return LoadCollectiveTable(WriteFile(dir, std::to_string(ranks) + "-ranks.yaml", text));
  };
  ASSERT_TRUE(table(8).ok()) << table(8).status().message();
  auto sixteen = table(16);
  ASSERT_FALSE(sixteen.ok());
  EXPECT_NE(sixteen.status().message().find("collectives[0].ranks: expected the ranks its nccl-tests output lists (8 in "),
            std::string::npos)
      << sixteen.status().message();
}

// An nccl-tests output shows its collective and group in busbw / algbw: an all_gather run declared
// as an all_reduce, or an 8-rank all-reduce declared as 16 ranks without a header listing its
// ranks, loaded as a curve of what it was not.
TEST(CollectiveTableTest, TheOpAndRanksMustGiveTheOutputsBusFactor) {
  const std::string dir = ScratchDir("preflight_collectives_op_");
  WriteFile(dir, "ag16.txt", kNcclTestsGather16);
  WriteFile(dir, "ar8.txt", kNcclTestsNew);
  WriteFile(dir, "slow.txt",  // no row of 1 GB/s: nothing to compare
            "        1024           256     float    none      -1    30.00    0.03    0.03      0    30.00    0.03    0.03      0\n"
            "        2048           512     float    none      -1    31.00    0.07    0.06      0    31.00    0.07    0.06      0\n");
  auto load = [&](const std::string& entry) {
    return LoadCollectiveTable(WriteFile(dir, "t.yaml", "source: x\ncollectives:\n  - " + entry + "\n"));
  };
  for (const char* good : {"{op: all_gather, ranks: 16, nccl_tests: ag16.txt}",
                           "{op: reduce_scatter, ranks: 16, ranks_per_domain: 8, nccl_tests: ag16.txt}",
                           "{op: all_reduce, ranks: 8, nccl_tests: ar8.txt}",
                           "{op: all_reduce, ranks: 64, nccl_tests: slow.txt}"}) {
    auto t = load(good);
    EXPECT_TRUE(t.ok()) << good << ": " << t.status().message();
  }
  for (const char* bad : {"{op: all_reduce, ranks: 16, nccl_tests: ag16.txt}",
                          "{op: all_gather, ranks: 8, nccl_tests: ag16.txt}",
                          "{op: all_gather, ranks: 8, nccl_tests: ar8.txt}",
                          "{op: all_reduce, ranks: 16, nccl_tests: ar8.txt}"}) {
    auto t = load(bad);
    ASSERT_FALSE(t.ok()) << bad;
    EXPECT_NE(t.status().message().find("collectives[0].op: expected an op and ranks whose bus factor"),
              std::string::npos)
        << t.status().message();
  }
  auto shown = load("{op: all_gather, ranks: 8, nccl_tests: ar8.txt}");
  EXPECT_NE(shown.status().message().find("(busbw / algbw 1.75 in "), std::string::npos) << shown.status().message();
  EXPECT_NE(shown.status().message().find("got all_gather over 8 ranks (0.875)"), std::string::npos)
      << shown.status().message();
}

// A table loaded again is read again when it or the nccl-tests output it names has changed.
TEST(CollectiveTableTest, ALoadedTableIsReadAgainWhenItsFilesChange) {
  const std::string dir = ScratchDir("preflight_collectives_");
  WriteFile(dir, "ar.txt", kNcclTestsNew);
  auto write_table = [&](int us) {
    return WriteFile(dir, "node.yaml",
                     "source: \"nccl-tests on a test node\"\n"
                     "collectives:\n"
                     "  - {op: all_reduce, ranks: 8, rows: [[1048576, " + std::to_string(us) + "], [4194304, 60]]}\n"
                     "  - {op: all_reduce, ranks: 8, ranks_per_domain: 4, nccl_tests: ar.txt}\n");
  };
  const std::string path = write_table(30);
  auto first = LoadCollectiveTable(path);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_NEAR(first->Time(CollectiveOp::kAllReduce, 8, 8, Bytes(1048576))->value(), 30e-6, 1e-12);

  write_table(35);
  auto second = LoadCollectiveTable(path);
  ASSERT_TRUE(second.ok()) << second.status().message();
  EXPECT_NEAR(second->Time(CollectiveOp::kAllReduce, 8, 8, Bytes(1048576))->value(), 35e-6, 1e-12);

  WriteFile(dir, "ar.txt", kNcclTestsOld);
  auto third = LoadCollectiveTable(path);
  ASSERT_TRUE(third.ok()) << third.status().message();
  EXPECT_NEAR(third->Time(CollectiveOp::kAllReduce, 8, 4, Bytes(1048576))->value(), 30e-6, 1e-12);

  WriteFile(dir, "ar.txt", "no result rows\n");
  EXPECT_FALSE(LoadCollectiveTable(path).ok());
}

// A measured curve may dip as the message grows (a protocol switch, a slow row on a shared
// cluster): it loads, and is read as measured.
TEST(CollectiveTableTest, ASlowRowBeforeAFastOneLoads) {
  const std::string dir = ScratchDir("preflight_collectives_spike_");
  const std::string path = WriteFile(
      dir, "spike.yaml", "source: x\ncollectives: [{op: all_reduce, ranks: 2, rows: [[1024, 30], [2048, 400], [4096, 31]]}]\n");
  auto t = LoadCollectiveTable(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_NEAR(t->Time(CollectiveOp::kAllReduce, 2, 2, Bytes(2048))->value(), 400e-6, 1e-12);
}

// Each bad file gives one message naming the file and the field.
TEST(CollectiveTableTest, BadFilesNameTheFileAndField) {
  const std::string dir = ScratchDir("preflight_collectives_");
  struct Case {
    const char* text;
    const char* field;
  } cases[] = {
      {"collectives: [{op: all_reduce, ranks: 8, rows: [[1, 2], [2, 3]]}]\n", "source"},
      {"source: x\ncollectives: []\n", "collectives"},
      {"source: x\ncollectives: [{op: broadcast, ranks: 8, rows: [[1, 2], [2, 3]]}]\n", "collectives[0].op"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1, 2], [2, -3]]}]\n", "collectives[0].rows[1]"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1, 2, 3]]}]\n", "collectives[0].rows[0]"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8}]\n", "collectives[0].rows"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, nccl_tests: missing.txt}]\n", "collectives[0].nccl_tests"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1, 2], [2, 3]], colour: red}]\n", "colour"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 1, rows: [[1, 2], [2, 3]]}]\n", "collectives[0].ranks"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, ranks_per_domain: 3, rows: [[1, 2], [2, 3]]}]\n",
       "collectives[0].ranks_per_domain"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1e12, 2], [1e12, 3]]}]\n", "appears twice"},
      // A time past 1e9 µs would overflow a step into inf; one below 1e-3 µs vanishes into 0 s
      // (1e-320 µs did, and a plan then showed an MFU of 600%).
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1024, 1e300], [2048, 1e300]]}]\n", "collectives[0].rows[0]"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[1048576, 1e-320], [2048, 3]]}]\n",
       "collectives[0].rows[0]: expected a whole number of bytes from 1 to 2^50 and a time from 1e-3 to 1e9 "
       "microseconds"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[0.5, 2], [2048, 3]]}]\n", "collectives[0].rows[0]"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, rows: [[4096, 10], [1.5, 10]]}]\n", "collectives[0].rows[1]"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, busbw_rows: [[4096, 10], [1.5, 10]]}]\n",
       "collectives[0].busbw_rows[1]"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 8, busbw_rows: [[4096, 10], [1, 1e6]]}]\n",
       "collectives[0].busbw_rows[1]: expected a size and bus bandwidth whose time is from 1e-3 to 1e9 microseconds"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 2147483648, rows: [[1, 2], [2, 3]]}]\n",
       "collectives[0].ranks: expected a whole number from 2 to 2^24"},
      {"source: x\ncollectives: []\n", "collectives: expected a non-empty list"},
      // A rate no fabric reaches (a typo in a size or a time).
      {"source: x\ncollectives: [{op: all_reduce, ranks: 2, rows: [[1e12, 2], [2e12, 3]]}]\n",
       "collectives[0]: expected bus bandwidths of at most 1e6 GB/s (1000000000000 bytes in 2 microseconds"},
      {"source: x\ncollectives: [{op: all_reduce, ranks: 2, nccl_tests: fast.txt}]\n",
       "collectives[0]: expected bus bandwidths of at most 1e6 GB/s"},
  };
  WriteFile(dir, "fast.txt",
            "  1073741824     268435456   float     sum     0.01    0.00    0.00  0e+00     0.01    0.00    0.00  0e+00\n"
            "  2147483648     536870912   float     sum     0.02    0.00    0.00  0e+00     0.02    0.00    0.00  0e+00\n");
  for (const Case& c : cases) {
    const std::string path = WriteFile(dir, "bad.yaml", c.text);
    auto t = LoadCollectiveTable(path);
    ASSERT_FALSE(t.ok()) << c.text;
    EXPECT_NE(t.status().message().find(path), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(c.field), std::string::npos) << t.status().message();
  }
}

}  // namespace
}  // namespace preflight
