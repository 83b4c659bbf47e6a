#pragma once

// Builds Backends and Clusters for upstream tests without a YAML file.
// config.h structs have no defaults, so every field the code reads is set
// here explicitly (values from config/defaults.h unless a test overrides).

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/defaults.h"
#include "net/address.h"
#include "upstream/backend.h"
#include "upstream/cluster.h"

namespace sluice::testing {

inline std::shared_ptr<upstream::Backend> makeBackend(const std::string& ip, uint16_t port,
                                                      uint32_t weight = 1,
                                                      uint32_t maxConnections = 64) {
  auto address = net::SocketAddress::fromIp(ip, port);
  if (!address) return nullptr;
  return std::make_shared<upstream::Backend>(address->toString(), *address, weight, maxConnections,
                                             /*startHealthy=*/true);
}

inline std::shared_ptr<upstream::Backend> makeBackend(const net::SocketAddress& address,
                                                      uint32_t weight = 1,
                                                      uint32_t maxConnections = 64) {
  return std::make_shared<upstream::Backend>(address.toString(), address, weight, maxConnections,
                                             /*startHealthy=*/true);
}

inline config::Cluster makeClusterConfig(const std::string& name, config::Balance balance) {
  namespace d = config::defaults;
  config::Cluster c;
  c.name = name;
  c.resolveInterval = d::kResolveInterval;
  c.balance = balance;
  c.sendProxyProtocol = config::ProxyProtocolVersion::Off;
  c.pool.maxConnections = d::kPoolMaxConnections;
  c.pool.minIdle = 0;
  c.pool.idleTimeout = d::kPoolIdleTimeout;
  c.pool.maxLifetime = d::kPoolMaxLifetime;
  c.pool.maxRequests = d::kPoolMaxRequests;
  c.pool.maxPending = d::kPoolMaxPending;
  c.pool.queueTimeout = d::kPoolQueueTimeout;
  c.timeouts.connect = d::kConnectTimeout;
  c.timeouts.idle = d::kClusterIdleTimeout;
  c.retries.connect = d::kConnectRetries;
  c.healthCheck.reset();
  c.outlierDetection.reset();
  return c;
}

// A config snapshot holding one cluster (after `tweak`), and the runtime
// Cluster over `backends`, which keeps that snapshot alive.
inline std::shared_ptr<upstream::Cluster> makeCluster(
    config::Balance balance, std::vector<std::shared_ptr<upstream::Backend>> backends,
    const std::function<void(config::Cluster&)>& tweak = {}) {
  auto snapshot = std::make_shared<config::Config>();
  snapshot->sourcePath = "";
  snapshot->workers = 1;
  snapshot->drainDelay = config::defaults::kDrainDelay;
  snapshot->drainTimeout = config::defaults::kDrainTimeout;
  auto cluster = makeClusterConfig("test", balance);
  for (const auto& backend : backends) {
    config::BackendConfig b;
    b.address.host = backend->address().ip();
    b.address.port = backend->address().port();
    b.address.isName = false;
    b.weight = backend->weight();
    cluster.backends.push_back(b);
  }
  if (tweak) tweak(cluster);
  snapshot->clusters.push_back(std::move(cluster));
  config::ConfigPtr frozen = snapshot;
  return std::make_shared<upstream::Cluster>(frozen, frozen->clusters.front(), std::move(backends));
}

}  // namespace sluice::testing
