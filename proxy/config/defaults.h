#pragma once

// Every default and every bound of the config, in one place. loader.cpp and
// sections.cpp start each struct from these values and then apply what the
// YAML says; config/sluice.yaml documents the same numbers for users, and
// tests/unit/config/examples_test.cpp keeps the two in step.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "config/config.h"

namespace sluice::config::defaults {

using namespace std::chrono_literals;

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// --- top level ---------------------------------------------------------------
inline constexpr uint32_t kWorkers = 0;  // auto: one per CPU
inline constexpr Duration kDrainDelay = 0s;
inline constexpr Duration kDrainTimeout = 30s;
inline constexpr std::string_view kAdminHost = "127.0.0.1";
inline constexpr uint16_t kAdminPort = 9901;
// admin.control_address: none; admin.token_file: none.
inline constexpr uint32_t kGlobalMaxConnections = 100000;
inline constexpr LogLevel kLogLevel = LogLevel::Info;
inline constexpr std::string_view kAccessLog = "off";

// --- listeners ---------------------------------------------------------------
inline constexpr Protocol kProtocol = Protocol::Tcp;
inline constexpr uint32_t kListenerMaxConnections = 50000;
inline constexpr uint32_t kMaxConnectionsPerIp = 0;  // unlimited
inline constexpr bool kProxyProtocol = false;
inline constexpr Duration kProxyProtocolTimeout = 5s;
// proxy_protocol_trusted defaults to empty: any source may send a header.
inline constexpr uint64_t kBufferBytes = 64 * kKiB;
inline constexpr Duration kListenerIdleTimeout = 60s;
inline constexpr Duration kRequestHeaderTimeout = 10s;
inline constexpr Duration kRequestTimeout = 60s;
inline constexpr uint64_t kMaxHeaderBytes = 64 * kKiB;
inline constexpr uint64_t kMaxBodyBytes = 0;      // unlimited
inline constexpr uint32_t kMaxHeaderCount = 100;  // like Envoy and HAProxy
inline constexpr Duration kRequestBodyTimeout = 10s;
inline constexpr uint64_t kRequestBufferBytes = 64 * kKiB;
inline constexpr ForwardedHeaders kForwardedHeaders = ForwardedHeaders::Replace;
inline constexpr std::string_view kUpgradeProtocol = "websocket";  // the only one by default

// --- clusters ----------------------------------------------------------------
inline constexpr uint32_t kWeight = 1;
inline constexpr Duration kResolveInterval = 30s;
inline constexpr Balance kBalance = Balance::RoundRobin;
inline constexpr ProxyProtocolVersion kSendProxyProtocol = ProxyProtocolVersion::Off;
inline constexpr uint32_t kPoolMaxConnections = 64;
inline constexpr uint32_t kPoolMinIdle = 4;
inline constexpr Duration kPoolIdleTimeout = 4s;
inline constexpr Duration kPoolMaxLifetime = 10min;
inline constexpr uint64_t kPoolMaxRequests = 10000;
inline constexpr uint32_t kPoolMaxPending = 10000;
inline constexpr Duration kPoolQueueTimeout = 5s;
inline constexpr Duration kConnectTimeout = 2s;
inline constexpr Duration kClusterIdleTimeout = 60s;
inline constexpr uint32_t kConnectRetries = 2;
inline constexpr Readiness kReadiness = Readiness::Independent;

// --- health_check (only when the section is present) -------------------------
inline constexpr HealthCheckType kHealthCheckType = HealthCheckType::Tcp;
inline constexpr std::string_view kHealthCheckPath = "/healthz";
inline constexpr int kExpectStatusMin = 200;
inline constexpr int kExpectStatusMax = 399;
inline constexpr Duration kHealthCheckInterval = 5s;
inline constexpr Duration kHealthCheckTimeout = 1s;
inline constexpr uint32_t kHealthyThreshold = 2;
inline constexpr uint32_t kUnhealthyThreshold = 3;
inline constexpr bool kStartHealthy = true;

// --- outlier_detection (only when the section is present) --------------------
inline constexpr uint32_t kConsecutiveFailures = 5;
inline constexpr Duration kEjectionTime = 30s;
inline constexpr Duration kMaxEjectionTime = 300s;
inline constexpr uint32_t kMaxEjectionPercent = 50;

// --- bounds ------------------------------------------------------------------
// Inclusive ranges the loader enforces. Durations are also capped at
// kMaxDuration so that converting them to any finer unit cannot overflow.
inline constexpr Duration kMaxDuration = 8760h;  // one year
inline constexpr Duration kMinResolveInterval = 100ms;
inline constexpr uint32_t kMaxWorkers = 256;
inline constexpr uint32_t kMaxConnectionsLimit = 10000000;
inline constexpr uint32_t kMaxWeight = 1000;
inline constexpr uint64_t kMinBufferBytes = 1 * kKiB;
inline constexpr uint64_t kMaxBufferBytes = 1 * kGiB;
inline constexpr uint64_t kMinHeaderBytes = 1 * kKiB;
inline constexpr uint64_t kMaxHeaderBytesLimit = 16 * kMiB;
inline constexpr uint32_t kMaxHeaderCountLimit = 10000;
inline constexpr uint32_t kMaxPoolConnections = 100000;
inline constexpr uint32_t kMaxPendingLimit = 10000000;
inline constexpr uint32_t kMaxRetries = 10;
inline constexpr uint32_t kMaxThreshold = 1000;
inline constexpr int kMinStatus = 100;
inline constexpr int kMaxStatus = 599;
inline constexpr size_t kMaxNameLength = 64;
// A config file larger than this is refused before it is read.
inline constexpr uint64_t kMaxConfigFileBytes = 16 * kMiB;

}  // namespace sluice::config::defaults
