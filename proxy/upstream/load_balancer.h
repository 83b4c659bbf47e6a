#pragma once

// LoadBalancer: picks the backend for a new session or request.
//
// Owner: a Worker, one per cluster. Thread: that worker only — the cursors
// and the random generator are per worker, so picking takes no lock. The
// connection counts it compares (least_connections, random_two) are the
// backends' cross-worker atomics.
//
// The cluster's backend list may change (DNS discovery): pick() compares the
// cluster's generation with the one it cached (one atomic load) and, when it
// moved, takes the new Membership and restarts its round-robin state.

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "upstream/cluster.h"

namespace sluice::upstream {

class LoadBalancer {
 public:
  explicit LoadBalancer(std::shared_ptr<Cluster> cluster);

  // The best available backend not in `exclude`; null when there is none.
  std::shared_ptr<Backend> pick(uint64_t clientHash, const std::vector<const Backend*>& exclude);

  const std::shared_ptr<Cluster>& cluster() const { return cluster_; }

 private:
  void refresh();
  bool eligible(size_t index, int64_t nowMs, const std::vector<const Backend*>& exclude) const;
  int pickRoundRobin(int64_t nowMs, const std::vector<const Backend*>& exclude);
  int pickLeastConnections(int64_t nowMs, const std::vector<const Backend*>& exclude);
  int pickRandomTwo(int64_t nowMs, const std::vector<const Backend*>& exclude);

  std::shared_ptr<Cluster> cluster_;
  MembershipPtr membership_;  // the list the indexes below refer to
  uint64_t generation_ = 0;
  std::vector<int64_t> currentWeight_;  // smooth weighted round robin state
  std::minstd_rand random_;
};

}  // namespace sluice::upstream
