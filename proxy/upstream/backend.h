#pragma once

// Backend: one upstream address of a cluster.
//
// Owner: shared (shared_ptr) by its Cluster, the worker pools and the
// sessions using it. Thread: any. The identity (address, weight, cap) is
// const; everything that changes is an atomic, so workers, the health
// checker and the admin/metrics code read it without locks.
//
// Slots: `active` counts every upstream connection open to this backend
// (connecting, idle in a pool, or busy) across ALL workers. A connection may
// only be opened after tryAcquireSlot() succeeded, so the backend never sees
// more than `maxConnections`. Slots are returned through Admission::release
// (a SlotGuard does it; it may hand the slot straight to a queued session),
// never directly.

#include <atomic>
#include <cstdint>
#include <string>

#include "net/address.h"

namespace sluice::upstream {

// Local: this process or host ran out of something (descriptors, ports,
// buffers) before the backend was involved; never charged to the backend.
enum class ConnectFailure { Timeout, Refused, Error, Local };
const char* toString(ConnectFailure);

struct BackendCounters {
  std::atomic<uint64_t> connectTotal{0};
  std::atomic<uint64_t> connectFailures[4]{};  // indexed by ConnectFailure
  std::atomic<uint64_t> healthChecksOk{0};
  std::atomic<uint64_t> healthChecksFailed{0};
};

class Backend {
 public:
  Backend(std::string name, net::SocketAddress address, uint32_t weight, uint32_t maxConnections,
          bool startHealthy)
      : name_(std::move(name)),
        address_(address),
        weight_(weight),
        maxConnections_(maxConnections),
        healthy_(startHealthy) {}

  const std::string& name() const { return name_; }  // "10.0.0.7:5432": the metrics label
  const net::SocketAddress& address() const { return address_; }
  uint32_t weight() const { return weight_; }
  uint32_t maxConnections() const { return maxConnections_.load(std::memory_order_relaxed); }
  // Reload: the same Backend object carries over to the new snapshot with
  // its live slot count, so a lowered cap is enforced at once (no new
  // connection opens until enough old ones close) and a raised one frees
  // slots at once. Only a changed weight makes a new Backend (whose count
  // starts at 0 while the old one's connections finish).
  void setMaxConnections(uint32_t max) { maxConnections_.store(max, std::memory_order_seq_cst); }

  // May new sessions/requests be sent here?
  bool available(int64_t nowMs) const {
    return healthy_.load(std::memory_order_relaxed) && !draining_.load(std::memory_order_relaxed) &&
           ejectedUntilMs_.load(std::memory_order_relaxed) <= nowMs;
  }
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void setHealthy(bool healthy) { healthy_.store(healthy, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  void setDraining() { draining_.store(true, std::memory_order_relaxed); }
  int64_t ejectedUntilMs() const { return ejectedUntilMs_.load(std::memory_order_relaxed); }
  void ejectUntil(int64_t ms) { ejectedUntilMs_.store(ms, std::memory_order_relaxed); }

  bool tryAcquireSlot() {
    uint32_t current = active_.load(std::memory_order_seq_cst);
    while (current < maxConnections_.load(std::memory_order_seq_cst)) {
      if (active_.compare_exchange_weak(current, current + 1, std::memory_order_seq_cst)) {
        return true;
      }
    }
    return false;
  }
  // Only Admission calls this (release(), or a grant cancelled under its feet).
  void returnSlot() { active_.fetch_sub(1, std::memory_order_seq_cst); }
  uint32_t activeConnections() const { return active_.load(std::memory_order_relaxed); }

  // Passive outlier detection state (worker threads update it).
  std::atomic<uint32_t> consecutiveFailures{0};
  // The current run of failures includes a request failure (see OutlierDetector).
  std::atomic<bool> requestFailureInRun{false};
  std::atomic<uint32_t> ejections{0};
  // Connections sitting idle in the workers' pools (a subset of active).
  std::atomic<int32_t> idleConnections{0};
  BackendCounters counters;

 private:
  const std::string name_;
  const net::SocketAddress address_;
  const uint32_t weight_;
  std::atomic<uint32_t> maxConnections_;
  std::atomic<bool> healthy_;
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> ejectedUntilMs_{0};
  std::atomic<uint32_t> active_{0};
};

}  // namespace sluice::upstream
