#pragma once

// The typed, immutable configuration. loader.cpp fills these structs from YAML;
// everything else reads them through a shared_ptr<const Config> snapshot and
// never writes to them. Every default lives in defaults.h, so this file states
// only the shape.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/log_level.h"

namespace sluice::config {

using Duration = std::chrono::milliseconds;

// "host:port", "[v6]:port" or "name:port". `host` is without brackets.
struct HostPort {
  std::string host;
  uint16_t port = 0;
  bool isName = false;  // a DNS name rather than an IP literal

  std::string toString() const;  // round-trips: "[::1]:80", "127.0.0.1:80", "db:5432"
  bool operator==(const HostPort&) const = default;
};

// An IPv4 or IPv6 network ("10.0.0.0/8", "::1/128"): `bytes` holds the
// address (IPv4 in the first 4), `length` the prefix bits.
struct IpPrefix {
  bool v6 = false;
  uint8_t bytes[16] = {};
  uint8_t length = 0;

  std::string toString() const;  // "10.0.0.0/8"
};

using LogLevel = log::Level;  // core/log_level.h
enum class Protocol { Tcp, Http };
enum class Balance { RoundRobin, LeastConnections, RandomTwo, HashClientIp };
enum class ProxyProtocolVersion { Off, V1, V2 };
enum class HealthCheckType { Tcp, Http };
enum class ForwardedHeaders { Replace, Append };  // what happens to the client's X-Forwarded-*
// Does /ready depend on this cluster having an available backend?
enum class Readiness { Independent, RequiresBackend };

struct ListenerTimeouts {
  Duration idle;           // no bytes either way
  Duration requestHeader;  // http: the whole request header must arrive within this
  Duration request;        // http: request start to response end
  Duration requestBody;    // http: longest wait for the next request body byte; 0 = none
};

struct HttpLimits {
  uint64_t maxHeaderBytes;  // request header section; over it -> 431
  uint64_t maxBodyBytes;    // request body; 0 = unlimited; over it -> 413
  uint32_t maxHeaderCount;  // request header fields; over it -> 431
  // A body that fits is read whole before an upstream connection is leased; 0 = never.
  uint64_t requestBufferBytes;
  ForwardedHeaders forwardedHeaders;
  std::vector<std::string> upgrade;  // Upgrade protocols tunneled (lowercase); empty: none
};

struct Listener {
  std::string name;
  HostPort address;
  Protocol protocol;
  std::string cluster;
  uint32_t maxConnections;
  uint32_t maxConnectionsPerIp;  // 0 = unlimited
  bool proxyProtocol;
  Duration proxyProtocolTimeout;
  std::vector<IpPrefix> proxyProtocolTrusted;  // empty = any source may send a header
  uint64_t bufferBytes;  // per-direction buffer before back-pressure pauses the sender
  ListenerTimeouts timeouts;
  HttpLimits http;
};

struct BackendConfig {
  HostPort address;
  uint32_t weight;
};

struct PoolConfig {
  uint32_t maxConnections;  // per backend, across all workers
  uint32_t minIdle;         // per backend, split across workers
  Duration idleTimeout;
  Duration maxLifetime;
  uint64_t maxRequests;  // http: recycle after this many requests
  uint32_t maxPending;   // queued sessions/requests per cluster
  Duration queueTimeout;
};

struct ClusterTimeouts {
  Duration connect;
  Duration idle;
};

struct Retries {
  uint32_t connect;
};

struct HealthCheck {
  HealthCheckType type;
  std::string path;  // http only
  int expectStatusMin;
  int expectStatusMax;
  Duration interval;
  Duration timeout;
  uint32_t healthyThreshold;
  uint32_t unhealthyThreshold;
  bool startHealthy;  // backends count as healthy until the first check says otherwise
};

struct OutlierDetection {
  uint32_t consecutiveFailures;
  Duration ejectionTime;
  Duration maxEjectionTime;
  uint32_t maxEjectionPercent;
};

struct Cluster {
  std::string name;
  std::vector<BackendConfig> backends;
  Duration resolveInterval;
  Balance balance;
  ProxyProtocolVersion sendProxyProtocol;
  PoolConfig pool;
  ClusterTimeouts timeouts;
  Retries retries;
  std::optional<HealthCheck> healthCheck;
  std::optional<OutlierDetection> outlierDetection;
  Readiness readiness;
};

struct Admin {
  HostPort address;  // probes and /metrics; everything when bound to loopback
  // A second listener for the control endpoints (/drain, /reload, /config, ...).
  std::optional<HostPort> controlAddress;
  std::string tokenFile;  // "" = none; else `Authorization: Bearer <token>` opens control
};

struct Limits {
  uint32_t maxConnections;  // downstream, all listeners together
};

struct Log {
  LogLevel level;
  std::string accessLog;  // "off", "stdout" or a file path
};

struct Dns {
  std::vector<HostPort> resolvers;  // empty = /etc/resolv.conf
};

struct Config {
  std::string sourcePath;  // the file it was loaded from ("" for strings)
  uint32_t workers;        // 0 = auto (CPU count)
  Duration drainDelay;
  Duration drainTimeout;
  Admin admin;
  Limits limits;
  Log log;
  Dns dns;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;

  const Cluster* findCluster(const std::string& name) const;
};

using ConfigPtr = std::shared_ptr<const Config>;

const char* toString(LogLevel);
const char* toString(Protocol);
const char* toString(Balance);
const char* toString(ProxyProtocolVersion);
const char* toString(HealthCheckType);
const char* toString(Readiness);

}  // namespace sluice::config
