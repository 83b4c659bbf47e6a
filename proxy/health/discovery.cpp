#include "health/discovery.h"

#include <algorithm>

#include "core/log.h"

namespace sluice::health {

struct Discovery::Round {
  std::string cluster;
  size_t pending = 0;
  std::map<std::string, std::vector<net::SocketAddress>> answers;  // names that answered
  std::vector<std::string> failed;
};

void Discovery::EvdnsBaseDeleter::operator()(evdns_base* base) const noexcept {
  // Requests still in flight are failed (their callbacks see a cancel).
  evdns_base_free(base, 1);
}

Discovery::Discovery(core::Dispatcher& dispatcher, Clusters clusters, BackendEvent onDrained,
                     std::function<void()> onChanged)
    : dispatcher_(dispatcher),
      clusters_(std::move(clusters)),
      onDrained_(std::move(onDrained)),
      onChanged_(std::move(onChanged)),
      sweepTimer_(dispatcher,
                  [this] { queries_.remove_if([](const auto& q) { return q->done; }); }) {}

Discovery::~Discovery() {
  for (auto& query : queries_)
    query->owner = nullptr;
  evdns_.reset();
}

bool Discovery::start(const config::Dns& dns, std::string* error) {
  bool anyName = false;
  for (const auto& cluster : clusters_()) {
    for (const auto& backend : cluster->config().backends)
      anyName = anyName || backend.address.isName;
  }
  if (!anyName) return true;  // nothing to resolve: no resolver either
  if (dns.resolvers.empty()) {
    evdns_.reset(evdns_base_new(dispatcher_.base(), EVDNS_BASE_INITIALIZE_NAMESERVERS));
  } else {
    evdns_.reset(evdns_base_new(dispatcher_.base(), 0));
    if (evdns_) {
      evdns_base_load_hosts(evdns_.get(), nullptr);
      for (const auto& resolver : dns.resolvers) {
        if (evdns_base_nameserver_ip_add(evdns_.get(), resolver.toString().c_str()) != 0) {
          if (error != nullptr) *error = "dns: cannot use resolver " + resolver.toString();
          return false;
        }
      }
    }
  }
  if (!evdns_) {
    if (error != nullptr) *error = "dns: cannot create a resolver";
    return false;
  }
  // Refreshes are frequent; a slow answer should not hold a round for long.
  evdns_base_set_option(evdns_.get(), "timeout:", "2");
  evdns_base_set_option(evdns_.get(), "attempts:", "2");
  schedule();
  return true;
}

std::shared_ptr<upstream::Cluster> Discovery::findCluster(const std::string& name) const {
  for (const auto& cluster : clusters_()) {
    if (cluster->name() == name) return cluster;
  }
  return nullptr;
}

// Gives every cluster with a name its timer (new clusters after a reload
// too); the first round runs one interval after start: Runtime::build has
// just resolved the names.
void Discovery::schedule() {
  for (const auto& cluster : clusters_()) {
    const auto& backends = cluster->config().backends;
    if (std::none_of(backends.begin(), backends.end(),
                     [](const auto& b) { return b.address.isName; })) {
      continue;
    }
    auto& state = states_[cluster->name()];
    if (state.timer) continue;
    const std::string name = cluster->name();
    state.timer = std::make_unique<core::Timer>(dispatcher_, [this, name] { startRound(name); });
    // No startup set (the blocking resolution failed): resolve at once.
    state.timer->enable(cluster->backends().empty() ? std::chrono::milliseconds(0)
                                                    : cluster->config().resolveInterval);
  }
}

void Discovery::startRound(const std::string& clusterName) {
  auto& state = states_[clusterName];
  auto cluster = findCluster(clusterName);
  if (!cluster) {
    state.timer.reset();  // removed by a reload; schedule() re-adds it if it comes back
    return;
  }
  state.timer->enable(cluster->config().resolveInterval);
  if (state.inFlight) return;  // the previous round is still waiting for answers
  auto round = std::make_shared<Round>();
  round->cluster = clusterName;
  std::set<std::string> names;
  for (const auto& backend : cluster->config().backends) {
    if (backend.address.isName) names.insert(backend.address.toString());
  }
  round->pending = names.size();
  state.inFlight = true;
  for (const auto& name : names) {
    auto& query = queries_.emplace_back(std::make_unique<Query>());
    query->owner = this;
    query->round = round;
    query->name = name;
    const auto colon = name.rfind(':');
    const std::string host = name.substr(0, colon);
    const std::string port = name.substr(colon + 1);
    evutil_addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // May answer at once (hosts file): onResolved then runs before this returns.
    evdns_getaddrinfo(evdns_.get(), host.c_str(), port.c_str(), &hints, &Discovery::onResolved,
                      query.get());
  }
}

void Discovery::onResolved(int result, evutil_addrinfo* answers, void* arg) noexcept {
  auto* query = static_cast<Query*>(arg);
  if (query->owner == nullptr || query->done) {
    if (answers != nullptr) evutil_freeaddrinfo(answers);
    return;
  }
  query->owner->finishQuery(*query, result, answers);
}

void Discovery::finishQuery(Query& query, int result, evutil_addrinfo* answers) {
  query.done = true;
  sweepTimer_.enable(std::chrono::milliseconds(0));
  auto round = query.round;
  if (result == 0) {
    std::vector<net::SocketAddress> addresses;
    for (auto* ai = answers; ai != nullptr; ai = ai->ai_next) {
      net::SocketAddress address(ai->ai_addr, static_cast<socklen_t>(ai->ai_addrlen));
      const bool seen = std::any_of(addresses.begin(), addresses.end(), [&](const auto& a) {
        return a.toString() == address.toString();
      });
      if (!seen) addresses.push_back(address);
    }
    std::sort(addresses.begin(), addresses.end(),
              [](const auto& a, const auto& b) { return a.toString() < b.toString(); });
    if (addresses.empty()) {
      round->failed.push_back(query.name + ": no addresses");
    } else {
      round->answers[query.name] = std::move(addresses);
    }
  } else {
    round->failed.push_back(query.name + ": " + evutil_gai_strerror(result));
  }
  if (answers != nullptr) evutil_freeaddrinfo(answers);
  if (--round->pending == 0) finishRound(*round);
}

void Discovery::finishRound(Round& round) {
  auto& state = states_[round.cluster];
  state.inFlight = false;
  auto cluster = findCluster(round.cluster);
  if (!cluster) return;
  for (const auto& failure : round.failed) {
    cluster->counters.resolveFailures.fetch_add(1, std::memory_order_relaxed);
    log::warn("dns: cluster ", round.cluster, ": cannot resolve ", failure,
              "; keeping the last good addresses");
  }
  for (auto& [name, addresses] : round.answers) {
    cluster->counters.resolveOk.fetch_add(1, std::memory_order_relaxed);
    state.lastGood[name] = std::move(addresses);
  }
  rebuild(*cluster, state);
}

void Discovery::rebuild(upstream::Cluster& cluster, ClusterState& state) {
  const auto& config = cluster.config();
  for (const auto& entry : config.backends) {
    if (entry.address.isName && state.lastGood.count(entry.address.toString()) == 0) return;
  }
  const upstream::BackendList current = cluster.backends();
  const bool startHealthy = !config.healthCheck || config.healthCheck->startHealthy;
  upstream::BackendList next;
  auto add = [&](const net::SocketAddress& address, uint32_t weight) {
    const std::string name = address.toString();
    for (const auto& b : next) {
      if (b->name() == name) return;
    }
    for (const auto& b : current) {
      if (b->name() == name && b->weight() == weight && !b->draining()) {
        next.push_back(b);
        return;
      }
    }
    next.push_back(std::make_shared<upstream::Backend>(name, address, weight,
                                                       config.pool.maxConnections, startHealthy));
    log::info("dns: cluster ", config.name, ": backend ", name, " joins");
  };
  for (const auto& entry : config.backends) {
    if (entry.address.isName) {
      for (const auto& address : state.lastGood[entry.address.toString()])
        add(address, entry.weight);
    } else if (auto address = net::SocketAddress::fromIp(entry.address.host, entry.address.port)) {
      add(*address, entry.weight);
    }
  }
  bool changed = next.size() != current.size();
  for (size_t i = 0; !changed && i < next.size(); ++i)
    changed = next[i] != current[i];
  if (!changed) return;
  cluster.setBackends(next);
  for (const auto& old : current) {
    if (std::find(next.begin(), next.end(), old) != next.end()) continue;
    log::info("dns: cluster ", config.name, ": backend ", old->name(),
              " left; draining (sessions in flight finish)");
    old->setDraining();
    if (onDrained_) onDrained_(old);
  }
  if (onChanged_) onChanged_();
}

}  // namespace sluice::health
