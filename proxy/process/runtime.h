#pragma once

// Runtime: the objects one config snapshot needs at run time, built on the
// main thread and then shared read-only by every worker.
//
// Owner: the Server (current snapshot) and every session started under it
// (shared_ptr), so a reload can swap snapshots while old sessions finish on
// theirs. Thread: any; the only mutable parts are atomics and the
// mutex-sharded per-IP table.

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "metrics/histogram.h"
#include "net/address.h"
#include "upstream/cluster.h"

namespace sluice::process {

// Untrusted: a proxy_protocol listener's peer outside proxy_protocol_trusted.
enum class RejectReason {
  MaxConnections,
  PerIp,
  QueueFull,
  QueueTimeout,
  Draining,
  Untrusted,
  Count
};
const char* toString(RejectReason);

struct ListenerCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> rejected[static_cast<int>(RejectReason::Count)]{};
  std::atomic<uint64_t> bytesFromClients{0};  // downstream_rx
  std::atomic<uint64_t> bytesToClients{0};    // downstream_tx
  std::atomic<uint64_t> acceptErrors{0};
  std::atomic<uint64_t> proxyProtocolErrors{0};  // missing, malformed or late PROXY headers
};

// Connections per client IP across all workers. Sharded so two workers
// rarely contend; only used when a listener sets max_connections_per_ip.
class PerIpTable {
 public:
  bool tryAdd(const net::SocketAddress& client, uint32_t limit);
  void remove(const net::SocketAddress& client);

 private:
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, uint32_t> counts;
  };
  Shard& shardFor(const net::SocketAddress& client) {
    return shards_[client.ipHash() % shards_.size()];
  }
  std::array<Shard, 64> shards_;
};

// http: responses by status code, one relaxed atomic per code, so a session
// counts a response without a lock (requests_total{listener,code}).
struct RequestCounters {
  static constexpr int kMinCode = 100;
  static constexpr int kMaxCode = 599;
  std::atomic<uint64_t> byCode[kMaxCode - kMinCode + 1]{};
  std::atomic<uint64_t> other{0};  // a code outside 100-599 (never sent by a sane peer)

  void count(int code) {
    if (code < kMinCode || code > kMaxCode) {
      other.fetch_add(1, std::memory_order_relaxed);
    } else {
      byCode[code - kMinCode].fetch_add(1, std::memory_order_relaxed);
    }
  }
};

// What a listener accumulates over its whole life. A reload hands the same
// ListenerStats (by listener name) to the new ListenerRuntime, so counters
// keep counting and limits keep seeing the sessions started before it.
struct ListenerStats {
  ListenerCounters counters;
  PerIpTable perIp;
  RequestCounters requests;
  metrics::Histogram requestDuration;  // http: request start to response end
};

struct ListenerRuntime {
  ListenerRuntime(config::ConfigPtr snapshot, const config::Listener& config,
                  std::shared_ptr<upstream::Cluster> cluster, std::shared_ptr<ListenerStats> stats)
      : snapshot(std::move(snapshot)),
        config(config),
        cluster(std::move(cluster)),
        stats(std::move(stats)),
        counters(this->stats->counters),
        perIp(this->stats->perIp),
        requests(this->stats->requests),
        requestDuration(this->stats->requestDuration) {}
  ListenerRuntime(const ListenerRuntime&) = delete;
  ListenerRuntime& operator=(const ListenerRuntime&) = delete;

  const config::ConfigPtr snapshot;  // keeps `config` alive
  const config::Listener& config;
  std::shared_ptr<upstream::Cluster> cluster;
  const std::shared_ptr<ListenerStats> stats;
  // Shorthands into `stats`.
  ListenerCounters& counters;
  PerIpTable& perIp;
  RequestCounters& requests;
  metrics::Histogram& requestDuration;
};

struct Runtime {
  config::ConfigPtr config;
  std::vector<std::shared_ptr<upstream::Cluster>> clusters;
  std::vector<std::shared_ptr<ListenerRuntime>> listeners;

  // Resolves backend names (blocking) and builds everything; throws
  // std::runtime_error naming what could not be built. With `previous` (a
  // reload), what is unchanged carries over by name: listener stats,
  // cluster counters and admission queue, and backends by address (their
  // slot counts, health and counters; see upstream/backend.h for a cap change).
  static std::shared_ptr<const Runtime> build(config::ConfigPtr config,
                                              const Runtime* previous = nullptr);
};
using RuntimePtr = std::shared_ptr<const Runtime>;

// Process-wide state shared by all workers.
class AccessLog;

class Worker;
struct SharedState {
  std::atomic<int64_t> downstreamActive{0};
  std::atomic<bool> draining{false};
  // Set by the Server before any worker starts; never change after.
  AccessLog* accessLog = nullptr;
  std::vector<Worker*> workers;
};

}  // namespace sluice::process
