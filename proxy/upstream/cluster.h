#pragma once

// Cluster: the runtime side of one `clusters:` entry — its backends, its
// admission queue, its outlier detector and the consistent-hash ring.
//
// Owner: the Runtime snapshot (shared_ptr); sessions keep a reference for
// their lifetime so a reload never pulls a cluster from under them.
// Thread: any; everything mutable is inside Backend atomics, Admission,
// OutlierDetector or the membership below.
//
// Membership: the backend list can change at run time (DNS discovery). The
// list and its hash ring form one immutable Membership; setBackends() (main
// thread) builds a new one and swaps the pointer under `mutex_`, then bumps
// `generation_`. Readers on the data path compare the generation (one
// atomic load) with the one they cached and re-read the pointer only when
// it moved, so a pick takes no lock. A Backend object whose address stays
// is carried into the new list, so its slots, health and counters survive.

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "config/config.h"
#include "metrics/histogram.h"
#include "upstream/admission.h"
#include "upstream/backend.h"
#include "upstream/outlier.h"

namespace sluice::upstream {

using BackendList = std::vector<std::shared_ptr<Backend>>;

struct ClusterCounters {
  std::atomic<uint64_t> queued{0};
  std::atomic<uint64_t> queueFull{0};
  std::atomic<uint64_t> queueTimeout{0};
  std::atomic<uint64_t> noHealthyBackend{0};
  std::atomic<uint64_t> reuses{0};
  std::atomic<uint64_t> resolveOk{0};        // DNS refreshes that answered
  std::atomic<uint64_t> resolveFailures{0};  // ...that failed (last good set kept)
  metrics::Histogram connectDuration;        // successful upstream connects
  metrics::Histogram poolWait;               // queued sessions: enqueue to grant or timeout
  // http: requests served by an upstream connection, observed when it closes.
  metrics::Histogram requestsPerConnection{metrics::Histogram::countBounds(), 1};
};

// One immutable backend list and the hash ring over it.
class Membership {
 public:
  Membership(BackendList backends, bool buildRing);
  const BackendList& backends() const { return backends_; }
  // Index into backends() of the ring point that owns `hash` (hash_client_ip).
  // Walks on past unavailable backends; -1 when none is available.
  int ringLookup(uint64_t hash, int64_t nowMs) const;

 private:
  const BackendList backends_;
  std::vector<std::pair<uint64_t, int>> ring_;  // (point, backend index), sorted
};
using MembershipPtr = std::shared_ptr<const Membership>;

class Cluster {
 public:
  // `backends` are the resolved addresses (a DNS name may give several).
  // `config` points into `snapshot`, which the cluster keeps alive.
  // `previous` (a reload, same name): its counters and admission queue carry
  // over, the queue re-pointed at `backends`, so sessions queued or holding
  // slots under the old snapshot and new ones share one FIFO.
  Cluster(config::ConfigPtr snapshot, const config::Cluster& config, BackendList backends,
          const Cluster* previous = nullptr);
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  const std::string& name() const { return config_.name; }
  const config::Cluster& config() const { return config_; }
  // The current backends (a copy of the list; cheap, for the admin side).
  BackendList backends() const { return membership()->backends(); }
  MembershipPtr membership() const;
  uint64_t generation() const { return generation_.load(std::memory_order_acquire); }
  // Main thread: publishes a new backend list.
  void setBackends(BackendList backends);

  const std::shared_ptr<Admission>& admission() const { return admission_; }
  OutlierDetector& outlier() { return outlier_; }
  // Passive health reports (any worker), see OutlierDetector: a connect
  // failure or reset; (http) a request that got no usable answer (504, reset
  // mid-exchange); a success of a request or tcp session; a connect success.
  void reportFailure(Backend& backend);
  // Counts a failed connect by reason and reports it as above, unless it is
  // Local (our descriptors or ports ran out): that says nothing of the backend.
  void reportConnectFailure(Backend& backend, ConnectFailure failure);
  void reportRequestFailure(Backend& backend);
  void reportSuccess(Backend& backend) { outlier_.onSuccess(backend); }
  void reportConnectSuccess(Backend& backend) { outlier_.onConnectSuccess(backend); }

  bool anyAvailable(int64_t nowMs) const;
  // The current membership's ring (see Membership::ringLookup); the index is
  // into backends() as read just before or after: use the Membership itself
  // when the list may change in between.
  int ringLookup(uint64_t hash, int64_t nowMs) const {
    return membership()->ringLookup(hash, nowMs);
  }

 private:
  std::shared_ptr<ClusterCounters> countersOwner_;

 public:
  ClusterCounters& counters;  // shared with the previous and next snapshot

 private:
  const config::ConfigPtr snapshot_;
  const config::Cluster& config_;
  std::shared_ptr<Admission> admission_;
  OutlierDetector outlier_;
  mutable std::mutex mutex_;
  MembershipPtr membership_;  // guarded by mutex_
  std::atomic<uint64_t> generation_{0};
};

}  // namespace sluice::upstream
