#pragma once

// Discovery: keeps clusters whose backends are DNS names in step with DNS.
//
// Theory of operation. Every `resolve_interval` each cluster with at least
// one name (HostPort::isName) starts a round: one evdns_getaddrinfo per name
// (A and AAAA), on the main loop's evdns_base (`dns.resolvers`, else
// /etc/resolv.conf). When the round's last answer is in:
//
//   name answered        -> its address set becomes the name's "last good"
//   name failed          -> logged, counted (resolve_failures); last good kept
//   every name has a last good set -> the cluster's list is rebuilt:
//       literal entries as they are, each name as its last good set
//       (one backend per address), deduplicated by address;
//       an address already in the list keeps its Backend object (slots,
//       health, counters carry over); a new one gets a new Backend
//       (initial_state health); one that left is drained
//       (Backend::setDraining: no new sessions, idle connections closed via
//       `onDrained`, sessions in flight finish)
//
// Until every name of a cluster has answered once, the startup set (the
// blocking resolution Runtime::build did) stands.
//
// Owner: the Server. Thread: the main loop only. Destroy it only when that
// loop no longer runs (evdns may still hold deferred callbacks).

#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <event2/dns.h>

#include "config/config.h"
#include "core/dispatcher.h"
#include "core/timer.h"
#include "net/address.h"
#include "upstream/cluster.h"

namespace sluice::health {

class Discovery {
 public:
  using Clusters = std::function<std::vector<std::shared_ptr<upstream::Cluster>>()>;
  using BackendEvent = std::function<void(const std::shared_ptr<upstream::Backend>&)>;

  // `clusters` returns the current runtime's clusters (a reload changes them).
  // `onDrained` runs for each backend that left a cluster, `onChanged` after
  // any list changed (so health checks follow).
  Discovery(core::Dispatcher& dispatcher, Clusters clusters, BackendEvent onDrained,
            std::function<void()> onChanged);
  ~Discovery();
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Sets up the resolver and schedules the first rounds; false on a bad
  // resolver address (`*error` says which).
  bool start(const config::Dns& dns, std::string* error);

 private:
  struct EvdnsBaseDeleter {
    void operator()(evdns_base* base) const noexcept;
  };
  struct Round;
  struct Query {
    Discovery* owner = nullptr;
    std::shared_ptr<Round> round;
    std::string name;  // "host:port" of the config entry
    bool done = false;
  };
  struct ClusterState {
    std::unique_ptr<core::Timer> timer;
    std::map<std::string, std::vector<net::SocketAddress>> lastGood;  // by "host:port"
    bool inFlight = false;
  };

  static void onResolved(int result, evutil_addrinfo* answers, void* arg) noexcept;
  void schedule();
  void startRound(const std::string& clusterName);
  void finishQuery(Query& query, int result, evutil_addrinfo* answers);
  void finishRound(Round& round);
  void rebuild(upstream::Cluster& cluster, ClusterState& state);
  std::shared_ptr<upstream::Cluster> findCluster(const std::string& name) const;

  core::Dispatcher& dispatcher_;
  Clusters clusters_;
  BackendEvent onDrained_;
  std::function<void()> onChanged_;
  std::unique_ptr<evdns_base, EvdnsBaseDeleter> evdns_;
  std::map<std::string, ClusterState> states_;  // by cluster name
  std::list<std::unique_ptr<Query>> queries_;
  core::Timer sweepTimer_;  // frees answered queries outside their callbacks
};

}  // namespace sluice::health
