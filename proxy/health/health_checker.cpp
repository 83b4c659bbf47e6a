#include "health/health_checker.h"

#include <set>

#include "core/log.h"

namespace sluice::health {

HealthChecker::HealthChecker(core::Dispatcher& dispatcher, BackendEvent onUnhealthy)
    : dispatcher_(dispatcher),
      onUnhealthy_(std::move(onUnhealthy)),
      followTimer_(dispatcher,
                   [this] {
                     sync(clusters_());
                     followTimer_.enable(std::chrono::seconds(1));
                   }),
      random_(std::random_device{}()) {}

void HealthChecker::follow(Clusters clusters) {
  clusters_ = std::move(clusters);
  sync(clusters_());
  followTimer_.enable(std::chrono::seconds(1));
}

std::chrono::milliseconds HealthChecker::jittered(std::chrono::milliseconds interval) {
  // ±15%: enough to spread probes from many sidecars, small enough that the
  // time to notice a failure stays about thresholds × interval.
  std::uniform_real_distribution<double> factor(0.85, 1.15);
  const auto ms = static_cast<int64_t>(static_cast<double>(interval.count()) * factor(random_));
  return std::chrono::milliseconds(std::max<int64_t>(ms, 1));
}

void HealthChecker::sync(const std::vector<std::shared_ptr<upstream::Cluster>>& clusters) {
  std::set<Key> wanted;
  for (const auto& cluster : clusters) {
    if (!cluster->config().healthCheck) continue;
    const auto& config = *cluster->config().healthCheck;
    for (const auto& backend : cluster->backends()) {
      const Key key{cluster.get(), backend.get()};
      wanted.insert(key);
      auto& slot = checks_[key];
      if (slot) continue;
      slot = std::make_unique<Check>();
      slot->cluster = cluster;
      slot->backend = backend;
      Check* check = slot.get();
      slot->timer =
          std::make_unique<core::Timer>(dispatcher_, [this, check] { startProbe(*check); });
      // The first probe comes soon (a new backend that starts unhealthy
      // should not wait a whole interval) but spread out, not all at once.
      std::uniform_int_distribution<int64_t> first(
          0, std::max<int64_t>(config.interval.count() / 4, 1));
      slot->timer->enable(std::chrono::milliseconds(first(random_)));
    }
  }
  for (auto it = checks_.begin(); it != checks_.end();) {
    if (wanted.count(it->first) == 0) {
      it = checks_.erase(it);  // cancels its timer and any probe in flight
    } else {
      ++it;
    }
  }
}

void HealthChecker::startProbe(Check& check) {
  const auto& config = *check.cluster->config().healthCheck;
  auto done = [this, &check](Verdict verdict, std::string detail) {
    onResult(check, verdict, detail);
  };
  if (config.type == config::HealthCheckType::Http) {
    check.probe = startHttpCheck(dispatcher_, check.backend->address(), config, std::move(done));
  } else {
    check.probe =
        startTcpCheck(dispatcher_, check.backend->address(), config.timeout, std::move(done));
  }
}

void HealthChecker::onResult(Check& check, Verdict verdict, const std::string& detail) {
  // We are inside the probe's own callback: free it after this turn.
  if (check.probe) dispatcher_.deferredDelete(std::move(check.probe));
  const auto& config = *check.cluster->config().healthCheck;
  auto& backend = *check.backend;
  if (verdict == Verdict::Inconclusive) {
    log::debug("health: ", check.cluster->name(), "/", backend.name(), " check not run: ", detail);
    check.timer->enable(jittered(config.interval));
    return;
  }
  const bool ok = verdict == Verdict::Pass;
  (ok ? backend.counters.healthChecksOk : backend.counters.healthChecksFailed)
      .fetch_add(1, std::memory_order_relaxed);
  if (ok) {
    check.fall = 0;
    if (!backend.healthy() && ++check.rise >= config.healthyThreshold) {
      check.rise = 0;
      backend.setHealthy(true);
      log::info("health: ", check.cluster->name(), "/", backend.name(), " is healthy after ",
                config.healthyThreshold, " passed check(s)");
    }
  } else {
    check.rise = 0;
    log::debug("health: ", check.cluster->name(), "/", backend.name(), " check failed: ", detail);
    if (backend.healthy() && ++check.fall >= config.unhealthyThreshold) {
      check.fall = 0;
      backend.setHealthy(false);
      log::info("health: ", check.cluster->name(), "/", backend.name(), " is unhealthy after ",
                config.unhealthyThreshold, " failed check(s): ", detail);
      if (onUnhealthy_) onUnhealthy_(check.backend);
    }
  }
  check.timer->enable(jittered(config.interval));
}

}  // namespace sluice::health
