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
#include "net/address.h"
#include "upstream/cluster.h"

namespace sluice::core {

enum class RejectReason { MaxConnections, PerIp, QueueFull, QueueTimeout, Draining, Count };
const char* toString(RejectReason);

struct ListenerCounters {
  std::atomic<uint64_t> accepted{0};
  std::atomic<int64_t> active{0};
  std::atomic<uint64_t> rejected[static_cast<int>(RejectReason::Count)]{};
  std::atomic<uint64_t> bytesFromClients{0};  // downstream_rx
  std::atomic<uint64_t> bytesToClients{0};    // downstream_tx
  std::atomic<uint64_t> acceptErrors{0};
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

struct ListenerRuntime {
  const config::Listener& config;
  std::shared_ptr<upstream::Cluster> cluster;
  ListenerCounters counters;
  PerIpTable perIp;
};

struct Runtime {
  config::ConfigPtr config;
  std::vector<std::shared_ptr<upstream::Cluster>> clusters;
  std::vector<std::shared_ptr<ListenerRuntime>> listeners;

  // Resolves backend names (blocking) and builds everything; throws
  // std::runtime_error naming what could not be built.
  static std::shared_ptr<const Runtime> build(config::ConfigPtr config);
};
using RuntimePtr = std::shared_ptr<const Runtime>;

// Process-wide state shared by all workers.
struct SharedState {
  std::atomic<int64_t> downstreamActive{0};
  std::atomic<bool> draining{false};
};

}  // namespace sluice::core
