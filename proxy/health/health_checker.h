#pragma once

// HealthChecker: active health checks for every backend of every cluster
// that configures `health_check`.
//
// Theory of operation. Each (cluster, backend) pair has one Check: a timer
// that fires every `interval` (jittered by up to ±15% so that many sidecars
// started together do not probe in step), a probe (tcp: connect; http: a
// GET and its status line, see probe.h), and two counters, as in HAProxy's
// check.c "rise" and "fall":
//
//               success: rise++ (fall = 0)
//             ┌──────────────────────────┐
//             │                          ▼
//      ┌─────────────┐  rise >= healthy_threshold   ┌───────────┐
//      │  Unhealthy  │ ───────────────────────────► │  Healthy  │
//      │ (no traffic)│ ◄─────────────────────────── │           │
//      └─────────────┘  fall >= unhealthy_threshold └───────────┘
//             ▲                                          │
//             └──────────────────────────────────────────┘
//               failure: fall++ (rise = 0)
//
// A result that agrees with the current state resets the opposite counter,
// so only *consecutive* results count. The state is published with
// Backend::setHealthy() (an atomic the workers read on every pick); the
// initial state is the backend's own (`initial_state`, default healthy).
// Going unhealthy also calls `onUnhealthy`, which the Server turns into
// "close this backend's idle pooled connections on every worker"; sessions
// already relaying to it are left alone.
//
// Owner: the Server. Thread: the main loop only; never a worker.
// sync() follows the clusters' current backend lists (start, DNS changes,
// reload): new backends get a Check, vanished ones lose theirs.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "core/dispatcher.h"
#include "core/timer.h"
#include "health/probe.h"
#include "upstream/cluster.h"

namespace sluice::health {

class HealthChecker {
 public:
  using BackendEvent = std::function<void(const std::shared_ptr<upstream::Backend>&)>;
  HealthChecker(core::Dispatcher& dispatcher, BackendEvent onUnhealthy);
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  using Clusters = std::function<std::vector<std::shared_ptr<upstream::Cluster>>()>;

  // Checks exactly the current backends of those of `clusters` that
  // configure health_check.
  void sync(const std::vector<std::shared_ptr<upstream::Cluster>>& clusters);
  // sync(clusters()) now and then every second, so the checks follow a
  // reload (a new runtime) without the reload code knowing about them.
  void follow(Clusters clusters);
  size_t checkCount() const { return checks_.size(); }

 private:
  struct Check {
    std::shared_ptr<upstream::Cluster> cluster;
    std::shared_ptr<upstream::Backend> backend;
    std::unique_ptr<Probe> probe;  // while a check is in flight
    std::unique_ptr<core::Timer> timer;
    uint32_t rise = 0;
    uint32_t fall = 0;
  };
  using Key = std::pair<const upstream::Cluster*, const upstream::Backend*>;

  void startProbe(Check& check);
  void onResult(Check& check, Verdict verdict, const std::string& detail);
  std::chrono::milliseconds jittered(std::chrono::milliseconds interval);

  core::Dispatcher& dispatcher_;
  BackendEvent onUnhealthy_;
  std::map<Key, std::unique_ptr<Check>> checks_;
  Clusters clusters_;
  core::Timer followTimer_;
  std::minstd_rand random_;
};

}  // namespace sluice::health
