#include "preflight/search/mpi_search.h"

#include <mpi.h>

#include <algorithm>
#include <cstdlib>
#include <type_traits>

namespace preflight {

static_assert(std::is_trivially_copyable_v<RankedPlan>, "RankedPlan travels as bytes");

MpiSession::MpiSession(int* argc, char*** argv) {
  const bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr ||
                        std::getenv("PMI_SIZE") != nullptr || std::getenv("PMIX_RANK") != nullptr;
  if (!launched) return;
  MPI_Init(argc, argv);
  active_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  if (active_) MPI_Finalize();
}

SearchResult DistributedSearch(const Scenario& s, const SearchConstraints& c, SearchOptions o,
                               const MpiSession& mpi) {
  o.rank = mpi.rank();
  o.ranks = mpi.size();
  SearchResult mine = Search(s, c, o);
  if (!mpi.active() || mpi.size() == 1) return mine;

  // Counts: one array of int64 per rank, summed on rank 0.
  int64_t counts[3 + kNumRejectReasons];
  counts[0] = mine.considered, counts[1] = mine.valid, counts[2] = mine.model_evaluations;
  for (int i = 0; i < kNumRejectReasons; ++i) counts[3 + i] = mine.rejected[i];
  int64_t total[3 + kNumRejectReasons] = {};
  MPI_Reduce(counts, total, 3 + kNumRejectReasons, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);

  // Top K: a fixed-size block per rank, padded, with the number of valid entries.
  std::vector<RankedPlan> block(o.top_k);
  int n = static_cast<int>(mine.top.size());
  for (int i = 0; i < n; ++i) block[i] = mine.top[i];
  std::vector<int> sizes(mpi.size());
  MPI_Gather(&n, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::vector<RankedPlan> all(static_cast<size_t>(o.top_k) * mpi.size());
  const int bytes = static_cast<int>(sizeof(RankedPlan)) * o.top_k;
  MPI_Gather(block.data(), bytes, MPI_BYTE, all.data(), bytes, MPI_BYTE, 0, MPI_COMM_WORLD);
  double elapsed = mine.elapsed_s, slowest = 0;
  MPI_Reduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  if (mpi.rank() != 0) return mine;

  SearchResult merged;
  merged.considered = total[0], merged.valid = total[1], merged.model_evaluations = total[2];
  for (int i = 0; i < kNumRejectReasons; ++i) merged.rejected[i] = total[3 + i];
  for (int r = 0; r < mpi.size(); ++r) {
    for (int i = 0; i < sizes[r]; ++i) merged.top.push_back(all[static_cast<size_t>(r) * o.top_k + i]);
  }
  KeepTop(&merged.top, o.top_k, o.distinct);
  merged.elapsed_s = slowest;
  return merged;
}

}  // namespace preflight
