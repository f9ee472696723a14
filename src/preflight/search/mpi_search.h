// File: search/mpi_search.h
//
// The same search split across MPI ranks (OpenMPI): each rank takes every ranks-th branch,
// rank 0 gathers the counts and the top K and merges them exactly as threads are merged, so
// the answer equals the single-process one.
//
//   MpiSession mpi(&argc, &argv);          // MPI_Init only when launched by mpirun
//   SearchResult r = DistributedSearch(scenario, constraints, options, mpi);
//   if (mpi.rank() == 0) print(r);
#pragma once

#include "preflight/search/search.h"

namespace preflight {

class MpiSession {
 public:
  // Initialises MPI when the process was started by an MPI launcher (OMPI/PMI environment).
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool active() const { return active_; }

 private:
  bool active_ = false;
  int rank_ = 0;
  int size_ = 1;
};

// Runs this rank's share and combines all ranks' results on rank 0 (others get their own part).
SearchResult DistributedSearch(const Scenario& s, const SearchConstraints& c, SearchOptions o,
                               const MpiSession& mpi);

}  // namespace preflight
