#include "upstream/conn_pool.h"

#include <sys/socket.h>

#include <cerrno>

#include "core/clock.h"
#include "core/log.h"
#include "net/socket.h"

namespace sluice::upstream {

ConnPool::ConnPool(core::Dispatcher& dispatcher, std::shared_ptr<Cluster> cluster,
                   std::shared_ptr<Backend> backend, uint32_t targetIdle)
    : dispatcher_(dispatcher),
      cluster_(std::move(cluster)),
      backend_(std::move(backend)),
      targetIdle_(targetIdle) {}

ConnPool::~ConnPool() {
  connecting_.clear();
  while (!idle_.empty())
    removeIdle(idle_.begin());
}

bool idleQuiet(int fd) {
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool idleQuiet(const UpstreamConnection& connection) {
  return idleQuiet(connection.socket ? connection.socket->fd() : connection.fd.get());
}

std::unique_ptr<UpstreamConnection> ConnPool::takeIdle(bool quietOnly) {
  while (!idle_.empty()) {
    auto it = std::prev(idle_.end());
    auto connection = std::move(it->connection);
    removeIdle(it);
    // A socket-form connection is dropped by its level-triggered event as
    // soon as anything arrives; only the fd form (edge-triggered, tolerant
    // of a tcp greeting) needs the system call.
    if (!quietOnly || connection->socket || idleQuiet(connection->fd.get())) return connection;
    log::debug("pool ", backend_->name(), ": idle connection had unasked bytes or was closed");
    // closed here; its slot goes back
  }
  return nullptr;
}

void ConnPool::putIdle(std::unique_ptr<UpstreamConnection> connection) {
  if (draining_) return;  // closing it returns the slot
  addIdle(std::move(connection));
}

void ConnPool::addIdle(std::unique_ptr<UpstreamConnection> connection) {
  auto& entry = idle_.emplace_back();
  entry.pool = this;
  entry.idleSinceMs = core::monotonicMs();
  if (connection->socket) {
    // Its read event stays registered: the pool only becomes its handler.
    connection->socket->setHandler(*this);
    connection->socket->resumeReading();  // a no-op unless back-pressure paused it
    entry.connection = std::move(connection);
    backend_->idleConnections.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // Edge-triggered read + close: woken once per change, whether the backend
  // closed (FIN), reset (RST: epoll reports an error, which libevent maps to
  // read/write, never to EV_CLOSED), or sent a greeting (server speaks
  // first). onIdleClosed() tells them apart; greeting bytes stay unread in
  // the socket for the client, and do not wake us again.
  entry.watch.reset(event_new(dispatcher_.base(), connection->fd.get(),
                              EV_READ | EV_CLOSED | EV_ET | EV_PERSIST, &ConnPool::onIdleClosed,
                              &entry));
  event_add(entry.watch.get(), nullptr);
  entry.connection = std::move(connection);
  backend_->idleConnections.fetch_add(1, std::memory_order_relaxed);
}

void ConnPool::removeIdle(std::list<Idle>::iterator it) {
  backend_->idleConnections.fetch_sub(1, std::memory_order_relaxed);
  idle_.erase(it);  // frees the watch; a connection still inside is closed
}

void ConnPool::onIdleClosed(evutil_socket_t fd, short what, void* arg) noexcept {
  auto* entry = static_cast<Idle*>(arg);
  ConnPool* pool = entry->pool;
  if ((what & EV_CLOSED) == 0 && net::socketError(fd) == 0) {
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) return;  // alive
  }
  for (auto it = pool->idle_.begin(); it != pool->idle_.end(); ++it) {
    if (&*it == entry) {
      log::debug("pool ", pool->backend_->name(), ": idle connection closed by the backend");
      pool->removeIdle(it);
      break;
    }
  }
  pool->refill();
}

void ConnPool::dropIdle(const core::StreamSocket& socket) {
  for (auto it = idle_.begin(); it != idle_.end(); ++it) {
    if (it->connection && it->connection->socket.get() == &socket) {
      log::debug("pool ", backend_->name(), ": idle connection closed or sent unasked bytes");
      removeIdle(it);  // frees the socket whose callback is running: it touches nothing after
      break;
    }
  }
  refill();
}

void ConnPool::refill() {
  if (draining_) return;
  const int64_t now = core::monotonicMs();
  while (idle_.size() + connecting_.size() < targetIdle_) {
    if (cluster_->admission()->pending() > 0 || !backend_->available(now)) return;
    if (!backend_->tryAcquireSlot()) return;
    auto& pending = connecting_.emplace_back();
    pending.slot = SlotGuard(cluster_->admission(), backend_);
    auto it = std::prev(connecting_.end());
    backend_->counters.connectTotal.fetch_add(1, std::memory_order_relaxed);
    pending.connector = std::make_unique<Connector>(
        dispatcher_, backend_->address(), cluster_->config().timeouts.connect,
        [this, it](ConnectResult result) { onConnected(it, std::move(result)); });
  }
}

void ConnPool::onConnected(std::list<Pending>::iterator it, ConnectResult result) {
  SlotGuard slot = std::move(it->slot);
  auto connector = std::move(it->connector);  // destroyed after this returns
  connecting_.erase(it);
  if (!result.ok()) {
    log::debug("pool ", backend_->name(), ": pre-warm connect failed: ", result.error);
    cluster_->reportConnectFailure(*backend_, result.failure);
    return;  // the slot goes back; the next maintenance tick tries again
  }
  cluster_->reportConnectSuccess(*backend_);
  cluster_->counters.connectDuration.observe(result.seconds);
  auto connection = std::make_unique<UpstreamConnection>();
  connection->fd = std::move(result.fd);
  connection->slot = std::move(slot);
  connection->createdMs = core::monotonicMs();
  // Turned unhealthy, ejected or drained while connecting: do not park it.
  if (draining_ || !backend_->available(connection->createdMs)) return;
  addIdle(std::move(connection));
}

void ConnPool::offerIdleToWaiters() {
  const auto& admission = cluster_->admission();
  while (admission->pending() > 0 && !idle_.empty()) {
    auto connection = takeIdle();
    connection->releaseSocket();  // the waiter may be on another worker
    if (!admission->handOff(connection)) {
      addIdle(std::move(connection));
      return;
    }
  }
}

void ConnPool::expire(int64_t nowMs) {
  const auto& pool = cluster_->config().pool;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto next = std::next(it);
    const bool idleTooLong = nowMs - it->idleSinceMs >= pool.idleTimeout.count();
    const bool tooOld = pool.maxLifetime.count() > 0 &&
                        nowMs - it->connection->createdMs >= pool.maxLifetime.count();
    if (idleTooLong || tooOld) removeIdle(it);
    it = next;
  }
  refill();
}

void ConnPool::closeIdle() {
  connecting_.clear();
  while (!idle_.empty())
    removeIdle(idle_.begin());
}

void ConnPool::drain() {
  draining_ = true;
  connecting_.clear();
  while (!idle_.empty())
    removeIdle(idle_.begin());
}

}  // namespace sluice::upstream
