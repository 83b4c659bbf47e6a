#pragma once

// OutlierDetector: passive health. Sessions report what happened on their
// upstream connections; a backend with `consecutive_failures` connect
// failures or resets in a row is ejected (Backend::ejectUntil) for
// `ejection_time`, doubled on each repeated ejection up to
// `max_ejection_time`, and never more than `max_ejection_percent` of the
// cluster's backends are ejected at once (floor(n * pct / 100); with two
// backends at 50% one may go). A success resets the failure count.
//
// Two kinds of report, because a backend that accepts connections and then
// never answers is not healthy for accepting them: a request failure (http:
// sluice answered 504, or the upstream reset mid-exchange) is only undone by
// a request success (a complete response); a connect success (a session's
// or a pool's pre-warm connect) ends a run of connect failures only. In tcp
// mode every report is of the plain kind, so a connect success resets.
//
// Owner: its Cluster. Thread: any — workers report concurrently. The
// per-backend counts are Backend atomics; the decision to eject takes a
// short mutex so two workers cannot together exceed the ejection share.
//
//   in rotation ──N failures in a row──► ejected ──ejectedUntil passes──► in rotation
//        ▲  │ (share full: stays, count restarts)        (multiplier kept; reset after
//        └──┘                                              max_ejection_time without one)

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "config/config.h"
#include "upstream/backend.h"

namespace sluice::upstream {

class OutlierDetector {
 public:
  explicit OutlierDetector(std::optional<config::OutlierDetection> config);

  bool enabled() const { return config_.has_value(); }
  // A request (http) or session (tcp) on `backend` succeeded: resets the count.
  void onSuccess(Backend& backend);
  // A connect to `backend` succeeded: resets the count unless the run
  // includes a request failure.
  void onConnectSuccess(Backend& backend);
  // A connect failed or an upstream connection was reset. `cluster` is the
  // current backend list. Returns true when this report ejected the backend.
  bool onFailure(Backend& backend, const std::vector<std::shared_ptr<Backend>>& cluster,
                 int64_t nowMs);
  // (http) A request sent to `backend` got no usable answer: sluice
  // answered 504, or the connection was reset mid-exchange.
  bool onRequestFailure(Backend& backend, const std::vector<std::shared_ptr<Backend>>& cluster,
                        int64_t nowMs);

  uint64_t ejectionsTotal() const { return ejectionsTotal_.load(std::memory_order_relaxed); }
  uint64_t ejectionsRefused() const { return ejectionsRefused_.load(std::memory_order_relaxed); }

 private:
  const std::optional<config::OutlierDetection> config_;
  std::mutex ejectMutex_;  // held only to count ejected backends and eject one
  std::atomic<uint64_t> ejectionsTotal_{0};
  std::atomic<uint64_t> ejectionsRefused_{0};  // the share was full
};

}  // namespace sluice::upstream
