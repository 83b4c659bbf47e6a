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
#include "metrics/histogram.h"

namespace sluice::upstream {

struct ClusterCounters {
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> queueFull{0};
  std::atomic<uint64_t> queueTimeout{0};
  std::atomic<uint64_t> noHealthyBackend{0};
  std::atomic<uint64_t> reuses{0};
  metrics::Histogram connectDuration;  // successful upstream connects
  metrics::Histogram poolWait;         // queued sessions: enqueue to grant or timeout
  // http: requests served by an upstream connection, observed when it closes.
  metrics::Histogram requestsPerConnection{metrics::Histogram::countBounds(), 1};
};

class Cluster {
 public:
  // `backends` are the resolved addresses (a DNS name may give several).
  // `config` points into `snapshot`, which the cluster keeps alive.
  // `previous` (a reload, same name): its counters and admission queue carry
  // over, the queue re-pointed at `backends`, so sessions queued or holding
  // slots under the old snapshot and new ones share one FIFO.
  Cluster(config::ConfigPtr snapshot, const config::Cluster& config,
          std::vector<std::shared_ptr<Backend>> backends, const Cluster* previous = nullptr);

  const std::string& name() const { return config_.name; }
  const config::Cluster& config() const { return config_; }
  const std::vector<std::shared_ptr<Backend>>& backends() const { return backends_; }
  const std::shared_ptr<Admission>& admission() const { return admission_; }

  // Index into backends() of the ring point that owns `hash` (hash_client_ip).
  // Walks on past unavailable backends; -1 when none is available.
  int ringLookup(uint64_t hash, int64_t nowMs) const;
  bool anyAvailable(int64_t nowMs) const;

 private:
  std::shared_ptr<ClusterCounters> countersOwner_;

 public:
  ClusterCounters& counters;  // shared with the previous and next snapshot

 private:
  const config::ConfigPtr snapshot_;
  const config::Cluster& config_;
  std::vector<std::shared_ptr<Backend>> backends_;
  std::shared_ptr<Admission> admission_;
  std::vector<std::pair<uint64_t, int>> ring_;  // (point, backend index), sorted
};

}  // namespace sluice::upstream
