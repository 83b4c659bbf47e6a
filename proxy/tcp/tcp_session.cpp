#include "tcp/tcp_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <random>

#include "core/clock.h"
#include "core/log.h"
#include "net/proxy_protocol.h"
#include "process/access_log.h"
#include "process/worker.h"

namespace sluice::tcp {
namespace {

// 10-50 ms before a connect retry, from a per-thread generator (no lock).
int64_t retryBackoffMs() {
  thread_local std::minstd_rand generator{std::random_device{}()};
  return std::uniform_int_distribution<int64_t>(10, 50)(generator);
}

}  // namespace

TcpSession::TcpSession(process::Worker& worker, std::shared_ptr<process::ListenerRuntime> listener,
                       core::Fd fd, const net::SocketAddress& client)
    : Session(worker, listener, client),
      cluster_(listener_->cluster),
      bufferLimit_(std::max<size_t>(listener_->config.bufferBytes, 1024)),
      connectRetriesLeft_(listener_->cluster->config().retries.connect),
      idleTimer_(
          worker.timers(), [](void* self) { static_cast<TcpSession*>(self)->onIdleTimer(); }, this),
      queueTimer_(
          worker.timers(), [](void* self) { static_cast<TcpSession*>(self)->onQueueTimeout(); },
          this),
      retryTimer_(
          worker.timers(), [](void* self) { static_cast<TcpSession*>(self)->retryConnect(); },
          this),
      lastActivityMs_(core::monotonicMs()),
      idleTimeoutMs_(std::min(listener_->config.timeouts.idle.count(),
                              listener_->cluster->config().timeouts.idle.count())),
      startedWall_(std::chrono::system_clock::now()),
      startedSec_(core::monotonicSeconds()) {
  net::setNoDelay(fd.get());
  downstream_.socket.emplace(worker.dispatcher(), std::move(fd), asHandler());
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
    finalize(process::TerminationReason::ConnectFailed);
    return;
  }
  if (!cluster_->anyAvailable(core::monotonicMs())) {
    cluster_->counters.noHealthyBackend.fetch_add(1, std::memory_order_relaxed);
    finalize(process::TerminationReason::NoHealthyBackend);
    return;
  }
  waiter_ = std::make_shared<upstream::SlotWaiter>(worker_.dispatcher(), this);
  if (!admission->enqueue(waiter_)) {
    waiter_.reset();
    cluster_->counters.queueFull.fetch_add(1, std::memory_order_relaxed);
    listener_->counters.rejected[static_cast<int>(process::RejectReason::QueueFull)].fetch_add(1);
    finalize(process::TerminationReason::QueueFull);
    return;
  }
  state_ = State::Queued;
  queuedAtSec_ = core::monotonicSeconds();
  cluster_->counters.queued.fetch_add(1, std::memory_order_relaxed);
  queueTimer_.enable(cluster_->config().pool.queueTimeout);
  worker_.askPeersForIdle(cluster_);
}

void TcpSession::onSlotGranted(std::shared_ptr<upstream::Backend> backend) {
  upstream::SlotGuard slot(cluster_->admission(), std::move(backend));
  if (!leaveQueue()) return;  // the slot goes straight back
  connectTo(std::move(slot));
}

// A grant arrived: stop waiting. True (and the pool wait recorded) if the
// session was still queued and so takes what was granted.
bool TcpSession::leaveQueue() {
  waiter_.reset();
  queueTimer_.disable();
  if (state_ != State::Queued) return false;
  recordPoolWait();
  return true;
}

void TcpSession::recordPoolWait() {
  poolWaitSec_ = core::monotonicSeconds() - queuedAtSec_;
  cluster_->counters.poolWait.observe(poolWaitSec_);
}

// An idle pre-warmed connection handed over by a pool (perhaps another
// worker's): relay over it as acquireUpstream() would have. One that already
// carried http requests is no fresh stream for a tcp client, so only its
// slot is kept and a new connection opened.
void TcpSession::onConnectionGranted(std::unique_ptr<upstream::UpstreamConnection> connection) {
  if (state_ != State::Queued || connection->requests > 0) {
    SlotGrantHandler::onConnectionGranted(std::move(connection));
    return;
  }
  leaveQueue();
  startRelay(std::move(connection));
}

void TcpSession::onQueueTimeout() {
  if (state_ != State::Queued) return;
  recordPoolWait();
  cluster_->counters.queueTimeout.fetch_add(1, std::memory_order_relaxed);
  listener_->counters.rejected[static_cast<int>(process::RejectReason::QueueTimeout)].fetch_add(1);
  finalize(process::TerminationReason::QueueTimeout);
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
    log::debug("session from ", client_.toString(), ": connect to ", backend_->name(),
               " failed: ", result.error);
    failedBackends_.push_back(backend_.get());
    connectingSlot_.reset();
    cluster_->reportConnectFailure(*backend_, result.failure);
    if (connectRetriesLeft_ > 0 && core::monotonicMs() < connectDeadlineMs_) {
      --connectRetriesLeft_;
      // A short jittered pause: a backend that just refused is often
      // restarting, and many sessions failing together should not retry
      // in lock step.
      state_ = State::Acquiring;
      retryTimer_.enable(std::chrono::milliseconds(retryBackoffMs()));
    } else {
      finalize(process::TerminationReason::ConnectFailed);
    }
    return;
  }
  // Ends a run of connect failures only: a backend that accepts and then
  // resets every session is sick too. Its first bytes count as a success.
  cluster_->reportConnectSuccess(*backend_);
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
  // The socket owns the fd from here; connection_ keeps the slot. (One an
  // http session used on a shared cluster comes as a StreamSocket.)
  connection_->releaseSocket();
  upstream_.socket.emplace(worker_.dispatcher(), std::move(connection_->fd), asHandler());
  sendProxyHeader();
  // What the client sent while we were connecting goes first.
  if (early_) {
    bytesIn_ += evbuffer_get_length(early_.get());
    upstream_.socket->send(early_.get());
    early_.reset();
  }
  if (!downstream_.readEof) downstream_.socket->resumeReading();
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
  const net::SocketAddress local = net::localAddress(downstream_.socket->fd());
  const std::string header = version == config::ProxyProtocolVersion::V1
                                 ? net::proxy_protocol::encodeV1(client_.raw(), local.raw())
                                 : net::proxy_protocol::encodeV2(client_.raw(), local.raw());
  upstream_.socket->send(header.data(), header.size());
}

// Before the upstream is ready: keep what the client sends, up to one
// buffer, then stop reading until the relay starts.
void TcpSession::readEarly() {
  if (!early_) early_.reset(evbuffer_new());
  const size_t held = evbuffer_get_length(early_.get());
  const std::span<char> scratch = worker_.relayBuffer();
  const size_t room = std::min(scratch.size(), bufferLimit_ - std::min(held, bufferLimit_));
  if (room == 0) {
    downstream_.socket->pauseReading();
    return;
  }
  const auto result = downstream_.socket->read(scratch.first(room));
  switch (result.status) {
    case core::StreamSocket::ReadStatus::Data:
      evbuffer_add(early_.get(), scratch.data(), result.bytes);
      break;
    case core::StreamSocket::ReadStatus::Eof:
      downstream_.readEof = true;  // forwarded once the upstream is up
      downstream_.socket->pauseReading();
      break;
    case core::StreamSocket::ReadStatus::Error:
      onReset(downstream_);
      break;
    case core::StreamSocket::ReadStatus::WouldBlock:
      break;
  }
}

// One recv() from `from`, one send() to `to`. Reading at most one buffer's
// worth at a time bounds what can be queued on `to` to two buffers.
void TcpSession::relay(Side& from, Side& to) {
  const std::span<char> scratch = worker_.relayBuffer();
  const auto result = from.socket->read(scratch.first(std::min(scratch.size(), bufferLimit_)));
  switch (result.status) {
    case core::StreamSocket::ReadStatus::Data:
      if (&from == &upstream_ && bytesOut_ == 0) cluster_->reportSuccess(*backend_);
      (&from == &downstream_ ? bytesIn_ : bytesOut_) += result.bytes;
      // A failed send is reported by onWriteError on the next loop turn.
      if (to.socket->send(scratch.data(), result.bytes) && to.socket->pending() >= bufferLimit_) {
        from.socket->pauseReading();
      }
      break;
    case core::StreamSocket::ReadStatus::Eof:
      from.readEof = true;
      from.socket->pauseReading();  // level-triggered: EOF would fire forever
      shutdownIfFlushed(to, from);
      break;
    case core::StreamSocket::ReadStatus::Error:
      onReset(from);
      break;
    case core::StreamSocket::ReadStatus::WouldBlock:
      break;
  }
}

// A reset or error on one side resets the other, so neither peer mistakes
// an aborted stream for a clean end.
void TcpSession::onReset(Side& side) {
  const bool downstream = &side == &downstream_;
  if (!downstream && backend_) cluster_->reportRequestFailure(*backend_);
  Side& other = downstream ? upstream_ : downstream_;
  if (other.socket) other.socket->resetOnClose();
  finalize(downstream ? process::TerminationReason::DownstreamReset
                      : process::TerminationReason::UpstreamReset);
}

// Forwards the other side's EOF once everything it sent has been written.
void TcpSession::shutdownIfFlushed(Side& to, const Side& other) {
  if (!other.readEof || to.writeShut || state_ != State::Relaying) return;
  if (to.socket->pending() > 0) return;  // onFlushed calls again
  to.socket->shutdownWrite();
  to.writeShut = true;
  if (downstream_.writeShut && upstream_.writeShut) {
    finalize(process::TerminationReason::Completed);
  }
}

void TcpSession::onReadable(core::StreamSocket& socket) {
  lastActivityMs_ = core::monotonicMs();
  if (state_ == State::Done) return;
  if (isDownstream(socket)) {
    if (state_ == State::Relaying) {
      relay(downstream_, upstream_);
    } else {
      readEarly();
    }
  } else {
    relay(upstream_, downstream_);
  }
}

void TcpSession::onFlushed(core::StreamSocket& socket) {
  lastActivityMs_ = core::monotonicMs();
  if (state_ != State::Relaying) return;
  Side& to = isDownstream(socket) ? downstream_ : upstream_;
  Side& other = isDownstream(socket) ? upstream_ : downstream_;
  if (other.socket->readingPaused() && !other.readEof && to.socket->pending() <= bufferLimit_ / 2) {
    other.socket->resumeReading();
  }
  shutdownIfFlushed(to, other);
}

void TcpSession::onWriteError(core::StreamSocket& socket, int /*error*/) {
  if (state_ == State::Done) return;
  onReset(isDownstream(socket) ? downstream_ : upstream_);
}

void TcpSession::onIdleTimer() {
  const int64_t idleFor = core::monotonicMs() - lastActivityMs_;
  if (idleFor >= idleTimeoutMs_) {
    finalize(process::TerminationReason::IdleTimeout);
  } else {
    idleTimer_.enable(std::chrono::milliseconds(idleTimeoutMs_ - idleFor));
  }
}

void TcpSession::finalize(process::TerminationReason reason) {
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
             " ended: ", process::label(reason), " in=", bytesIn_, " out=", bytesOut_);
  writeAccessLog(reason);
  downstream_.socket.reset();
  upstream_.socket.reset();
  early_.reset();
  connection_.reset();  // a raw TCP upstream is never reused: closing frees its slot
  worker_.sessionDone(this);
}

void TcpSession::writeAccessLog(process::TerminationReason reason) const {
  process::AccessLog* accessLog = worker_.shared().accessLog;
  if (accessLog == nullptr || !accessLog->enabled()) return;
  process::AccessRecord r;
  r.start = startedWall_;
  r.client = client_.toString();
  r.listener = listener_->config.name;
  if (backend_) r.backend = backend_->name();
  r.bytesIn = bytesIn_;
  r.bytesOut = bytesOut_;
  r.duration = core::monotonicSeconds() - startedSec_;
  r.poolWait = poolWaitSec_;
  r.connect = connectSec_;
  r.termination = process::code(reason);
  r.reason = process::label(reason);
  accessLog->write(static_cast<size_t>(worker_.index()), r);
}

}  // namespace sluice::tcp
