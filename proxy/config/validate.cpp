#include "config/validate.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

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

// Reports each name used before, naming its first user; one hash lookup per
// item, so thousands of listeners validate in linear time.
template <class Items>
void checkUniqueNames(const Items& items, const char* what, const std::string& list,
                      Diagnostics& diag) {
  std::unordered_map<std::string_view, size_t> first;
  first.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const auto& name = items[i].name;
    if (name.empty()) continue;
    auto [it, inserted] = first.emplace(name, i);
    if (inserted) continue;
    diag.errorAt(itemPath(list, i) + ".name", std::string("duplicate ") + what + " name '" + name +
                                                  "' (also " + itemPath(list, it->second) + ")");
  }
}

void checkListenerClusters(const Config& config, Diagnostics& diag) {
  std::vector<std::string> names;
  std::unordered_set<std::string_view> known;
  for (const auto& cluster : config.clusters) {
    names.push_back(cluster.name);
    known.insert(cluster.name);
  }
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string path = listenerPath(i) + ".cluster";
    const auto& wanted = config.listeners[i].cluster;
    if (wanted.empty() || known.count(wanted) != 0 || diag.failed(path)) continue;
    std::string message = "unknown cluster '" + wanted + "'";
    if (auto match = closestMatch(wanted, names)) message += "; did you mean '" + *match + "'?";
    diag.errorAt(path, message);
  }
}

// The listeners seen so far on one port, indexed so that the first one a new
// address overlaps (see addressesOverlap) is found without a scan.
struct PortOwners {
  static constexpr size_t kNone = std::numeric_limits<size_t>::max();
  std::unordered_map<std::string_view, size_t> byHost;
  size_t any = kNone;     // the first listener on this port
  size_t anyV4 = kNone;   // the first IPv4 one (0.0.0.0 included)
  size_t v4Wild = kNone;  // the first on 0.0.0.0
  size_t v6Wild = kNone;  // the first on ::

  // The first earlier listener `address` overlaps, or kNone.
  size_t firstOverlap(const HostPort& address) const {
    if (address.host == "::") return any;
    if (address.host == "0.0.0.0") return std::min(anyV4, v6Wild);
    auto it = byHost.find(address.host);
    size_t found = it == byHost.end() ? kNone : it->second;
    found = std::min(found, v6Wild);
    return isIpv4(address) ? std::min(found, v4Wild) : found;
  }
  void add(const HostPort& address, size_t index) {
    byHost.emplace(address.host, index);
    any = std::min(any, index);
    if (isIpv4(address)) anyV4 = std::min(anyV4, index);
    if (address.host == "0.0.0.0") v4Wild = std::min(v4Wild, index);
    if (address.host == "::") v6Wild = std::min(v6Wild, index);
  }
};

void checkAddresses(const Config& config, Diagnostics& diag) {
  std::unordered_map<uint16_t, PortOwners> ports;
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const std::string path = listenerPath(i) + ".address";
    if (diag.failed(path)) continue;
    const auto& address = config.listeners[i].address;
    auto& owners = ports[address.port];
    if (const size_t j = owners.firstOverlap(address); j != PortOwners::kNone) {
      const auto& other = config.listeners[j];
      diag.errorAt(path, clashText(address, other.address, "listener '" + other.name + "'"));
    }
    owners.add(address, i);
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
  std::unordered_map<std::string, size_t> first;
  for (size_t i = 0; i < cluster.backends.size(); ++i) {
    const std::string addressPath = itemPath(path + ".backends", i) + ".address";
    if (diag.failed(addressPath)) continue;
    auto [it, inserted] = first.emplace(cluster.backends[i].address.toString(), i);
    if (inserted) continue;
    diag.errorAt(addressPath, "duplicate backend " + cluster.backends[i].address.toString() +
                                  " (also backends[" + std::to_string(it->second) + "])");
  }
}

// proxy_protocol_trusted names who may send a PROXY header: without
// proxy_protocol it would silently do nothing.
void checkTrusted(const Config& config, Diagnostics& diag) {
  for (size_t i = 0; i < config.listeners.size(); ++i) {
    const auto& listener = config.listeners[i];
    if (listener.proxyProtocol || listener.proxyProtocolTrusted.empty()) continue;
    diag.errorAt(listenerPath(i) + ".proxy_protocol_trusted",
                 "has no effect without proxy_protocol: true");
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
  checkUniqueNames(config.listeners, "listener", "listeners", diag);
  checkUniqueNames(config.clusters, "cluster", "clusters", diag);
  checkTrusted(config, diag);
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
