#pragma once

// Cluster: the runtime side of one `clusters:` entry — its backends, its
// admission queue and the immutable consistent-hash ring.
//
// Owner: the Runtime snapshot (shared_ptr); sessions keep a reference for
// their lifetime so a reload never pulls a cluster from under them.
// Thread: any; everything mutable is inside Backend atomics or Admission.

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "upstream/admission.h"
#include "upstream/backend.h"

namespace sluice::upstream {

struct ClusterCounters {
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> queueFull{0};
  std::atomic<uint64_t> queueTimeout{0};
  std::atomic<uint64_t> noHealthyBackend{0};
  std::atomic<uint64_t> reuses{0};
};

class Cluster {
 public:
  // `backends` are the resolved addresses (a DNS name may give several).
  // `config` points into `snapshot`, which the cluster keeps alive.
  Cluster(config::ConfigPtr snapshot, const config::Cluster& config,
          std::vector<std::shared_ptr<Backend>> backends);

  const std::string& name() const { return config_.name; }
  const config::Cluster& config() const { return config_; }
  const std::vector<std::shared_ptr<Backend>>& backends() const { return backends_; }
  const std::shared_ptr<Admission>& admission() const { return admission_; }

  // Index into backends() of the ring point that owns `hash` (hash_client_ip).
  // Walks on past unavailable backends; -1 when none is available.
  int ringLookup(uint64_t hash, int64_t nowMs) const;
  bool anyAvailable(int64_t nowMs) const;

  ClusterCounters counters;

 private:
  const config::ConfigPtr snapshot_;
  const config::Cluster& config_;
  std::vector<std::shared_ptr<Backend>> backends_;
  std::shared_ptr<Admission> admission_;
  std::vector<std::pair<uint64_t, int>> ring_;  // (point, backend index), sorted
};

}  // namespace sluice::upstream
