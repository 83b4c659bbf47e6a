#include "metrics/collector.h"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <initializer_list>
#include <utility>

#include "core/clock.h"
#include "core/server.h"

namespace sluice::metrics {
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

 private:
  std::vector<MetricFamily>& out_;
};

}  // namespace

std::string render(const core::Server& server) {
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
  for (const auto& listener : runtime.listeners) {
    const auto& name = listener->config.name;
    const auto& c = listener->counters;
    b.add(dsActive, {{"listener", name}}, static_cast<double>(c.active.load()));
    b.add(dsTotal, {{"listener", name}}, static_cast<double>(c.accepted.load()));
    for (int r = 0; r < static_cast<int>(core::RejectReason::Count); ++r) {
      b.add(rejected,
            {{"listener", name}, {"reason", core::toString(static_cast<core::RejectReason>(r))}},
            static_cast<double>(c.rejected[r].load()));
    }
    b.add(bytes, {{"listener", name}, {"direction", "downstream_rx"}},
          static_cast<double>(c.bytesFromClients.load()));
    b.add(bytes, {{"listener", name}, {"direction", "downstream_tx"}},
          static_cast<double>(c.bytesToClients.load()));
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
  for (const auto& cluster : runtime.clusters) {
    const auto& cname = cluster->name();
    b.add(pending, {{"cluster", cname}}, cluster->admission()->pending());
    for (const auto& backend : cluster->backends()) {
      const auto& bname = backend->name();
      b.add(upActive, {{"cluster", cname}, {"backend", bname}}, backend->activeConnections());
      b.add(upIdle, {{"cluster", cname}, {"backend", bname}},
            static_cast<double>(backend->idleConnections.load()));
      b.add(connects, {{"cluster", cname}, {"backend", bname}},
            static_cast<double>(backend->counters.connectTotal.load()));
      for (auto reason : {upstream::ConnectFailure::Timeout, upstream::ConnectFailure::Refused,
                          upstream::ConnectFailure::Error}) {
        b.add(connectFailures,
              {{"cluster", cname}, {"backend", bname}, {"reason", upstream::toString(reason)}},
              static_cast<double>(
                  backend->counters.connectFailures[static_cast<int>(reason)].load()));
      }
      b.add(healthy, {{"cluster", cname}, {"backend", bname}}, backend->available(now) ? 1 : 0);
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

  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace sluice::metrics
