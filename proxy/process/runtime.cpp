#include "process/runtime.h"

#include <stdexcept>
#include <string_view>
#include <unordered_map>

#include "core/log.h"

namespace sluice::process {

const char* toString(RejectReason reason) {
  switch (reason) {
    case RejectReason::MaxConnections:
      return "max_connections";
    case RejectReason::PerIp:
      return "per_ip";
    case RejectReason::QueueFull:
      return "queue_full";
    case RejectReason::QueueTimeout:
      return "queue_timeout";
    case RejectReason::Draining:
      return "draining";
    case RejectReason::Untrusted:
      return "untrusted";
    case RejectReason::Count:
      break;
  }
  return "unknown";
}

bool PerIpTable::tryAdd(const net::SocketAddress& client, uint32_t limit) {
  auto& shard = shardFor(client);
  std::lock_guard lock(shard.mutex);
  auto& count = shard.counts[client.ip()];
  if (count >= limit) {
    if (count == 0) shard.counts.erase(client.ip());
    return false;
  }
  ++count;
  return true;
}

void PerIpTable::remove(const net::SocketAddress& client) {
  auto& shard = shardFor(client);
  std::lock_guard lock(shard.mutex);
  auto it = shard.counts.find(client.ip());
  if (it == shard.counts.end()) return;
  if (--it->second == 0) shard.counts.erase(it);
}

std::shared_ptr<const Runtime> Runtime::build(config::ConfigPtr config, const Runtime* previous) {
  auto findPrevious = [previous](const std::string& name) -> const upstream::Cluster* {
    if (previous == nullptr) return nullptr;
    for (const auto& c : previous->clusters) {
      if (c->name() == name) return c.get();
    }
    return nullptr;
  };
  auto runtime = std::make_shared<Runtime>();
  runtime->config = config;
  for (const auto& clusterConfig : config->clusters) {
    const upstream::Cluster* before = findPrevious(clusterConfig.name);
    std::vector<std::shared_ptr<upstream::Backend>> backends;
    const bool startHealthy = !clusterConfig.healthCheck || clusterConfig.healthCheck->startHealthy;
    for (const auto& backendConfig : clusterConfig.backends) {
      std::string error;
      auto addresses = net::SocketAddress::resolve(backendConfig.address, &error);
      if (addresses.empty()) {
        log::warn("cluster ", clusterConfig.name, ": cannot resolve ",
                  backendConfig.address.toString(), ": ", error);
      }
      for (const auto& address : addresses) {
        std::shared_ptr<upstream::Backend> backend;
        if (before != nullptr) {
          for (const auto& b : before->backends()) {
            if (b->name() == address.toString() && b->weight() == backendConfig.weight) backend = b;
          }
        }
        if (backend) {
          // Same backend: its live slot count carries over, so the cap holds across the swap.
          backend->setMaxConnections(clusterConfig.pool.maxConnections);
        } else {
          backend =
              std::make_shared<upstream::Backend>(address.toString(), address, backendConfig.weight,
                                                  clusterConfig.pool.maxConnections, startHealthy);
        }
        backends.push_back(std::move(backend));
      }
    }
    runtime->clusters.push_back(
        std::make_shared<upstream::Cluster>(config, clusterConfig, std::move(backends), before));
  }
  // By name, so thousands of listeners build in linear time.
  std::unordered_map<std::string_view, std::shared_ptr<upstream::Cluster>> clusters;
  for (const auto& c : runtime->clusters)
    clusters[c->name()] = c;
  std::unordered_map<std::string_view, std::shared_ptr<ListenerStats>> previousStats;
  if (previous != nullptr) {
    for (const auto& l : previous->listeners)
      previousStats[l->config.name] = l->stats;
  }
  for (const auto& listenerConfig : config->listeners) {
    auto found = clusters.find(listenerConfig.cluster);
    if (found == clusters.end()) {
      throw std::runtime_error("listener " + listenerConfig.name + ": no cluster");
    }
    const std::shared_ptr<upstream::Cluster>& cluster = found->second;
    std::shared_ptr<ListenerStats> stats;
    if (auto it = previousStats.find(listenerConfig.name); it != previousStats.end()) {
      stats = it->second;
    }
    if (!stats) stats = std::make_shared<ListenerStats>();
    runtime->listeners.push_back(
        std::make_shared<ListenerRuntime>(config, listenerConfig, cluster, std::move(stats)));
  }
  return runtime;
}

}  // namespace sluice::process
