#include "config/loader.h"

#include <catch2/catch.hpp>

#include "config/defaults.h"

using namespace std::chrono_literals;
using namespace sluice::config;

namespace {

const std::string kMinimal =
    "listeners:\n"
    "  - name: web\n"
    "    address: 0.0.0.0:8080\n"
    "    cluster: legacy\n"
    "clusters:\n"
    "  - name: legacy\n"
    "    backends:\n"
    "      - address: 127.0.0.1:9000\n";

// Sets every key to a value other than its default.
const std::string kFull = R"(
workers: 4
drain_delay: 5s
drain_timeout: 1m
admin:
  address: "[::1]:9902"
limits:
  max_connections: 5000
log:
  level: debug
  access_log: /var/log/sluice/access.log
dns:
  resolvers: [10.0.0.10:53, "[fd00::53]:5353"]
listeners:
  - name: web
    address: 0.0.0.0:8080
    protocol: http
    cluster: api
    max_connections: 1000
    max_connections_per_ip: 10
    proxy_protocol: true
    proxy_protocol_timeout: 250ms
    proxy_protocol_trusted: [10.0.0.0/8, 127.0.0.1, "fd00::/8"]
    buffer_size: 16KiB
    timeouts:
      idle: 30s
      request_header: 5s
      request: 2m
      request_body: 0s
    http:
      max_header_size: 8K
      max_body_size: 1M
      max_header_count: 50
      request_buffer_size: 0
      forwarded_headers: append
      upgrade: [WebSocket, h2c]
  - name: db
    address: "[::]:6432"
    cluster: pg
clusters:
  - name: api
    backends:
      - address: 10.0.0.1:8000
        weight: 3
      - address: "api.internal:8000"
    resolve_interval: 10s
    balance: least_connections
    send_proxy_protocol: v2
    pool:
      max_connections: 16
      min_idle: 2
      idle_timeout: 3s
      max_lifetime: 1h
      max_requests: 500
      max_pending: 0
      queue_timeout: 0s
    timeouts:
      connect: 500ms
      idle: 10s
    retries:
      connect: 0
    health_check:
      type: http
      path: /ready?full=1
      expect_status: 204
      interval: 10s
      timeout: 10s
      healthy_threshold: 1
      unhealthy_threshold: 5
      initial_state: unhealthy
    outlier_detection:
      consecutive_failures: 3
      ejection_time: 10s
      max_ejection_time: 1m
      max_ejection_percent: 100
  - name: pg
    backends:
      - address: db:5432
    send_proxy_protocol: off
)";

ConfigPtr load(const std::string& yaml) {
  auto result = loadString(yaml, "t.yaml");
  for (const auto& error : result.errors)
    FAIL_CHECK(error.format());
  REQUIRE(result.ok());
  return result.config;
}

}  // namespace

TEST_CASE("a minimal config gets every documented default", "[config][loader]") {
  auto config = load(kMinimal);
  CHECK(config->sourcePath.empty());
  CHECK(config->workers == 0);
  CHECK(config->drainDelay == 0s);
  CHECK(config->drainTimeout == 30s);
  CHECK(config->admin.address.toString() == "127.0.0.1:9901");
  CHECK(config->limits.maxConnections == 100000);
  CHECK(config->log.level == LogLevel::Info);
  CHECK(config->log.accessLog == "off");
  CHECK(config->dns.resolvers.empty());

  REQUIRE(config->listeners.size() == 1);
  const auto& l = config->listeners[0];
  CHECK(l.name == "web");
  CHECK(l.address.toString() == "0.0.0.0:8080");
  CHECK(l.protocol == Protocol::Tcp);
  CHECK(l.cluster == "legacy");
  CHECK(l.maxConnections == 50000);
  CHECK(l.maxConnectionsPerIp == 0);
  CHECK_FALSE(l.proxyProtocol);
  CHECK(l.proxyProtocolTimeout == 5s);
  CHECK(l.proxyProtocolTrusted.empty());
  CHECK(l.bufferBytes == 64 * 1024);
  CHECK(l.timeouts.idle == 60s);
  CHECK(l.timeouts.requestHeader == 10s);
  CHECK(l.timeouts.request == 60s);
  CHECK(l.http.maxHeaderBytes == 64 * 1024);
  CHECK(l.http.maxBodyBytes == 0);
  CHECK(l.http.maxHeaderCount == 100);
  CHECK(l.timeouts.requestBody == 10s);
  CHECK(l.http.requestBufferBytes == 64 * 1024);
  CHECK(l.http.forwardedHeaders == ForwardedHeaders::Replace);
  CHECK(l.http.upgrade == std::vector<std::string>{"websocket"});

  REQUIRE(config->clusters.size() == 1);
  const auto& c = config->clusters[0];
  CHECK(c.name == "legacy");
  REQUIRE(c.backends.size() == 1);
  CHECK(c.backends[0].address.toString() == "127.0.0.1:9000");
  CHECK(c.backends[0].weight == 1);
  CHECK(c.resolveInterval == 30s);
  CHECK(c.balance == Balance::RoundRobin);
  CHECK(c.sendProxyProtocol == ProxyProtocolVersion::Off);
  CHECK(c.pool.maxConnections == 64);
  CHECK(c.pool.minIdle == 4);
  CHECK(c.pool.idleTimeout == 4s);
  CHECK(c.pool.maxLifetime == 10min);
  CHECK(c.pool.maxRequests == 10000);
  CHECK(c.pool.maxPending == 10000);
  CHECK(c.pool.queueTimeout == 5s);
  CHECK(c.timeouts.connect == 2s);
  CHECK(c.timeouts.idle == 60s);
  CHECK(c.retries.connect == 2);
  CHECK_FALSE(c.healthCheck);
  CHECK_FALSE(c.outlierDetection);
}

TEST_CASE("empty optional sections get their defaults", "[config][loader]") {
  auto config = load(kMinimal + "    health_check: {}\n    outlier_detection: {}\n");
  const auto& c = config->clusters[0];
  REQUIRE(c.healthCheck);
  CHECK(c.healthCheck->type == HealthCheckType::Tcp);
  CHECK(c.healthCheck->path == "/healthz");
  CHECK(c.healthCheck->expectStatusMin == 200);
  CHECK(c.healthCheck->expectStatusMax == 399);
  CHECK(c.healthCheck->interval == 5s);
  CHECK(c.healthCheck->timeout == 1s);
  CHECK(c.healthCheck->healthyThreshold == 2);
  CHECK(c.healthCheck->unhealthyThreshold == 3);
  CHECK(c.healthCheck->startHealthy);
  REQUIRE(c.outlierDetection);
  CHECK(c.outlierDetection->consecutiveFailures == 5);
  CHECK(c.outlierDetection->ejectionTime == 30s);
  CHECK(c.outlierDetection->maxEjectionTime == 300s);
  CHECK(c.outlierDetection->maxEjectionPercent == 50);
}

TEST_CASE("a full config sets every field", "[config][loader]") {
  auto config = load(kFull);
  CHECK(config->workers == 4);
  CHECK(config->drainDelay == 5s);
  CHECK(config->drainTimeout == 1min);
  CHECK(config->admin.address == HostPort{"::1", 9902, false});
  CHECK(config->limits.maxConnections == 5000);
  CHECK(config->log.level == LogLevel::Debug);
  CHECK(config->log.accessLog == "/var/log/sluice/access.log");
  REQUIRE(config->dns.resolvers.size() == 2);
  CHECK(config->dns.resolvers[1].toString() == "[fd00::53]:5353");

  REQUIRE(config->listeners.size() == 2);
  const auto& l = config->listeners[0];
  CHECK(l.protocol == Protocol::Http);
  CHECK(l.cluster == "api");
  CHECK(l.maxConnections == 1000);
  CHECK(l.maxConnectionsPerIp == 10);
  CHECK(l.proxyProtocol);
  CHECK(l.proxyProtocolTimeout == 250ms);
  REQUIRE(l.proxyProtocolTrusted.size() == 3);
  CHECK(l.proxyProtocolTrusted[0].toString() == "10.0.0.0/8");
  CHECK(l.proxyProtocolTrusted[1].toString() == "127.0.0.1/32");
  CHECK(l.proxyProtocolTrusted[2].toString() == "fd00::/8");
  CHECK(l.bufferBytes == 16 * 1024);
  CHECK(l.timeouts.idle == 30s);
  CHECK(l.timeouts.requestHeader == 5s);
  CHECK(l.timeouts.request == 2min);
  CHECK(l.http.maxHeaderBytes == 8 * 1024);
  CHECK(l.http.maxBodyBytes == 1024 * 1024);
  CHECK(l.http.maxHeaderCount == 50);
  CHECK(l.timeouts.requestBody == 0s);
  CHECK(l.http.requestBufferBytes == 0);
  CHECK(l.http.forwardedHeaders == ForwardedHeaders::Append);
  CHECK(l.http.upgrade == std::vector<std::string>{"websocket", "h2c"});
  CHECK(config->listeners[1].address.toString() == "[::]:6432");

  REQUIRE(config->clusters.size() == 2);
  const auto& c = config->clusters[0];
  REQUIRE(c.backends.size() == 2);
  CHECK(c.backends[0].weight == 3);
  CHECK(c.backends[1].address.isName);
  CHECK(c.backends[1].address.host == "api.internal");
  CHECK(c.resolveInterval == 10s);
  CHECK(c.balance == Balance::LeastConnections);
  CHECK(c.sendProxyProtocol == ProxyProtocolVersion::V2);
  CHECK(c.pool.maxConnections == 16);
  CHECK(c.pool.minIdle == 2);
  CHECK(c.pool.idleTimeout == 3s);
  CHECK(c.pool.maxLifetime == 1h);
  CHECK(c.pool.maxRequests == 500);
  CHECK(c.pool.maxPending == 0);
  CHECK(c.pool.queueTimeout == 0s);
  CHECK(c.timeouts.connect == 500ms);
  CHECK(c.timeouts.idle == 10s);
  CHECK(c.retries.connect == 0);
  REQUIRE(c.healthCheck);
  CHECK(c.healthCheck->type == HealthCheckType::Http);
  CHECK(c.healthCheck->path == "/ready?full=1");
  CHECK(c.healthCheck->expectStatusMin == 204);
  CHECK(c.healthCheck->expectStatusMax == 204);
  CHECK(c.healthCheck->interval == 10s);
  CHECK(c.healthCheck->timeout == 10s);
  CHECK(c.healthCheck->healthyThreshold == 1);
  CHECK(c.healthCheck->unhealthyThreshold == 5);
  CHECK_FALSE(c.healthCheck->startHealthy);
  REQUIRE(c.outlierDetection);
  CHECK(c.outlierDetection->consecutiveFailures == 3);
  CHECK(c.outlierDetection->ejectionTime == 10s);
  CHECK(c.outlierDetection->maxEjectionTime == 1min);
  CHECK(c.outlierDetection->maxEjectionPercent == 100);
  CHECK(config->clusters[1].sendProxyProtocol == ProxyProtocolVersion::Off);
  CHECK(config->findCluster("pg") == &config->clusters[1]);
  CHECK(config->findCluster("nope") == nullptr);
}

TEST_CASE("the JSON form of a config loads back to the same config", "[config][loader]") {
  for (const std::string& yaml : {kMinimal, kFull}) {
    auto config = load(yaml);
    const std::string json = toJson(*config);
    auto again = load(json);
    CHECK(toJson(*again) == json);
  }
}

TEST_CASE("the JSON form spells durations, enums and absent sections like the YAML",
          "[config][loader]") {
  const std::string json = toJson(*load(kFull));
  CHECK(json.starts_with("{\n  \"workers\": 4,\n  \"drain_delay\": \"5s\",\n"));
  CHECK(json.find("\"address\": \"[::1]:9902\"") != std::string::npos);
  CHECK(json.find("\"proxy_protocol_timeout\": \"250ms\"") != std::string::npos);
  CHECK(json.find("\"balance\": \"least_connections\"") != std::string::npos);
  CHECK(json.find("\"expect_status\": \"204\"") != std::string::npos);
  CHECK(json.find("\"initial_state\": \"unhealthy\"") != std::string::npos);
  CHECK(json.find("\"buffer_size\": 16384") != std::string::npos);
  CHECK(json.find("\"max_header_count\": 50") != std::string::npos);
  CHECK(json.find("\"max_lifetime\": \"1h\"") != std::string::npos);
  CHECK(toJson(*load(kMinimal)).find("\"workers\": \"auto\"") != std::string::npos);
  CHECK(toJson(*load(kMinimal)).find("health_check") == std::string::npos);
}

TEST_CASE("the JSON form escapes strings from the file", "[config][loader]") {
  auto config = load("log:\n  access_log: \"/tmp/a \\\"b\\\"\\\\c\\t.log\"\n" + kMinimal);
  CHECK(config->log.accessLog == "/tmp/a \"b\"\\c\t.log");
  CHECK(toJson(*config).find(R"("access_log": "/tmp/a \"b\"\\c\t.log")") != std::string::npos);
}

TEST_CASE("the summary counts listeners, clusters and backends with plurals", "[config][loader]") {
  CHECK(summarize(*load(kMinimal)) == "config ok: 1 listener, 1 cluster, 1 backend");
  CHECK(summarize(*load(kFull)) == "config ok: 2 listeners, 2 clusters, 3 backends");
}

TEST_CASE("off, stdout and paths are access_log values", "[config][loader]") {
  CHECK(load("log:\n  access_log: off\n" + kMinimal)->log.accessLog == "off");
  CHECK(load("log:\n  access_log: stdout\n" + kMinimal)->log.accessLog == "stdout");
  CHECK(load("log:\n  access_log: 'off'\n" + kMinimal)->log.accessLog == "off");
  CHECK(load("log:\n  access_log: logs/a.log\n" + kMinimal)->log.accessLog == "logs/a.log");
}

TEST_CASE("quoted numbers, sizes and durations are accepted", "[config][loader]") {
  auto config = load("workers: \"2\"\ndrain_timeout: '0'\n" + kMinimal);
  CHECK(config->workers == 2);
  CHECK(config->drainTimeout == 0s);
}

TEST_CASE("a loaded file remembers its path", "[config][loader]") {
  auto result = loadFile(SLUICE_SOURCE_DIR "/config/sluice.yaml");
  REQUIRE(result.ok());
  CHECK(result.config->sourcePath == SLUICE_SOURCE_DIR "/config/sluice.yaml");
}

TEST_CASE("enums print as the YAML spells them", "[config][loader]") {
  CHECK(std::string(toString(LogLevel::Warn)) == "warn");
  CHECK(std::string(toString(Protocol::Http)) == "http");
  CHECK(std::string(toString(Balance::HashClientIp)) == "hash_client_ip");
  CHECK(std::string(toString(Balance::RandomTwo)) == "random_two");
  CHECK(std::string(toString(ProxyProtocolVersion::V1)) == "v1");
  CHECK(std::string(toString(HealthCheckType::Tcp)) == "tcp");
}

TEST_CASE("errors format with and without a position", "[config][loader]") {
  CHECK(ConfigError{"a.yaml", 3, 7, "bad"}.format() == "a.yaml:3:7: bad");
  CHECK(ConfigError{"a.yaml", 0, 0, "cannot read: x"}.format() == "a.yaml: cannot read: x");
}

TEST_CASE("hostile YAML neither crashes nor loops", "[config][loader]") {
  const std::string nested(5000, '[');
  for (const std::string& yaml :
       {nested, std::string("a: &x [*x]\n"), std::string("listeners: &l [*l]\n") + kMinimal,
        std::string("\xff\xfe\x00\x01", 4), std::string("*unknown\n"), std::string("!!binary x"),
        std::string("listeners: !!map {}\n"), std::string("? \n"), std::string("{a: 1, a: 2}"),
        // yaml-cpp's LoadAll loops forever on this one:
        std::string("&a c\n? ")}) {
    auto result = loadString(yaml, "h.yaml");
    CHECK_FALSE(result.ok());
    CHECK_FALSE(result.errors.empty());
  }
}

TEST_CASE("admin control address, token file and cluster readiness load and print",
          "[config][loader]") {
  const std::string yaml =
      "admin:\n  address: 0.0.0.0:9901\n  control_address: 127.0.0.1:9902\n"
      "  token_file: /run/secrets/sluice-admin-token\n" +
      kMinimal + "    readiness: requires_backend\n";
  auto config = load(yaml);
  REQUIRE(config->admin.controlAddress);
  CHECK(config->admin.controlAddress->toString() == "127.0.0.1:9902");
  CHECK(config->admin.tokenFile == "/run/secrets/sluice-admin-token");
  CHECK(config->clusters[0].readiness == Readiness::RequiresBackend);
  const std::string json = toJson(*config);
  CHECK(json.find("\"control_address\": \"127.0.0.1:9902\"") != std::string::npos);
  CHECK(json.find("\"readiness\": \"requires_backend\"") != std::string::npos);
  CHECK(toJson(*load(json)) == json);

  auto plain = load(kMinimal);
  CHECK_FALSE(plain->admin.controlAddress);
  CHECK(plain->admin.tokenFile.empty());
  CHECK(plain->clusters[0].readiness == defaults::kReadiness);
  CHECK(toJson(*plain).find("control_address") == std::string::npos);
}
