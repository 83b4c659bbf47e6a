#include "admin/stats_json.h"

#include "core/clock.h"
#include "core/json_writer.h"
#include "process/server.h"

namespace sluice::admin {

std::string statsJson(const process::Server& server) {
  const auto& runtime = *server.runtime();
  const int64_t now = core::monotonicMs();
  core::JsonWriter w;
  w.beginObject();
  w.key("version").value(SLUICE_VERSION);
  w.key("draining").value(server.draining());
  w.key("ready").value(server.ready());
  w.key("workers").value(static_cast<uint64_t>(server.workers().size()));
  w.key("sessions").value(server.sessionCount());
  w.key("downstream_active").value(server.shared().downstreamActive.load());
  w.key("max_connections").value(server.config()->limits.maxConnections);
  w.key("config_reloads").beginObject();
  w.key("success").value(server.reloadsSucceeded());
  w.key("failure").value(server.reloadsFailed());
  w.endObject();
  w.key("access_log").beginObject();
  w.key("target").value(server.config()->log.accessLog);
  w.key("written").value(server.accessLog().written());
  w.key("dropped").value(server.accessLog().dropped());
  w.key("write_errors").value(server.accessLog().writeErrors());
  w.endObject();

  w.key("listeners").beginArray();
  for (const auto& listener : runtime.listeners) {
    const auto& c = listener->counters;
    w.beginObject();
    w.key("name").value(listener->config.name);
    w.key("address").value(listener->config.address.toString());
    w.key("protocol").value(config::toString(listener->config.protocol));
    w.key("cluster").value(listener->config.cluster);
    w.key("active").value(c.active.load());
    w.key("max_connections").value(listener->config.maxConnections);
    w.key("accepted").value(c.accepted.load());
    w.key("rejected").beginObject();
    for (int r = 0; r < static_cast<int>(process::RejectReason::Count); ++r) {
      w.key(process::toString(static_cast<process::RejectReason>(r))).value(c.rejected[r].load());
    }
    w.endObject();
    w.key("proxy_protocol_errors").value(c.proxyProtocolErrors.load());
    w.key("bytes_downstream_rx").value(c.bytesFromClients.load());
    w.key("bytes_downstream_tx").value(c.bytesToClients.load());
    w.endObject();
  }
  w.endArray();

  w.key("clusters").beginArray();
  for (const auto& cluster : runtime.clusters) {
    w.beginObject();
    w.key("name").value(cluster->name());
    w.key("pending").value(cluster->admission()->pending());
    w.key("max_pending").value(cluster->admission()->maxPending());
    w.key("queue_full").value(cluster->counters.queueFull.load());
    w.key("queue_timeout").value(cluster->counters.queueTimeout.load());
    w.key("queued").value(cluster->counters.queued.load());
    w.key("no_healthy_backend").value(cluster->counters.noHealthyBackend.load());
    w.key("reuses").value(cluster->counters.reuses.load());
    w.key("connects").value(cluster->counters.connectDuration.snapshot().count);
    w.key("ejections").value(cluster->outlier().ejectionsTotal());
    w.key("resolve_ok").value(cluster->counters.resolveOk.load());
    w.key("resolve_failures").value(cluster->counters.resolveFailures.load());
    w.key("backends").beginArray();
    for (const auto& backend : cluster->backends()) {
      const uint64_t active = backend->activeConnections();
      const int64_t idle = backend->idleConnections.load();
      w.beginObject();
      w.key("address").value(backend->name());
      w.key("healthy").value(backend->healthy());
      w.key("ejected").value(backend->ejectedUntilMs() > now);
      w.key("available").value(backend->available(now));
      w.key("connections").value(active);
      w.key("idle").value(idle);
      w.key("busy").value(static_cast<int64_t>(active) - idle);
      w.key("max_connections").value(backend->maxConnections());
      w.key("connect_total").value(backend->counters.connectTotal.load());
      uint64_t failures = 0;
      for (const auto& f : backend->counters.connectFailures)
        failures += f.load();
      w.key("connect_failures").value(failures);
      w.key("health_checks_ok").value(backend->counters.healthChecksOk.load());
      w.key("health_checks_failed").value(backend->counters.healthChecksFailed.load());
      w.endObject();
    }
    w.endArray();
    w.endObject();
  }
  w.endArray();
  w.endObject();
  return w.str() + "\n";
}

}  // namespace sluice::admin
