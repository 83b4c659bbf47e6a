#include "config/validate.h"

#include "config/suggest.h"
#include "config/units.h"

namespace sluice::config {
namespace {

bool isIpv4(const HostPort& address) {
  return address.host.find(':') == std::string::npos;
}

std::string listenerPath(size_t i) {
  return itemPath("listeners", i);
}
std::string clusterPath(size_t i) {
  return itemPath("clusters", i);
}

// "already used by" or "overlaps", naming the earlier owner.
std::string clashText(const HostPort& address, const HostPort& other, const std::string& owner) {
  if (address == other) return "address " + address.toString() + " is already used by " + owner;
  return "address " + address.toString() + " overlaps " + other.toString() + " of " + owner;
}

void checkListenerNames(const Config& config, Diagnostics& diag) {
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& name = config.listeners[i].name;
    if (name.empty()) continue;
    for (size_t j = 0; j < i; ++j) {
      if (config.listeners[j].name == name) {
        diag.errorAt(listenerPath(i) + ".name",
                     "duplicate listener name '" + name + "' (also " + listenerPath(j) + ")");
        break;
      }
    }
  }
}

void checkClusterNames(const Config& config, Diagnostics& diag) {
  for (size_t i = 0; i < config.clusters.size(); ++i) {
    const auto& name = config.clusters[i].name;
    if (name.empty()) continue;
    for (size_t j = 0; j < i; ++j) {
      if (config.clusters[j].name == name) {
        diag.errorAt(clusterPath(i) + ".name",
                     "duplicate cluster name '" + name + "' (also " + clusterPath(j) + ")");
        break;
      }
    }
  }
}

void checkListenerClusters(const Config& config, Diagnostics& diag) {
  std::vector<std::string> names;
  for (const auto& cluster : config.clusters)
    names.push_back(cluster.name);
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string path = listenerPath(i) + ".cluster";
    const auto& wanted = config.listeners[i].cluster;
    if (wanted.empty() || diag.failed(path) || config.findCluster(wanted) != nullptr) continue;
    std::string message = "unknown cluster '" + wanted + "'";
    if (auto match = closestMatch(wanted, names)) message += "; did you mean '" + *match + "'?";
    diag.errorAt(path, message);
  }
}

void checkAddresses(const Config& config, Diagnostics& diag) {
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string path = listenerPath(i) + ".address";
    if (diag.failed(path)) continue;
    const auto& address = config.listeners[i].address;
    for (size_t j = 0; j < i; ++j) {
      const auto& other = config.listeners[j];
      if (diag.failed(listenerPath(j) + ".address")) continue;
      if (addressesOverlap(address, other.address)) {
        diag.errorAt(path, clashText(address, other.address, "listener '" + other.name + "'"));
        break;
      }
    }
  }
  if (config.admin.controlAddress && !diag.failed("admin.control_address") &&
      !diag.failed("admin.address") &&
      addressesOverlap(*config.admin.controlAddress, config.admin.address)) {
    diag.errorAt("admin.control_address",
                 clashText(*config.admin.controlAddress, config.admin.address, "admin.address"));
  }
  if (config.admin.controlAddress && !diag.failed("admin.control_address")) {
    for (const auto& listener : config.listeners) {
      if (!addressesOverlap(*config.admin.controlAddress, listener.address)) continue;
      diag.errorAt("admin.control_address",
                   clashText(*config.admin.controlAddress, listener.address,
                             "listener '" + listener.name + "'"));
      break;
    }
  }
  if (diag.failed("admin.address")) return;
  const auto& admin = config.admin.address;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string path = listenerPath(i) + ".address";
    const auto& listener = config.listeners[i];
    if (diag.failed(path) || !addressesOverlap(admin, listener.address)) continue;
    // Point at the admin address if the file sets one, else at the listener.
    if (diag.written("admin.address")) {
      diag.errorAt("admin.address",
                   clashText(admin, listener.address, "listener '" + listener.name + "'"));
    } else {
      diag.errorAt(path, clashText(listener.address, admin, "the admin port (the default)"));
    }
  }
}

void checkBackends(const Cluster& cluster, const std::string& path, Diagnostics& diag) {
  for (size_t i = 0; i < cluster.backends.size(); ++i) {
    const std::string addressPath = itemPath(path + ".backends", i) + ".address";
    if (diag.failed(addressPath)) continue;
    for (size_t j = 0; j < i; ++j) {
      if (cluster.backends[j].address == cluster.backends[i].address &&
          !diag.failed(itemPath(path + ".backends", j) + ".address")) {
        diag.errorAt(addressPath, "duplicate backend " + cluster.backends[i].address.toString() +
                                      " (also backends[" + std::to_string(j) + "])");
        break;
      }
    }
  }
}

void checkPool(const PoolConfig& pool, const std::string& path, Diagnostics& diag) {
  const std::string minPath = path + ".pool.min_idle";
  const std::string maxPath = path + ".pool.max_connections";
  if (diag.failed(minPath) || diag.failed(maxPath) || pool.minIdle <= pool.maxConnections) return;
  const std::string message = std::to_string(pool.minIdle) + " is greater than max_connections (" +
                              std::to_string(pool.maxConnections) + ")";
  diag.errorAt(diag.written(minPath) ? minPath : maxPath,
               diag.written(minPath)
                   ? message
                   : std::to_string(pool.maxConnections) + " is less than min_idle (" +
                         std::to_string(pool.minIdle) + ", the default)");
}

void checkHealthCheck(const HealthCheck& check, const std::string& path, Diagnostics& diag) {
  const std::string timeoutPath = path + ".health_check.timeout";
  const std::string intervalPath = path + ".health_check.interval";
  if (diag.failed(timeoutPath) || diag.failed(intervalPath) || check.timeout <= check.interval) {
    return;
  }
  diag.errorAt(timeoutPath, formatDuration(check.timeout) + " is greater than interval (" +
                                formatDuration(check.interval) + ")");
}

void checkOutlier(const OutlierDetection& outlier, const std::string& path, Diagnostics& diag) {
  const std::string maxPath = path + ".outlier_detection.max_ejection_time";
  const std::string basePath = path + ".outlier_detection.ejection_time";
  if (diag.failed(maxPath) || diag.failed(basePath) ||
      outlier.maxEjectionTime >= outlier.ejectionTime) {
    return;
  }
  diag.errorAt(maxPath, formatDuration(outlier.maxEjectionTime) + " is less than ejection_time (" +
                            formatDuration(outlier.ejectionTime) + ")");
}

}  // namespace

bool addressesOverlap(const HostPort& a, const HostPort& b) {
  if (a.port != b.port) return false;
  if (a.host == b.host) return true;
  if (a.host == "::" || b.host == "::") return true;
  if (a.host == "0.0.0.0") return isIpv4(b);
  if (b.host == "0.0.0.0") return isIpv4(a);
  return false;
}

void validate(const Config& config, Diagnostics& diag) {
  checkListenerNames(config, diag);
  checkClusterNames(config, diag);
  checkListenerClusters(config, diag);
  checkAddresses(config, diag);
  for (size_t i = 0; i < config.clusters.size(); ++i) {
    const auto& cluster = config.clusters[i];
    const std::string path = clusterPath(i);
    checkBackends(cluster, path, diag);
    checkPool(cluster.pool, path, diag);
    if (cluster.healthCheck) checkHealthCheck(*cluster.healthCheck, path, diag);
    if (cluster.outlierDetection) checkOutlier(*cluster.outlierDetection, path, diag);
  }
}

}  // namespace sluice::config
