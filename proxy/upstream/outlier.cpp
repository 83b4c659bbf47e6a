#include "upstream/outlier.h"

#include <algorithm>

#include "core/log.h"

namespace sluice::upstream {

OutlierDetector::OutlierDetector(std::optional<config::OutlierDetection> config)
    : config_(std::move(config)) {}

void OutlierDetector::onSuccess(Backend& backend) {
  if (!config_) return;
  // Only write when needed: a shared cache line bumped per session is a cost.
  if (backend.consecutiveFailures.load(std::memory_order_relaxed) != 0) {
    backend.consecutiveFailures.store(0, std::memory_order_relaxed);
  }
  if (backend.requestFailureInRun.load(std::memory_order_relaxed)) {
    backend.requestFailureInRun.store(false, std::memory_order_relaxed);
  }
}

void OutlierDetector::onConnectSuccess(Backend& backend) {
  if (!config_) return;
  if (backend.requestFailureInRun.load(std::memory_order_relaxed)) return;
  if (backend.consecutiveFailures.load(std::memory_order_relaxed) != 0) {
    backend.consecutiveFailures.store(0, std::memory_order_relaxed);
  }
}

bool OutlierDetector::onRequestFailure(Backend& backend,
                                       const std::vector<std::shared_ptr<Backend>>& cluster,
                                       int64_t nowMs) {
  if (!config_) return false;
  backend.requestFailureInRun.store(true, std::memory_order_relaxed);
  return onFailure(backend, cluster, nowMs);
}

bool OutlierDetector::onFailure(Backend& backend,
                                const std::vector<std::shared_ptr<Backend>>& cluster,
                                int64_t nowMs) {
  if (!config_) return false;
  const uint32_t failures = backend.consecutiveFailures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (failures < config_->consecutiveFailures) return false;

  std::lock_guard lock(ejectMutex_);
  // Another worker may have ejected it (and restarted the count) meanwhile.
  if (backend.ejectedUntilMs() > nowMs) return false;
  if (backend.consecutiveFailures.load(std::memory_order_relaxed) < config_->consecutiveFailures) {
    return false;
  }
  const auto ejected =
      static_cast<size_t>(std::count_if(cluster.begin(), cluster.end(), [nowMs](const auto& b) {
        return b->ejectedUntilMs() > nowMs;
      }));
  const size_t allowed = cluster.size() * config_->maxEjectionPercent / 100;
  backend.consecutiveFailures.store(0, std::memory_order_relaxed);  // a new run starts
  backend.requestFailureInRun.store(false, std::memory_order_relaxed);
  if (ejected >= allowed) {
    ejectionsRefused_.fetch_add(1, std::memory_order_relaxed);
    log::debug("outlier: ", backend.name(), " failing but ", ejected, " of ", cluster.size(),
               " backends already ejected; keeping it");
    return false;
  }
  // The multiplier decays: a backend that stayed in rotation for
  // max_ejection_time since its last ejection starts again at ejection_time.
  const int64_t lastEnd = backend.ejectedUntilMs();
  if (lastEnd > 0 && nowMs - lastEnd >= config_->maxEjectionTime.count()) {
    backend.ejections.store(0, std::memory_order_relaxed);
  }
  const uint32_t previous = backend.ejections.fetch_add(1, std::memory_order_relaxed);
  int64_t duration = config_->ejectionTime.count();
  for (uint32_t i = 0; i < previous && duration < config_->maxEjectionTime.count(); ++i)
    duration *= 2;
  duration = std::min<int64_t>(duration, config_->maxEjectionTime.count());
  backend.ejectUntil(nowMs + duration);
  ejectionsTotal_.fetch_add(1, std::memory_order_relaxed);
  log::info("outlier: ejected ", backend.name(), " for ", duration, "ms after ",
            config_->consecutiveFailures, " consecutive failures (ejection ", previous + 1, ")");
  return true;
}

}  // namespace sluice::upstream
