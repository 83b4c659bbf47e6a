#include "config/sections.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "config/defaults.h"
#include "config/ip_prefix.h"
#include "config/units.h"

namespace sluice::config {
namespace {

using namespace defaults;

const Choices<Protocol> kProtocols{{"tcp", Protocol::Tcp}, {"http", Protocol::Http}};
const Choices<Balance> kBalances{{"round_robin", Balance::RoundRobin},
                                 {"least_connections", Balance::LeastConnections},
                                 {"random_two", Balance::RandomTwo},
                                 {"hash_client_ip", Balance::HashClientIp}};
const Choices<ProxyProtocolVersion> kProxyVersions{{"off", ProxyProtocolVersion::Off},
                                                   {"v1", ProxyProtocolVersion::V1},
                                                   {"v2", ProxyProtocolVersion::V2}};
const Choices<HealthCheckType> kCheckTypes{{"tcp", HealthCheckType::Tcp},
                                           {"http", HealthCheckType::Http}};
const Choices<bool> kInitialStates{{"healthy", true}, {"unhealthy", false}};
const Choices<ForwardedHeaders> kForwardedModes{{"replace", ForwardedHeaders::Replace},
                                                {"append", ForwardedHeaders::Append}};
const Choices<Readiness> kReadinesses{{"independent", Readiness::Independent},
                                      {"requires_backend", Readiness::RequiresBackend}};

Listener defaultListener() {
  Listener l;
  l.protocol = kProtocol;
  l.maxConnections = kListenerMaxConnections;
  l.maxConnectionsPerIp = kMaxConnectionsPerIp;
  l.proxyProtocol = kProxyProtocol;
  l.proxyProtocolTimeout = kProxyProtocolTimeout;
  l.bufferBytes = kBufferBytes;
  l.timeouts = {kListenerIdleTimeout, kRequestHeaderTimeout, kRequestTimeout, kRequestBodyTimeout};
  l.http = {kMaxHeaderBytes,     kMaxBodyBytes,     kMaxHeaderCount,
            kRequestBufferBytes, kForwardedHeaders, {std::string(kUpgradeProtocol)}};
  return l;
}

Cluster defaultCluster() {
  Cluster c;
  c.resolveInterval = kResolveInterval;
  c.balance = kBalance;
  c.sendProxyProtocol = kSendProxyProtocol;
  c.pool = {kPoolMaxConnections, kPoolMinIdle,    kPoolIdleTimeout, kPoolMaxLifetime,
            kPoolMaxRequests,    kPoolMaxPending, kPoolQueueTimeout};
  c.timeouts = {kConnectTimeout, kClusterIdleTimeout};
  c.retries = {kConnectRetries};
  c.readiness = kReadiness;
  return c;
}

HealthCheck defaultHealthCheck() {
  return HealthCheck{kHealthCheckType,  std::string(kHealthCheckPath), kExpectStatusMin,
                     kExpectStatusMax,  kHealthCheckInterval,          kHealthCheckTimeout,
                     kHealthyThreshold, kUnhealthyThreshold,           kStartHealthy};
}

void readName(MapReader& map, std::string& out) {
  if (auto value = map.require("name")) {
    if (auto name = value->name()) out = *name;
  }
}

// proxy_protocol_trusted: a list of networks (checked against proxy_protocol
// in validate.cpp).
void readTrusted(const ValueReader& value, Listener& listener) {
  forEachItem(value, [&](const ValueReader& item) {
    auto text = item.text();
    if (!text) return;
    auto parsed = parseIpPrefix(*text);
    if (parsed.value) {
      listener.proxyProtocolTrusted.push_back(*parsed.value);
    } else {
      item.fail(parsed.error);
    }
  });
}

void readListenerTimeouts(const ValueReader& value, ListenerTimeouts& out) {
  MapReader map(value);
  map.duration("idle", out.idle, kPositive);
  map.duration("request_header", out.requestHeader, kPositive);
  map.duration("request", out.request, kPositive);
  map.duration("request_body", out.requestBody, kZeroOk);
  map.finish();
}

// Upgrade protocol names (RFC 9110 §7.8: a token, "/version" not matched), kept lowercase.
void readUpgradeProtocols(const ValueReader& list, std::vector<std::string>& out) {
  out.clear();
  forEachItem(list, [&](const ValueReader& item) {
    auto name = item.text();
    if (!name) return;
    const bool token = std::all_of(name->begin(), name->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
             std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
    if (!token) {
      item.fail("'" + *name + "' is not a protocol name (a token, without /version)");
      return;
    }
    std::transform(name->begin(), name->end(), name->begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    out.push_back(*name);
  });
}

void readHttpLimits(const ValueReader& value, HttpLimits& out) {
  MapReader map(value);
  map.size("max_header_size", out.maxHeaderBytes, kMinHeaderBytes, kMaxHeaderBytesLimit);
  map.size("max_body_size", out.maxBodyBytes, 0, std::numeric_limits<uint64_t>::max());
  map.integer("max_header_count", out.maxHeaderCount, 1u, kMaxHeaderCountLimit);
  map.size("request_buffer_size", out.requestBufferBytes, 0, kMaxBufferBytes);
  map.choice("forwarded_headers", out.forwardedHeaders, kForwardedModes);
  if (auto list = map.take("upgrade")) readUpgradeProtocols(*list, out.upgrade);
  map.finish();
}

BackendConfig readBackend(const ValueReader& item) {
  BackendConfig backend{HostPort{}, kWeight};
  MapReader map(item);
  if (auto value = map.require("address")) {
    if (auto address = value->address(true)) backend.address = *address;
  }
  map.integer("weight", backend.weight, 1u, kMaxWeight);
  map.finish();
  return backend;
}

void readPool(const ValueReader& value, PoolConfig& out) {
  MapReader map(value);
  map.integer("max_connections", out.maxConnections, 1u, kMaxPoolConnections);
  map.integer("min_idle", out.minIdle, 0u, kMaxPoolConnections);
  map.duration("idle_timeout", out.idleTimeout, kPositive);
  map.duration("max_lifetime", out.maxLifetime, kPositive);
  map.integer("max_requests", out.maxRequests, uint64_t{1}, std::numeric_limits<uint64_t>::max());
  map.integer("max_pending", out.maxPending, 0u, kMaxPendingLimit);
  map.duration("queue_timeout", out.queueTimeout, kZeroOk);
  map.finish();
}

void readClusterTimeouts(const ValueReader& value, ClusterTimeouts& out) {
  MapReader map(value);
  map.duration("connect", out.connect, kPositive);
  map.duration("idle", out.idle, kPositive);
  map.finish();
}

void readRetries(const ValueReader& value, Retries& out) {
  MapReader map(value);
  map.integer("connect", out.connect, 0u, kMaxRetries);
  map.finish();
}

bool isPathChar(char c) {
  return c > ' ' && c < 127;
}

void readCheckPath(const ValueReader& value, std::string& out) {
  auto path = value.text();
  if (!path) return;
  if (!path->starts_with('/')) {
    value.fail("must start with '/', got '" + *path + "'");
    return;
  }
  for (char c : *path) {
    if (!isPathChar(c)) {
      value.fail("must not contain spaces or control characters");
      return;
    }
  }
  out = *path;
}

// "200" or "200-399", each status 100..599.
void readExpectStatus(const ValueReader& value, HealthCheck& out) {
  auto text = value.text();
  if (!text) return;
  const size_t dash = text->find('-');
  const std::string low = text->substr(0, dash);
  const std::string high = dash == std::string::npos ? low : text->substr(dash + 1);
  auto min = parseDigits(low);
  auto max = parseDigits(high);
  if (!min || !max) {
    value.fail("invalid status '" + *text + "': use a status like 200 or a range like 200-399");
    return;
  }
  for (uint64_t status : {*min, *max}) {
    if (status < kMinStatus || status > kMaxStatus) {
      value.fail("status " + std::to_string(status) + " is out of range (100..599)");
      return;
    }
  }
  if (*min > *max) {
    value.fail("invalid status range '" + *text + "': the first status is greater than the last");
    return;
  }
  out.expectStatusMin = static_cast<int>(*min);
  out.expectStatusMax = static_cast<int>(*max);
}

HealthCheck readHealthCheck(const ValueReader& value) {
  HealthCheck check = defaultHealthCheck();
  MapReader map(value);
  bool typeValid = true;
  if (auto type = map.take("type")) {
    auto parsed = type->choice(kCheckTypes);
    typeValid = parsed.has_value();
    if (parsed) check.type = *parsed;
  }
  auto path = map.take("path");
  auto expect = map.take("expect_status");
  if (path) readCheckPath(*path, check.path);
  if (expect) readExpectStatus(*expect, check);
  if (typeValid && check.type != HealthCheckType::Http) {
    for (const auto& httpOnly : {path, expect}) {
      if (httpOnly) httpOnly->fail("only valid when type is http");
    }
  }
  map.duration("interval", check.interval, kPositive);
  map.duration("timeout", check.timeout, kPositive);
  map.integer("healthy_threshold", check.healthyThreshold, 1u, kMaxThreshold);
  map.integer("unhealthy_threshold", check.unhealthyThreshold, 1u, kMaxThreshold);
  map.choice("initial_state", check.startHealthy, kInitialStates);
  map.finish();
  return check;
}

OutlierDetection readOutlierDetection(const ValueReader& value) {
  OutlierDetection outlier{kConsecutiveFailures, kEjectionTime, kMaxEjectionTime,
                           kMaxEjectionPercent};
  MapReader map(value);
  map.integer("consecutive_failures", outlier.consecutiveFailures, 1u, kMaxThreshold);
  map.duration("ejection_time", outlier.ejectionTime, kPositive);
  map.duration("max_ejection_time", outlier.maxEjectionTime, kPositive);
  map.integer("max_ejection_percent", outlier.maxEjectionPercent, 0u, 100u);
  map.finish();
  return outlier;
}

}  // namespace

Listener readListener(const ValueReader& item) {
  Listener listener = defaultListener();
  MapReader map(item);
  readName(map, listener.name);
  if (auto value = map.require("address")) {
    if (auto address = value->address(false)) listener.address = *address;
  }
  map.choice("protocol", listener.protocol, kProtocols);
  if (auto value = map.require("cluster")) {
    if (auto name = value->text()) listener.cluster = *name;
  }
  map.integer("max_connections", listener.maxConnections, 1u, kMaxConnectionsLimit);
  map.integer("max_connections_per_ip", listener.maxConnectionsPerIp, 0u, kMaxConnectionsLimit);
  map.boolean("proxy_protocol", listener.proxyProtocol);
  map.duration("proxy_protocol_timeout", listener.proxyProtocolTimeout, kPositive);
  if (auto value = map.take("proxy_protocol_trusted")) readTrusted(*value, listener);
  map.size("buffer_size", listener.bufferBytes, kMinBufferBytes, kMaxBufferBytes);
  if (auto value = map.take("timeouts")) readListenerTimeouts(*value, listener.timeouts);
  if (auto value = map.take("http")) readHttpLimits(*value, listener.http);
  map.finish();
  return listener;
}

Cluster readCluster(const ValueReader& item) {
  Cluster cluster = defaultCluster();
  MapReader map(item);
  readName(map, cluster.name);
  if (auto value = map.require("backends")) {
    forEachItem(*value, [&](const ValueReader& backend) {
      cluster.backends.push_back(readBackend(backend));
    });
    if (value->node().IsSequence() && value->node().size() == 0) {
      value->fail("must list at least one backend");
    }
  }
  map.duration("resolve_interval", cluster.resolveInterval, kMinResolveInterval);
  map.choice("balance", cluster.balance, kBalances);
  map.choice("send_proxy_protocol", cluster.sendProxyProtocol, kProxyVersions);
  if (auto value = map.take("pool")) readPool(*value, cluster.pool);
  if (auto value = map.take("timeouts")) readClusterTimeouts(*value, cluster.timeouts);
  if (auto value = map.take("retries")) readRetries(*value, cluster.retries);
  if (auto value = map.take("health_check")) cluster.healthCheck = readHealthCheck(*value);
  if (auto value = map.take("outlier_detection")) {
    cluster.outlierDetection = readOutlierDetection(*value);
  }
  map.choice("readiness", cluster.readiness, kReadinesses);
  map.finish();
  return cluster;
}

}  // namespace sluice::config
