#include "tcp/tcp_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <random>

#include "core/access_log.h"
#include "core/clock.h"
#include "core/direct_write.h"
#include "core/log.h"
#include "core/worker.h"
#include "net/proxy_protocol.h"

namespace sluice::tcp {
namespace {

// Makes close() send RST instead of FIN: how a reset on one side is passed
// on to the other, so neither peer mistakes an aborted stream for a clean end.
void resetOnClose(bufferevent* bev) {
  if (bev == nullptr) return;
  linger abortive{1, 0};
  ::setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
}

// 10-50 ms before a connect retry, from a per-thread generator (no lock).
int64_t retryBackoffMs() {
  thread_local std::minstd_rand generator{std::random_device{}()};
  return std::uniform_int_distribution<int64_t>(10, 50)(generator);
}

}  // namespace

TcpSession::TcpSession(core::Worker& worker, std::shared_ptr<core::ListenerRuntime> listener,
                       net::Fd fd, const net::SocketAddress& client)
    : Session(worker, listener, client),
      cluster_(listener_->cluster),
      bufferLimit_(std::max<size_t>(listener_->config.bufferBytes, 1024)),
      connectRetriesLeft_(listener_->cluster->config().retries.connect),
      idleTimer_(worker.dispatcher(), [this] { onIdleTimer(); }),
      queueTimer_(worker.dispatcher(), [this] { onQueueTimeout(); }),
      retryTimer_(worker.dispatcher(), [this] { retryConnect(); }),
      lastActivityMs_(core::monotonicMs()),
      idleTimeoutMs_(std::min(listener_->config.timeouts.idle.count(),
                              listener_->cluster->config().timeouts.idle.count())),
      startedWall_(std::chrono::system_clock::now()),
      startedSec_(core::monotonicSeconds()) {
  net::setNoDelay(fd.get());
  downstream_.bev.reset(
      bufferevent_socket_new(worker.dispatcher().base(), fd.release(), BEV_OPT_CLOSE_ON_FREE));
  bufferevent_setcb(downstream_.bev.get(), &TcpSession::onReadCb, &TcpSession::onWriteCb,
                    &TcpSession::onEventCb, this);
  // Until an upstream is ready, buffer at most one buffer's worth of what
  // the client sends first (a database startup packet, say).
  bufferevent_setwatermark(downstream_.bev.get(), EV_READ, 0, bufferLimit_);
  bufferevent_enable(downstream_.bev.get(), EV_READ);
}

TcpSession::~TcpSession() {
  if (waiter_) waiter_->detach();
}

void TcpSession::start() {
  if (idleTimeoutMs_ > 0) idleTimer_.enable(std::chrono::milliseconds(idleTimeoutMs_));
  acquireUpstream();
}

// Balancer order: a warm pooled connection first, else a free slot to open
// one; when every eligible backend is at its cap, wait in the cluster queue.
void TcpSession::acquireUpstream() {
  state_ = State::Acquiring;
  auto& balancer = worker_.balancer(*cluster_);
  const auto& admission = cluster_->admission();
  std::vector<const upstream::Backend*> tried = failedBackends_;
  while (auto backend = balancer.pick(client_.ipHash(), tried)) {
    auto& pool = worker_.pool(cluster_, backend);
    if (auto connection = pool.takeIdle()) {
      pool.refill();
      startRelay(std::move(connection));
      return;
    }
    // Someone queued first: they get the next free slot, not us.
    if (admission->pending() == 0 && backend->tryAcquireSlot()) {
      connectTo(upstream::SlotGuard(admission, backend));
      return;
    }
    tried.push_back(backend.get());
  }
  if (!failedBackends_.empty() && tried.size() == failedBackends_.size()) {
    finalize(core::TerminationReason::ConnectFailed);
    return;
  }
  if (!cluster_->anyAvailable(core::monotonicMs())) {
    cluster_->counters.noHealthyBackend.fetch_add(1, std::memory_order_relaxed);
    finalize(core::TerminationReason::NoHealthyBackend);
    return;
  }
  waiter_ = std::make_shared<upstream::SlotWaiter>(worker_.dispatcher(), this);
  if (!admission->enqueue(waiter_)) {
    waiter_.reset();
    cluster_->counters.queueFull.fetch_add(1, std::memory_order_relaxed);
    listener_->counters.rejected[static_cast<int>(core::RejectReason::QueueFull)].fetch_add(1);
    finalize(core::TerminationReason::QueueFull);
    return;
  }
  state_ = State::Queued;
  queuedAtSec_ = core::monotonicSeconds();
  cluster_->counters.queued.fetch_add(1, std::memory_order_relaxed);
  queueTimer_.enable(cluster_->config().pool.queueTimeout);
}

void TcpSession::onSlotGranted(std::shared_ptr<upstream::Backend> backend) {
  upstream::SlotGuard slot(cluster_->admission(), std::move(backend));
  waiter_.reset();
  queueTimer_.disable();
  if (state_ != State::Queued) return;  // the slot goes straight back
  poolWaitSec_ = core::monotonicSeconds() - queuedAtSec_;
  cluster_->counters.poolWait.observe(poolWaitSec_);
  connectTo(std::move(slot));
}

void TcpSession::onQueueTimeout() {
  if (state_ != State::Queued) return;
  poolWaitSec_ = core::monotonicSeconds() - queuedAtSec_;
  cluster_->counters.poolWait.observe(poolWaitSec_);
  cluster_->counters.queueTimeout.fetch_add(1, std::memory_order_relaxed);
  listener_->counters.rejected[static_cast<int>(core::RejectReason::QueueTimeout)].fetch_add(1);
  finalize(core::TerminationReason::QueueTimeout);
}

void TcpSession::connectTo(upstream::SlotGuard slot) {
  state_ = State::Connecting;
  backend_ = slot.backend();
  connectingSlot_ = std::move(slot);
  backend_->counters.connectTotal.fetch_add(1, std::memory_order_relaxed);
  // Connect budget: all attempts of one session together (backoff pauses
  // included) get timeouts.connect × (retries.connect + 1) from the first
  // attempt on; each attempt gets min(timeouts.connect, what is left). So a
  // retry never waits longer than a first attempt would, and a client never
  // waits longer for a connection than the config's worst case says.
  const auto connectTimeout = cluster_->config().timeouts.connect;
  const int64_t now = core::monotonicMs();
  if (connectDeadlineMs_ == 0) {
    connectDeadlineMs_ =
        now + connectTimeout.count() * (cluster_->config().retries.connect + int64_t{1});
  }
  const auto attempt = std::chrono::milliseconds(
      std::clamp<int64_t>(connectDeadlineMs_ - now, 1, connectTimeout.count()));
  connector_ = std::make_unique<upstream::Connector>(
      worker_.dispatcher(), backend_->address(), attempt,
      [this](upstream::ConnectResult result) { onConnectResult(std::move(result)); });
}

void TcpSession::onConnectResult(upstream::ConnectResult result) {
  auto finished = std::move(connector_);  // freed when this returns
  if (!result.ok()) {
    backend_->counters.connectFailures[static_cast<int>(result.failure)].fetch_add(1);
    log::debug("session from ", client_.toString(), ": connect to ", backend_->name(),
               " failed: ", result.error);
    failedBackends_.push_back(backend_.get());
    connectingSlot_.reset();
    cluster_->reportFailure(*backend_);
    if (connectRetriesLeft_ > 0 && core::monotonicMs() < connectDeadlineMs_) {
      --connectRetriesLeft_;
      // A short jittered pause: a backend that just refused is often
      // restarting, and many sessions failing together should not retry
      // in lock step.
      state_ = State::Acquiring;
      retryTimer_.enable(std::chrono::milliseconds(retryBackoffMs()));
    } else {
      finalize(core::TerminationReason::ConnectFailed);
    }
    return;
  }
  cluster_->reportSuccess(*backend_);
  connectSec_ = result.seconds;
  cluster_->counters.connectDuration.observe(result.seconds);
  auto connection = std::make_unique<upstream::UpstreamConnection>();
  connection->fd = std::move(result.fd);
  connection->slot = std::move(connectingSlot_);
  connection->createdMs = core::monotonicMs();
  startRelay(std::move(connection));
}

void TcpSession::startRelay(std::unique_ptr<upstream::UpstreamConnection> connection) {
  state_ = State::Relaying;
  backend_ = connection->slot.backend();
  connection_ = std::move(connection);
  // The bufferevent owns the socket from here; connection_ keeps the slot.
  upstream_.bev.reset(bufferevent_socket_new(worker_.dispatcher().base(), connection_->fd.release(),
                                             BEV_OPT_CLOSE_ON_FREE));
  for (Side* side : {&downstream_, &upstream_}) {
    bufferevent_setcb(side->bev.get(), &TcpSession::onReadCb, &TcpSession::onWriteCb,
                      &TcpSession::onEventCb, this);
    bufferevent_setwatermark(side->bev.get(), EV_READ, 0, 0);
    bufferevent_setwatermark(side->bev.get(), EV_WRITE, bufferLimit_ / 2, 0);
  }
  bufferevent_enable(upstream_.bev.get(), EV_READ | EV_WRITE);
  if (!downstream_.readEof) bufferevent_enable(downstream_.bev.get(), EV_READ);
  sendProxyHeader();
  // What the client sent while we were connecting goes first.
  relay(downstream_, upstream_);
  shutdownIfFlushed(upstream_, downstream_);
}

void TcpSession::retryConnect() {
  if (state_ != State::Acquiring) return;
  acquireUpstream();
}

// send_proxy_protocol: the header is the first thing on the upstream
// connection. A pooled pre-warmed connection has carried nothing yet, and a
// raw TCP upstream is never reused, so "first" holds. The source is the
// client (the one a PROXY header from downstream named, if the listener
// takes one); the destination is the address the client connected to.
// tcp only: an http upstream connection serves many clients, so one header
// per connection cannot name them (the http session does not send it).
void TcpSession::sendProxyHeader() {
  const auto version = cluster_->config().sendProxyProtocol;
  if (version == config::ProxyProtocolVersion::Off) return;
  const net::SocketAddress local = net::localAddress(bufferevent_getfd(downstream_.bev.get()));
  const std::string header = version == config::ProxyProtocolVersion::V1
                                 ? net::proxy_protocol::encodeV1(client_.raw(), local.raw())
                                 : net::proxy_protocol::encodeV2(client_.raw(), local.raw());
  bufferevent_write(upstream_.bev.get(), header.data(), header.size());
}

void TcpSession::relay(Side& from, Side& to) {
  evbuffer* input = bufferevent_get_input(from.bev.get());
  const size_t n = evbuffer_get_length(input);
  if (n == 0) return;
  (&from == &downstream_ ? bytesIn_ : bytesOut_) += n;
  evbuffer* output = bufferevent_get_output(to.bev.get());
  core::sendNow(to.bev.get(), input);  // moves the chains, copies nothing
  if (evbuffer_get_length(output) >= bufferLimit_ && !from.paused) {
    from.paused = true;
    bufferevent_disable(from.bev.get(), EV_READ);
  }
}

void TcpSession::onWritable(Side& to, Side& other) {
  lastActivityMs_ = core::monotonicMs();
  if (other.paused && !other.readEof) {
    other.paused = false;
    bufferevent_enable(other.bev.get(), EV_READ);
  }
  shutdownIfFlushed(to, other);
}

// Forwards the other side's EOF once everything it sent has been written.
void TcpSession::shutdownIfFlushed(Side& to, const Side& other) {
  if (!other.readEof || to.writeShut || state_ != State::Relaying) return;
  if (evbuffer_get_length(bufferevent_get_output(to.bev.get())) > 0) {
    bufferevent_setwatermark(to.bev.get(), EV_WRITE, 0, 0);  // call back when empty
    return;
  }
  ::shutdown(bufferevent_getfd(to.bev.get()), SHUT_WR);
  to.writeShut = true;
  if (downstream_.writeShut && upstream_.writeShut) {
    finalize(core::TerminationReason::Completed);
  }
}

void TcpSession::onEvent(Side& side, Side& other, short what) {
  if (what & BEV_EVENT_ERROR) {
    if (&side == &upstream_ && backend_) cluster_->reportFailure(*backend_);
    resetOnClose(other.bev.get());
    finalize(&side == &downstream_ ? core::TerminationReason::DownstreamReset
                                   : core::TerminationReason::UpstreamReset);
    return;
  }
  if (what & BEV_EVENT_EOF) {
    side.readEof = true;
    if (state_ != State::Relaying) return;  // forwarded once the upstream is up
    relay(side, other);
    shutdownIfFlushed(other, side);
  }
}

void TcpSession::onReadCb(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<TcpSession*>(arg);
  self->lastActivityMs_ = core::monotonicMs();
  if (self->state_ != State::Relaying) return;  // kept in the input buffer until then
  self->relay(self->sideOf(bev), self->otherOf(bev));
}

void TcpSession::onWriteCb(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<TcpSession*>(arg);
  if (self->state_ != State::Relaying) return;
  self->onWritable(self->sideOf(bev), self->otherOf(bev));
}

void TcpSession::onEventCb(bufferevent* bev, short what, void* arg) noexcept {
  auto* self = static_cast<TcpSession*>(arg);
  self->onEvent(self->sideOf(bev), self->otherOf(bev), what);
}

void TcpSession::onIdleTimer() {
  const int64_t idleFor = core::monotonicMs() - lastActivityMs_;
  if (idleFor >= idleTimeoutMs_) {
    finalize(core::TerminationReason::IdleTimeout);
  } else {
    idleTimer_.enable(std::chrono::milliseconds(idleTimeoutMs_ - idleFor));
  }
}

void TcpSession::finalize(core::TerminationReason reason) {
  if (state_ == State::Done) return;
  state_ = State::Done;
  if (waiter_) {
    waiter_->cancel();
    waiter_->detach();
    waiter_.reset();
  }
  connector_.reset();
  connectingSlot_.reset();
  idleTimer_.disable();
  queueTimer_.disable();
  retryTimer_.disable();
  listener_->counters.bytesFromClients.fetch_add(bytesIn_, std::memory_order_relaxed);
  listener_->counters.bytesToClients.fetch_add(bytesOut_, std::memory_order_relaxed);
  log::debug("session ", client_.toString(), " -> ", backend_ ? backend_->name() : "-",
             " ended: ", core::label(reason), " in=", bytesIn_, " out=", bytesOut_);
  writeAccessLog(reason);
  downstream_.bev.reset();
  upstream_.bev.reset();
  connection_.reset();  // a raw TCP upstream is never reused: closing frees its slot
  worker_.sessionDone(this);
}

void TcpSession::writeAccessLog(core::TerminationReason reason) const {
  core::AccessLog* accessLog = worker_.shared().accessLog;
  if (accessLog == nullptr || !accessLog->enabled()) return;
  core::AccessRecord r;
  r.start = startedWall_;
  r.client = client_.toString();
  r.listener = listener_->config.name;
  if (backend_) r.backend = backend_->name();
  r.bytesIn = bytesIn_;
  r.bytesOut = bytesOut_;
  r.duration = core::monotonicSeconds() - startedSec_;
  r.poolWait = poolWaitSec_;
  r.connect = connectSec_;
  r.termination = core::code(reason);
  r.reason = core::label(reason);
  accessLog->write(static_cast<size_t>(worker_.index()), r);
}

}  // namespace sluice::tcp
