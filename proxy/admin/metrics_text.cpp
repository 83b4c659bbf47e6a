#include "admin/metrics_text.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <initializer_list>
#include <limits>
#include <utility>

#include "core/clock.h"
#include "core/log.h"
#include "metrics/histogram.h"
#include "process/server.h"

namespace sluice::admin {

using metrics::Histogram;

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::initializer_list<std::pair<const char*, std::string>>;

class FamilyBuilder {
 public:
  explicit FamilyBuilder(std::vector<MetricFamily>& out) : out_(out) {}

  MetricFamily& family(const char* name, const char* help, MetricType type) {
    out_.push_back(MetricFamily{std::string("sluice_") + name, help, type, {}});
    return out_.back();
  }
  static void add(MetricFamily& family, Labels labels, double value) {
    ClientMetric metric;
    for (const auto& [name, v] : labels)
      metric.label.push_back({name, v});
    if (family.type == MetricType::Counter) {
      metric.counter.value = value;
    } else {
      metric.gauge.value = value;
    }
    family.metric.push_back(std::move(metric));
  }
  static void addHistogram(MetricFamily& family, Labels labels, const Histogram& histogram) {
    ClientMetric metric;
    for (const auto& [name, v] : labels)
      metric.label.push_back({name, v});
    const auto snap = histogram.snapshot();
    metric.histogram.sample_count = snap.count;
    metric.histogram.sample_sum = snap.sum;
    for (size_t i = 0; i < snap.bounds.size(); ++i) {
      metric.histogram.bucket.push_back({snap.cumulative[i], snap.bounds[i]});
    }
    metric.histogram.bucket.push_back(
        {snap.cumulative.back(), std::numeric_limits<double>::infinity()});
    family.metric.push_back(std::move(metric));
  }

 private:
  std::vector<MetricFamily>& out_;
};

}  // namespace

std::string renderMetrics(const process::Server& server) {
  const auto& runtime = *server.runtime();
  const auto& config = *server.config();
  const int64_t now = core::monotonicMs();
  std::vector<MetricFamily> families;
  families.reserve(32);
  FamilyBuilder b(families);

  auto& buildInfo =
      b.family("build_info", "sluice build information (always 1)", MetricType::Gauge);
  b.add(buildInfo, {{"version", SLUICE_VERSION}}, 1);

  auto& dsActive = b.family("downstream_connections_active", "Downstream connections open now",
                            MetricType::Gauge);
  auto& dsTotal = b.family("downstream_connections_total", "Downstream connections accepted",
                           MetricType::Counter);
  auto& rejected =
      b.family("downstream_rejected_total",
               "Downstream connections refused or closed early, by reason", MetricType::Counter);
  auto& bytes =
      b.family("bytes_total", "Bytes relayed to and from downstream clients", MetricType::Counter);
  auto& requests = b.family("requests_total", "http: responses sent to clients, by status code",
                            MetricType::Counter);
  auto& requestDuration = b.family("request_duration_seconds",
                                   "http: request start to response end", MetricType::Histogram);
  for (const auto& listener : runtime.listeners) {
    const auto& name = listener->config.name;
    const auto& c = listener->counters;
    b.add(dsActive, {{"listener", name}}, static_cast<double>(c.active.load()));
    b.add(dsTotal, {{"listener", name}}, static_cast<double>(c.accepted.load()));
    for (int r = 0; r < static_cast<int>(process::RejectReason::Count); ++r) {
      b.add(rejected,
            {{"listener", name},
             {"reason", process::toString(static_cast<process::RejectReason>(r))}},
            static_cast<double>(c.rejected[r].load()));
    }
    b.add(bytes, {{"listener", name}, {"direction", "downstream_rx"}},
          static_cast<double>(c.bytesFromClients.load()));
    b.add(bytes, {{"listener", name}, {"direction", "downstream_tx"}},
          static_cast<double>(c.bytesToClients.load()));
    if (listener->config.protocol != config::Protocol::Http) continue;
    const auto& codes = listener->requests;
    for (int code = process::RequestCounters::kMinCode; code <= process::RequestCounters::kMaxCode;
         ++code) {
      const uint64_t n = codes.byCode[code - process::RequestCounters::kMinCode].load();
      if (n != 0) {
        b.add(requests, {{"listener", name}, {"code", std::to_string(code)}},
              static_cast<double>(n));
      }
    }
    if (const uint64_t n = codes.other.load(); n != 0) {
      b.add(requests, {{"listener", name}, {"code", "other"}}, static_cast<double>(n));
    }
    b.addHistogram(requestDuration, {{"listener", name}}, listener->requestDuration);
  }

  auto& upActive =
      b.family("upstream_connections_active",
               "Upstream connections open now (connecting, idle or busy)", MetricType::Gauge);
  auto& upIdle = b.family("upstream_connections_idle", "Upstream connections idle in the pools",
                          MetricType::Gauge);
  auto& connects =
      b.family("upstream_connect_total", "Upstream connect attempts", MetricType::Counter);
  auto& connectFailures =
      b.family("upstream_connect_failures_total",
               "Upstream connect attempts that failed, by reason", MetricType::Counter);
  auto& healthy =
      b.family("backend_healthy", "1 when the backend takes new traffic", MetricType::Gauge);
  auto& pending = b.family("pool_pending", "Sessions or requests waiting for an upstream slot",
                           MetricType::Gauge);
  auto& healthChecks =
      b.family("health_checks_total", "Active health checks, by result", MetricType::Counter);
  auto& connectDuration = b.family("upstream_connect_duration_seconds",
                                   "Time to open an upstream connection", MetricType::Histogram);
  auto& poolWait = b.family("pool_wait_duration_seconds",
                            "Time queued sessions or requests waited for an upstream slot",
                            MetricType::Histogram);
  auto& perConnection = b.family("upstream_requests_per_connection",
                                 "http: requests served per upstream connection, at its close",
                                 MetricType::Histogram);
  auto& reuses =
      b.family("upstream_connection_reuses_total",
               "http: requests sent on an already used upstream connection", MetricType::Counter);
  for (const auto& cluster : runtime.clusters) {
    const auto& cname = cluster->name();
    b.add(pending, {{"cluster", cname}}, cluster->admission()->pending());
    b.addHistogram(connectDuration, {{"cluster", cname}}, cluster->counters.connectDuration);
    b.addHistogram(poolWait, {{"cluster", cname}}, cluster->counters.poolWait);
    b.addHistogram(perConnection, {{"cluster", cname}}, cluster->counters.requestsPerConnection);
    b.add(reuses, {{"cluster", cname}}, static_cast<double>(cluster->counters.reuses.load()));
    for (const auto& backend : cluster->backends()) {
      const auto& bname = backend->name();
      b.add(upActive, {{"cluster", cname}, {"backend", bname}}, backend->activeConnections());
      b.add(upIdle, {{"cluster", cname}, {"backend", bname}},
            static_cast<double>(backend->idleConnections.load()));
      b.add(connects, {{"cluster", cname}, {"backend", bname}},
            static_cast<double>(backend->counters.connectTotal.load()));
      for (auto reason : {upstream::ConnectFailure::Timeout, upstream::ConnectFailure::Refused,
                          upstream::ConnectFailure::Error, upstream::ConnectFailure::Local}) {
        b.add(connectFailures,
              {{"cluster", cname}, {"backend", bname}, {"reason", upstream::toString(reason)}},
              static_cast<double>(
                  backend->counters.connectFailures[static_cast<int>(reason)].load()));
      }
      b.add(healthy, {{"cluster", cname}, {"backend", bname}}, backend->available(now) ? 1 : 0);
      b.add(healthChecks, {{"cluster", cname}, {"backend", bname}, {"result", "ok"}},
            static_cast<double>(backend->counters.healthChecksOk.load()));
      b.add(healthChecks, {{"cluster", cname}, {"backend", bname}, {"result", "failed"}},
            static_cast<double>(backend->counters.healthChecksFailed.load()));
    }
  }

  auto& limit =
      b.family("limit", "Each configured limit, to plot use against it", MetricType::Gauge);
  b.add(limit, {{"scope", "global"}, {"name", "max_connections"}}, config.limits.maxConnections);
  for (const auto& listener : config.listeners) {
    b.add(limit, {{"scope", "listener:" + listener.name}, {"name", "max_connections"}},
          listener.maxConnections);
    b.add(limit, {{"scope", "listener:" + listener.name}, {"name", "max_connections_per_ip"}},
          listener.maxConnectionsPerIp);
  }
  for (const auto& cluster : config.clusters) {
    b.add(limit, {{"scope", "cluster:" + cluster.name}, {"name", "pool_max_connections"}},
          cluster.pool.maxConnections);
    b.add(limit, {{"scope", "cluster:" + cluster.name}, {"name", "pool_max_pending"}},
          cluster.pool.maxPending);
  }

  auto& reloads =
      b.family("config_reloads_total", "Configuration reloads, by result", MetricType::Counter);
  b.add(reloads, {{"result", "success"}}, static_cast<double>(server.reloadsSucceeded()));
  b.add(reloads, {{"result", "failure"}}, static_cast<double>(server.reloadsFailed()));
  auto& stderrDropped = b.family(
      "log_dropped_total", "Log lines dropped because stderr (a full pipe) could not take them",
      MetricType::Counter);
  b.add(stderrDropped, {}, static_cast<double>(log::droppedLines()));
  auto& logDropped =
      b.family("access_log_dropped_total",
               "Access log lines dropped (buffer full or file not writable)", MetricType::Counter);
  b.add(logDropped, {}, static_cast<double>(server.accessLog().dropped()));
  auto& logErrors = b.family("access_log_write_errors_total", "Access log open or write failures",
                             MetricType::Counter);
  b.add(logErrors, {}, static_cast<double>(server.accessLog().writeErrors()));

  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace sluice::admin
