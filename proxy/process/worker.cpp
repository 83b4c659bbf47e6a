#include "process/worker.h"

#include <algorithm>

#include "core/clock.h"
#include "core/log.h"
#include "http/http_session.h"
#include "tcp/tcp_session.h"

namespace sluice::process {
namespace {

constexpr std::chrono::milliseconds kMaintenanceInterval{1000};

}  // namespace

Worker::Worker(int index, int workerCount, RuntimePtr runtime, SharedState& shared,
               std::vector<core::Fd> sockets)
    : index_(index),
      workerCount_(workerCount),
      shared_(shared),
      timers_(dispatcher_),
      runtime_(std::move(runtime)),
      maintenanceTimer_(dispatcher_, [this] { maintain(); }) {
  for (size_t i = 0; i < sockets.size(); ++i)
    listeners_.push_back(bindListener(runtime_->listeners[i], std::move(sockets[i])));
  adoptClusters();
}

Worker::~Worker() {
  join();
  // Sessions use pools and balancers: end them first.
  sessions_.clear();
  pools_.clear();
  balancers_.clear();
  listeners_.clear();
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::run() {
  log::setThreadName("worker-" + std::to_string(index_));
  // Pre-warm at once, then keep pools topped up.
  dispatcher_.post([this] { maintain(); });
  dispatcher_.run();
}

void Worker::stop() {
  maintenanceTimer_.disable();
  dispatcher_.exit();
}

upstream::LoadBalancer& Worker::balancer(const upstream::Cluster& cluster) {
  // A session's cluster is warm when it starts, so its balancer exists from
  // then on; pruneRetired() keeps it while anything still uses the cluster.
  auto& slot = balancers_[&cluster];
  if (!slot) {
    for (const auto& c : warmClusters_) {
      if (c.get() == &cluster) slot = std::make_unique<upstream::LoadBalancer>(c);
    }
  }
  return *slot;
}

upstream::ConnPool& Worker::pool(const std::shared_ptr<upstream::Cluster>& cluster,
                                 const std::shared_ptr<upstream::Backend>& backend) {
  auto& slot = pools_[{cluster.get(), backend.get()}];
  if (!slot) {
    // Each worker keeps its share of min_idle: 5 over 2 workers is 3 + 2.
    // A cluster of an older snapshot (a session started before a reload) gets no pre-warming.
    const uint32_t minIdle = isWarm(cluster.get()) ? cluster->config().pool.minIdle : 0;
    const uint32_t share = minIdle / static_cast<uint32_t>(workerCount_) +
                           (static_cast<uint32_t>(index_) < minIdle % workerCount_ ? 1 : 0);
    slot =
        std::make_unique<upstream::ConnPool>(dispatcher_, cluster, backend, draining_ ? 0 : share);
  }
  return *slot;
}

void Worker::askPeersForIdle(const std::shared_ptr<upstream::Cluster>& cluster) {
  // Under overload nothing is idle, so this posts nothing; a post costs a
  // lock and a wake-up of the other loop.
  const auto& backends = cluster->backends();
  if (std::none_of(backends.begin(), backends.end(), [](const auto& backend) {
        return backend->idleConnections.load(std::memory_order_relaxed) > 0;
      })) {
    return;
  }
  for (Worker* peer : shared_.workers) {
    if (peer == this) continue;
    // The cluster rides along so it outlives a reload in the meantime.
    peer->dispatcher().post([peer, cluster] { peer->offerIdleTo(cluster.get()); });
  }
}

void Worker::offerIdleTo(const upstream::Cluster* cluster) {
  for (auto& [key, pool] : pools_) {
    if (key.first == cluster) pool->offerIdleToWaiters();
  }
}

void Worker::maintain() {
  const int64_t now = core::monotonicMs();
  for (const auto& cluster : warmClusters_) {
    for (const auto& backend : cluster->backends())
      pool(cluster, backend).expire(now);
  }
  for (auto& entry : pools_)
    entry.second->offerIdleToWaiters();
  pruneRetired();
  if (!draining_) maintenanceTimer_.enable(kMaintenanceInterval);
}

void Worker::reject(ListenerRuntime& listener, RejectReason reason) {
  listener.counters.rejected[static_cast<int>(reason)].fetch_add(1, std::memory_order_relaxed);
}

void Worker::onAccept(const std::shared_ptr<ListenerRuntime>& listener, core::Fd fd,
                      const net::SocketAddress& peer) {
  const auto& config = listener->config;
  // Only the listed sources may name a client in a PROXY header; anyone else
  // is refused before a byte is read (the fd closes here).
  const bool listed = config.proxyProtocol && !config.proxyProtocolTrusted.empty();
  if (listed && std::none_of(config.proxyProtocolTrusted.begin(), config.proxyProtocolTrusted.end(),
                             [&](const auto& network) { return peer.inNetwork(network); })) {
    reject(*listener, RejectReason::Untrusted);
    return;
  }
  // Counted from accept: a connection still sending its PROXY header holds
  // a place like a session, and its socket peer holds a per-IP entry unless
  // it is a listed (trusted) balancer (see DownstreamSlot).
  RejectReason why{};
  auto slot = DownstreamSlot::take(shared_, *listener, peer, &why, listed);
  if (!slot) {
    reject(*listener, why);
    return;  // fd closes here: a clear, immediate refusal
  }
  if (config.proxyProtocol) {
    readProxyHeader(listener, std::move(fd), peer, std::move(*slot));
    return;
  }
  startSession(listener, std::move(fd), peer, std::move(*slot));
}

void Worker::readProxyHeader(const std::shared_ptr<ListenerRuntime>& listener, core::Fd fd,
                             const net::SocketAddress& peer, DownstreamSlot slot) {
  auto reader = std::make_unique<net::ProxyProtocolReader>(
      dispatcher_, std::move(fd), peer, listener->config.proxyProtocolTimeout,
      [this, listener, peer](net::ProxyProtocolReader* done, net::ProxyProtocolReader::Result r) {
        auto it = headerReaders_.find(done);
        if (it == headerReaders_.end()) return;
        DownstreamSlot slot = std::move(it->second.slot);
        dispatcher_.deferredDelete(std::move(it->second.reader));
        headerReaders_.erase(it);
        if (!r.error.empty()) {
          listener->counters.proxyProtocolErrors.fetch_add(1, std::memory_order_relaxed);
          log::debug("listener ", listener->config.name, ": PROXY header from ", peer.toString(),
                     ": ", r.error, "; closing");
          return;  // the fd closed with the reader's result
        }
        // From here the per-IP limit applies to the client the header names.
        if (!slot.moveTo(r.client)) {
          reject(*listener, RejectReason::PerIp);
          return;
        }
        startSession(listener, std::move(r.fd), r.client, std::move(slot));
      });
  net::ProxyProtocolReader* raw = reader.get();
  headerReaders_.emplace(raw, PendingHeader{std::move(reader), std::move(slot)});
}

void Worker::startSession(const std::shared_ptr<ListenerRuntime>& listener, core::Fd fd,
                          const net::SocketAddress& client, DownstreamSlot slot) {
  listener->counters.accepted.fetch_add(1, std::memory_order_relaxed);
  std::unique_ptr<Session> session;
  switch (listener->config.protocol) {
    case config::Protocol::Tcp:
      session = std::make_unique<tcp::TcpSession>(*this, listener, std::move(fd), client);
      break;
    case config::Protocol::Http:
      session = std::make_unique<http::HttpSession>(*this, listener, std::move(fd), client);
      break;
  }
  session->holdSlot(std::move(slot));
  Session* raw = session.get();
  sessions_.add(std::move(session));
  sessionCount_.fetch_add(1, std::memory_order_relaxed);
  raw->start();
}

void Worker::sessionDone(Session* session) {
  auto owned = sessions_.remove(session);
  if (!owned) return;
  sessionCount_.fetch_sub(1, std::memory_order_relaxed);
  dispatcher_.deferredDelete(std::move(owned));
}

void Worker::beginDrain() {
  if (draining_) return;
  draining_ = true;
  for (auto& [backend, pool] : pools_)
    pool->drain();
  // onDrain() may end a session (an idle keep-alive one), which edits the table.
  for (Session* s : sessionList()) {
    if (sessions_.contains(s)) s->onDrain();
  }
}

std::vector<Session*> Worker::sessionList() const {
  return sessions_.snapshot();
}

void Worker::closeIdleTo(const upstream::Backend* backend) {
  for (auto& [key, pool] : pools_) {
    if (key.second == backend) pool->closeIdle();
  }
}

void Worker::closeListeners() {
  for (auto& listener : listeners_)
    listener->socket->close();
}

void Worker::endDrain(std::vector<core::Fd> sockets) {
  for (auto& listener : listeners_)
    listener->socket->close();
  std::vector<std::unique_ptr<BoundListener>> reopened;
  for (size_t i = 0; i < sockets.size() && i < runtime_->listeners.size(); ++i)
    reopened.push_back(bindListener(runtime_->listeners[i], std::move(sockets[i])));
  listeners_ = std::move(reopened);
  draining_ = false;
  // Drained pools hold nothing and pre-warm no more: new ones take their place.
  for (auto it = pools_.begin(); it != pools_.end();) {
    const bool empty = it->second->idleCount() == 0 && it->second->connectingCount() == 0;
    it = empty ? pools_.erase(it) : std::next(it);
  }
  maintain();
}

void Worker::abortAll() {
  headerReaders_.clear();
  // abort() calls sessionDone(), which edits the table: iterate a copy.
  for (Session* s : sessionList()) {
    if (sessions_.contains(s)) s->abort();
  }
}

}  // namespace sluice::process
