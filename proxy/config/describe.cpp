// The two read-outs of a loaded config: the one-line summary `sluice check`
// prints, and the effective config as JSON for GET /config. The JSON uses
// the YAML key names and spellings (durations "5s", statuses "200-399",
// workers "auto"), so it is itself a valid sluice config that loads back to
// the same Config.

#include <numeric>

#include "config/loader.h"
#include "config/units.h"
#include "core/json_writer.h"

namespace sluice::config {

using core::JsonWriter;
namespace {

std::string counted(size_t n, const char* singular, const char* plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

void writeDuration(JsonWriter& json, std::string_view key, Duration value) {
  json.key(key).value(formatDuration(value));
}

void writeListener(JsonWriter& json, const Listener& l) {
  json.beginObject();
  json.key("name").value(l.name);
  json.key("address").value(l.address.toString());
  json.key("protocol").value(toString(l.protocol));
  json.key("cluster").value(l.cluster);
  json.key("max_connections").value(l.maxConnections);
  json.key("max_connections_per_ip").value(l.maxConnectionsPerIp);
  json.key("proxy_protocol").value(l.proxyProtocol);
  writeDuration(json, "proxy_protocol_timeout", l.proxyProtocolTimeout);
  json.key("proxy_protocol_trusted").beginArray();
  for (const auto& network : l.proxyProtocolTrusted)
    json.value(network.toString());
  json.endArray();
  json.key("buffer_size").value(l.bufferBytes);
  json.key("timeouts").beginObject();
  writeDuration(json, "idle", l.timeouts.idle);
  writeDuration(json, "request_header", l.timeouts.requestHeader);
  writeDuration(json, "request", l.timeouts.request);
  writeDuration(json, "request_body", l.timeouts.requestBody);
  json.endObject();
  json.key("http").beginObject();
  json.key("max_header_size").value(l.http.maxHeaderBytes);
  json.key("max_body_size").value(l.http.maxBodyBytes);
  json.key("max_header_count").value(l.http.maxHeaderCount);
  json.key("request_buffer_size").value(l.http.requestBufferBytes);
  json.key("forwarded_headers")
      .value(l.http.forwardedHeaders == ForwardedHeaders::Append ? "append" : "replace");
  json.key("upgrade").beginArray();
  for (const std::string& protocol : l.http.upgrade)
    json.value(protocol);
  json.endArray();
  json.endObject();
  json.endObject();
}

void writeHealthCheck(JsonWriter& json, const HealthCheck& check) {
  json.key("health_check").beginObject();
  json.key("type").value(toString(check.type));
  if (check.type == HealthCheckType::Http) {
    json.key("path").value(check.path);
    std::string status = std::to_string(check.expectStatusMin);
    if (check.expectStatusMax != check.expectStatusMin) {
      status += "-" + std::to_string(check.expectStatusMax);
    }
    json.key("expect_status").value(status);
  }
  writeDuration(json, "interval", check.interval);
  writeDuration(json, "timeout", check.timeout);
  json.key("healthy_threshold").value(check.healthyThreshold);
  json.key("unhealthy_threshold").value(check.unhealthyThreshold);
  json.key("initial_state").value(check.startHealthy ? "healthy" : "unhealthy");
  json.endObject();
}

void writeCluster(JsonWriter& json, const Cluster& c) {
  json.beginObject();
  json.key("name").value(c.name);
  json.key("backends").beginArray();
  for (const auto& backend : c.backends) {
    json.beginObject();
    json.key("address").value(backend.address.toString());
    json.key("weight").value(backend.weight);
    json.endObject();
  }
  json.endArray();
  writeDuration(json, "resolve_interval", c.resolveInterval);
  json.key("balance").value(toString(c.balance));
  json.key("send_proxy_protocol").value(toString(c.sendProxyProtocol));
  json.key("pool").beginObject();
  json.key("max_connections").value(c.pool.maxConnections);
  json.key("min_idle").value(c.pool.minIdle);
  writeDuration(json, "idle_timeout", c.pool.idleTimeout);
  writeDuration(json, "max_lifetime", c.pool.maxLifetime);
  json.key("max_requests").value(c.pool.maxRequests);
  json.key("max_pending").value(c.pool.maxPending);
  writeDuration(json, "queue_timeout", c.pool.queueTimeout);
  json.endObject();
  json.key("timeouts").beginObject();
  writeDuration(json, "connect", c.timeouts.connect);
  writeDuration(json, "idle", c.timeouts.idle);
  json.endObject();
  json.key("retries").beginObject();
  json.key("connect").value(c.retries.connect);
  json.endObject();
  if (c.healthCheck) writeHealthCheck(json, *c.healthCheck);
  if (c.outlierDetection) {
    const auto& o = *c.outlierDetection;
    json.key("outlier_detection").beginObject();
    json.key("consecutive_failures").value(o.consecutiveFailures);
    writeDuration(json, "ejection_time", o.ejectionTime);
    writeDuration(json, "max_ejection_time", o.maxEjectionTime);
    json.key("max_ejection_percent").value(o.maxEjectionPercent);
    json.endObject();
  }
  json.key("readiness").value(toString(c.readiness));
  json.endObject();
}

}  // namespace

std::string summarize(const Config& config) {
  const size_t backends =
      std::accumulate(config.clusters.begin(), config.clusters.end(), size_t{0},
                      [](size_t sum, const Cluster& c) { return sum + c.backends.size(); });
  return "config ok: " + counted(config.listeners.size(), "listener", "listeners") + ", " +
         counted(config.clusters.size(), "cluster", "clusters") + ", " +
         counted(backends, "backend", "backends");
}

std::string toJson(const Config& config) {
  JsonWriter json(JsonWriter::Layout::Indented);
  json.beginObject();
  if (config.workers == 0) {
    json.key("workers").value("auto");
  } else {
    json.key("workers").value(config.workers);
  }
  writeDuration(json, "drain_delay", config.drainDelay);
  writeDuration(json, "drain_timeout", config.drainTimeout);
  json.key("admin").beginObject();
  json.key("address").value(config.admin.address.toString());
  if (config.admin.controlAddress) {
    json.key("control_address").value(config.admin.controlAddress->toString());
  }
  if (!config.admin.tokenFile.empty()) json.key("token_file").value(config.admin.tokenFile);
  json.endObject();
  json.key("limits").beginObject();
  json.key("max_connections").value(config.limits.maxConnections);
  json.endObject();
  json.key("log").beginObject();
  json.key("level").value(toString(config.log.level));
  json.key("access_log").value(config.log.accessLog);
  json.endObject();
  json.key("dns").beginObject();
  json.key("resolvers").beginArray();
  for (const auto& resolver : config.dns.resolvers)
    json.value(resolver.toString());
  json.endArray();
  json.endObject();
  json.key("listeners").beginArray();
  for (const auto& listener : config.listeners)
    writeListener(json, listener);
  json.endArray();
  json.key("clusters").beginArray();
  for (const auto& cluster : config.clusters)
    writeCluster(json, cluster);
  json.endArray();
  json.endObject();
  return json.take() + "\n";
}

}  // namespace sluice::config
