#include "http/http_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <span>

#include "core/clock.h"
#include "core/log.h"
#include "http/request_buffering.h"
#include "http/rewrite.h"
#include "http/upgrade_policy.h"
#include "net/socket.h"
#include "process/access_log.h"
#include "process/worker.h"

namespace sluice::http {
namespace {

ParserLimits requestLimits(const config::Listener& listener) {
  return {listener.http.maxHeaderBytes, listener.http.maxBodyBytes, listener.http.maxHeaderCount};
}

// Response heads from a backend may be larger than what clients may send.
constexpr uint64_t kMaxResponseHeaderBytes = 256 * 1024;

// How long a closing session reads and discards what the client still sends.
constexpr int64_t kLingerMs = 1000;

int64_t millis(std::chrono::milliseconds d) {
  return d.count();
}

}  // namespace

HttpSession::Exchange::Exchange(HttpSession& session)
    : requestEvents(session),
      responseEvents(session),
      requestParser(ParserMode::Request, requestEvents, requestLimits(session.listener_->config)),
      staged(evbuffer_new()),
      toClient(evbuffer_new()),
      bytesInAtStart(session.bytesIn_),
      bytesOutAtStart(session.bytesOut_) {}

HttpSession::Exchange::~Exchange() {
  if (waiter) {
    waiter->cancel();
    waiter->detach();
  }
}

HttpSession::HttpSession(process::Worker& worker,
                         std::shared_ptr<process::ListenerRuntime> listener, core::Fd fd,
                         const net::SocketAddress& client)
    : Session(worker, listener, client),
      cluster_(listener_->cluster),
      bufferLimit_(std::max<size_t>(listener_->config.bufferBytes, 1024)),
      requestBufferLimit_(
          requestBufferLimit(listener_->config.http.requestBufferBytes, bufferLimit_)),
      timer_(
          worker.timers(), [](void* self) { static_cast<HttpSession*>(self)->onTimer(); }, this),
      lastActivityMs_(core::monotonicMs()) {
  down_.emplace(worker.dispatcher(), std::move(fd), asHandler());
  // Whether to drain is the worker's state, read where it matters: a session
  // that starts after its worker began draining (its PROXY header was still
  // pending then) missed onDrain() but still answers with Connection: close
  // instead of holding the drain open.
}

HttpSession::~HttpSession() = default;

void HttpSession::start() {
  // The first request's header clock starts at accept (slowloris).
  const int64_t now = core::monotonicMs();
  headerDeadlineMs_ = now + millis(listener_->config.timeouts.requestHeader);
  rearmTimer(now);
}

void HttpSession::onDrain() {
  // An idle keep-alive connection is closed now; a busy one gets
  // Connection: close on its current response.
  if (phase_ == Phase::WaitingHead && (!exchange_ || exchange_->requestParser.headerBytes() == 0) &&
      heldBytes() == 0) {
    finalize(process::TerminationReason::Completed);
  }
}

// ---------------------------------------------------------------- downstream

size_t HttpSession::requestBytesQueued() const {
  if (!exchange_) return 0;
  return evbuffer_get_length(exchange_->staged.get()) +
         (exchange_->up ? exchange_->up->pending() : 0);
}

// Parsed bytes collect in staging buffers during a feed() and leave in one
// send() afterwards: one syscall, no EV_WRITE unless the socket is full.
void HttpSession::flushToUpstream() {
  if (!exchange_ || !exchange_->up) return;
  Exchange& ex = *exchange_;
  if (evbuffer_get_length(ex.staged.get()) == 0) return;
  // A send that does not fail at once gave bytes to the kernel (or queued
  // them for it): from then on the backend may have read the request. One
  // that fails leaves every byte in `staged` (see retryOnFreshConnection).
  if (ex.up->send(ex.staged.get())) ex.requestMayHaveLeft = true;
}

void HttpSession::flushToClient() {
  if (!down_ || !exchange_ || evbuffer_get_length(exchange_->toClient.get()) == 0) return;
  beforeClientWrite();
  down_->send(exchange_->toClient.get());
}

void HttpSession::sendToClient(const char* data, size_t len) {
  if (len == 0) return;
  beforeClientWrite();
  down_->send(data, len);
}

// Nagle holds back a small segment only while an earlier one is
// unacknowledged, so the first write on a connection never waits. TCP_NODELAY
// is set at the second (the next response on a keep-alive connection, or the
// next piece of a streamed one), as nginx does: a `Connection: close` request
// answered in one write never pays for the setsockopt.
void HttpSession::beforeClientWrite() {
  if (downWritten_) setClientNoDelay();
  downWritten_ = true;
}

void HttpSession::setClientNoDelay() {
  if (downNoDelay_) return;
  downNoDelay_ = true;
  net::setNoDelay(down_->fd());
}

// One recv() into the worker's scratch buffer, parsed from there. Only what
// the parser does not take (a pipelined request behind the current one, body
// bytes beyond what may be staged, tunnel bytes after an upgrade request)
// is copied, into pendingIn_. Reading pauses only when buffer_size bytes of
// request wait (back-pressure), never around ordinary requests.
void HttpSession::readDownstream() {
  const size_t held = heldBytes();
  const size_t queued = requestBytesQueued() + held;
  if (queued >= bufferLimit_) {
    if (!downPaused_) {
      downPaused_ = true;
      down_->pauseReading();
    }
    return;
  }
  const std::span<char> scratch = worker_.relayBuffer();
  const auto result = down_->read(scratch.first(std::min(scratch.size(), bufferLimit_ - queued)));
  switch (result.status) {
    case core::StreamSocket::ReadStatus::Data:
      break;
    case core::StreamSocket::ReadStatus::WouldBlock:
      return;
    case core::StreamSocket::ReadStatus::Eof:
      down_->pauseReading();  // level-triggered: EOF would fire forever
      onClientEof();
      return;
    case core::StreamSocket::ReadStatus::Error:
      finalize(process::TerminationReason::DownstreamReset);
      return;
  }
  if (held > 0) {
    evbuffer_add(pendingIn_.get(), scratch.data(), result.bytes);
    processDownstream();
    return;
  }
  feeding_ = true;
  const size_t taken = parseRequest(scratch.data(), result.bytes);
  feeding_ = false;
  if (taken < result.bytes && phase_ != Phase::Done && phase_ != Phase::Closing) {
    if (!pendingIn_) pendingIn_.reset(evbuffer_new());
    evbuffer_add(pendingIn_.get(), scratch.data() + taken, result.bytes - taken);
  }
}

// Parses what waits in pendingIn_, as far as the current request allows.
void HttpSession::processDownstream() {
  if (feeding_) return;  // the running parseRequest() goes on by itself
  while (pendingIn_ && evbuffer_get_length(pendingIn_.get()) > 0 && phase_ != Phase::Done &&
         phase_ != Phase::Closing && phase_ != Phase::Tunnel) {
    evbuffer_iovec chunk{};
    evbuffer_peek(pendingIn_.get(), -1, nullptr, &chunk, 1);
    feeding_ = true;
    const size_t taken = parseRequest(static_cast<const char*>(chunk.iov_base), chunk.iov_len);
    feeding_ = false;
    if (pendingIn_) evbuffer_drain(pendingIn_.get(), taken);
    if (taken < chunk.iov_len) break;
  }
  if (pendingIn_ && evbuffer_get_length(pendingIn_.get()) == 0) pendingIn_.reset();
  resumeDownstreamIfDrained();
}

// Feeds client bytes to the request parser and acts on what it finds;
// returns how many it took. Stops at the end of a request (the next one
// waits for this one's response), at buffer_size staged bytes, and when the
// session stops parsing (an error, a close, an upgrade).
size_t HttpSession::parseRequest(const char* data, size_t len) {
  size_t taken = 0;
  while (taken < len && phase_ != Phase::Done && phase_ != Phase::Closing &&
         phase_ != Phase::Tunnel) {
    if (exchange_ && exchange_->requestComplete) break;  // pipelined bytes wait for this response
    // A request begins: what it needs lives until its response is done.
    if (!exchange_) exchange_ = std::make_unique<Exchange>(*this);
    Exchange& ex = *exchange_;
    if (phase_ == Phase::WaitingHead && headerDeadlineMs_ == kNoDeadline) {
      headerDeadlineMs_ = core::monotonicMs() + millis(listener_->config.timeouts.requestHeader);
      armTimer(headerDeadlineMs_);
    }
    const size_t queued = requestBytesQueued();
    if (queued >= bufferLimit_) break;  // back-pressure: more once the upstream drains
    const size_t n = std::min(len - taken, bufferLimit_ - queued);
    const ParseResult result = ex.requestParser.feed(data + taken, n);
    taken += result.consumed;
    bytesIn_ += result.consumed;
    flushToUpstream();
    if (result.status == ParseStatus::Error) {
      if (ex.responseStarted || phase_ == Phase::Exchanging) {
        // The body went bad mid-stream; the upstream has a partial request.
        releaseUpstream(false);
        if (ex.responseStarted) {
          finalize(process::TerminationReason::DownstreamReset);
          return taken;
        }
      }
      sendError(ex.requestParser.errorStatus(), ex.requestParser.errorToken(),
                process::TerminationReason::DownstreamReset);
      return taken;
    }
    if (ex.headArrived) onHeadParsed();
    if (phase_ == Phase::BufferingBody) leaseWhenBuffered();
    // Nothing taken, or nothing more to take (Closed: bytes after a
    // Connection: close request are ignored): wait for the next event.
    if (result.consumed == 0 || result.status == ParseStatus::Closed ||
        result.status == ParseStatus::Upgraded) {
      break;
    }
  }
  return taken;
}

// Acts on a head outside the parser callback: the request's clocks start,
// and it asks for a connection, or first reads its (small) body.
void HttpSession::onHeadParsed() {
  Exchange& ex = *exchange_;
  ex.headArrived = false;
  headerDeadlineMs_ = kNoDeadline;
  ex.requestOpen = true;
  ex.startWall = std::chrono::system_clock::now();
  ex.startSec = core::monotonicSeconds();
  const int64_t now = core::monotonicMs();
  ex.requestDeadlineMs = now + millis(listener_->config.timeouts.request);
  armTimer(ex.requestDeadlineMs);
  const int64_t bodyTimeoutMs = millis(listener_->config.timeouts.requestBody);
  if (!ex.requestComplete && ex.request.hasBody() && bodyTimeoutMs > 0) {
    ex.bodyDeadlineMs = now + bodyTimeoutMs;
    armTimer(ex.bodyDeadlineMs);
  }
  ex.connectRetriesLeft = cluster_->config().retries.connect;
  if (!ex.requestComplete && bufferBodyFirst(ex.request, requestBufferLimit_)) {
    phase_ = Phase::BufferingBody;
    if (ex.request.expectContinue) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      bytesOut_ += kContinue.size();
      sendToClient(kContinue.data(), kContinue.size());
    }
    return;
  }
  acquireUpstream();
}

// Buffering ends when the body is in, outgrew the limit (it streams on), or
// fills what may be staged (reading would stop for good otherwise).
void HttpSession::leaseWhenBuffered() {
  const Exchange& ex = *exchange_;
  if (bufferingOver(ex.requestComplete, ex.bodyBytesIn, requestBufferLimit_) ||
      requestBytesQueued() >= bufferLimit_) {
    acquireUpstream();
  }
}

HeadAction HttpSession::onRequestHead(RequestHead& head) {
  Exchange& ex = *exchange_;
  ex.request = std::move(head);
  RequestRewrite rewrite;
  const std::string clientIp = client_.ip();
  rewrite.clientIp = clientIp;
  // An Upgrade not on the allow-list (h2c, ...) goes on as a plain request:
  // the rewrite drops Upgrade, and the response parser refuses a 101.
  if (ex.request.upgrade && !upgradeAllowed(ex.request, listener_->config.http.upgrade)) {
    ex.request.upgrade = false;
  }
  rewrite.forwardUpgrade = ex.request.upgrade;
  rewrite.appendForwardedFor =
      listener_->config.http.forwardedHeaders == config::ForwardedHeaders::Append;
  // An HTTP/1.0 client may send no Host; HTTP/1.1 upstreams require one.
  rewrite.fallbackHost = cluster_->name();
  // A buffered body's 100 Continue comes from sluice (onHeadParsed).
  rewrite.dropExpect =
      ex.request.expectContinue && bufferBodyFirst(ex.request, requestBufferLimit_);
  const std::string headBytes = serializeRequestHead(ex.request, rewrite);
  evbuffer_add(ex.staged.get(), headBytes.data(), headBytes.size());
  ex.headArrived = true;
  phase_ = Phase::Acquiring;
  return HeadAction::proceed();
}

void HttpSession::onRequestBody(const char* data, size_t len) {
  Exchange& ex = *exchange_;
  evbuffer_add(ex.staged.get(), data, len);
  ex.replay.append(data, len);  // kept only while a copy is being made
  ex.bodyBytesIn += len;
  if (ex.bodyDeadlineMs != kNoDeadline) {
    // Later than the armed deadline: costs nothing (see onTimer).
    ex.bodyDeadlineMs = lastActivityMs_ + millis(listener_->config.timeouts.requestBody);
  }
}

// Reading stopped because request bytes piled up; a new lease may just have
// taken them all, and a lease whose socket took everything at once never
// calls onFlushed, so nothing else would turn reading back on.
void HttpSession::resumeDownstreamIfDrained() {
  if (downPaused_ && !clientEof_ && down_ &&
      (phase_ != Phase::Done && phase_ != Phase::Closing && phase_ != Phase::Tunnel) &&
      requestBytesQueued() + heldBytes() < bufferLimit_) {
    downPaused_ = false;
    down_->resumeReading();
  }
}

// The response is done and the connection stays: back to idle, holding
// nothing of the request. Callers return right after (the exchange is gone).
void HttpSession::beginNextRequest() {
  ++requests_;
  exchange_.reset();
  phase_ = Phase::WaitingHead;
  if (worker_.draining()) {
    finalize(process::TerminationReason::Completed);
    return;
  }
  processDownstream();
}

// ------------------------------------------------------------------ upstream

// Same order as the tcp session: a warm pooled connection, else a free slot,
// else the cluster's FIFO queue.
void HttpSession::acquireUpstream() {
  Exchange& ex = *exchange_;
  phase_ = Phase::Acquiring;
  auto& balancer = worker_.balancer(*cluster_);
  const auto& admission = cluster_->admission();
  std::vector<const upstream::Backend*> tried = ex.failedBackends;
  while (auto backend = balancer.pick(client_.ipHash(), tried)) {
    auto& pool = worker_.pool(cluster_, backend);
    if (!ex.forceFresh) {
      if (auto connection = pool.takeIdle(true)) {
        if (connection->requests > 0) {
          cluster_->counters.reuses.fetch_add(1, std::memory_order_relaxed);
        }
        pool.refill();
        startExchange(std::move(connection));
        return;
      }
    }
    if (admission->pending() == 0 && backend->tryAcquireSlot()) {
      connectTo(upstream::SlotGuard(admission, backend));
      return;
    }
    tried.push_back(backend.get());
  }
  if (!ex.failedBackends.empty() && tried.size() == ex.failedBackends.size()) {
    sendError(502, "connect_failed", process::TerminationReason::ConnectFailed);
    return;
  }
  if (!cluster_->anyAvailable(core::monotonicMs())) {
    cluster_->counters.noHealthyBackend.fetch_add(1, std::memory_order_relaxed);
    sendError(503, "no_healthy_backend", process::TerminationReason::NoHealthyBackend);
    return;
  }
  ex.waiter = std::make_shared<upstream::SlotWaiter>(worker_.dispatcher(), this);
  if (!admission->enqueue(ex.waiter)) {
    ex.waiter.reset();
    cluster_->counters.queueFull.fetch_add(1, std::memory_order_relaxed);
    listener_->counters.rejected[static_cast<int>(process::RejectReason::QueueFull)].fetch_add(1);
    sendError(503, "queue_full", process::TerminationReason::QueueFull);
    return;
  }
  phase_ = Phase::Queued;
  ex.queuedAtSec = core::monotonicSeconds();
  cluster_->counters.queued.fetch_add(1, std::memory_order_relaxed);
  ex.queueDeadlineMs = core::monotonicMs() + millis(cluster_->config().pool.queueTimeout);
  armTimer(ex.queueDeadlineMs);
  worker_.askPeersForIdle(cluster_);
}

void HttpSession::onSlotGranted(std::shared_ptr<upstream::Backend> backend) {
  upstream::SlotGuard slot(cluster_->admission(), std::move(backend));
  if (!exchange_ || !leaveQueue()) return;  // the slot goes straight back
  connectTo(std::move(slot));
}

// A grant arrived: stop waiting for one. True (and the pool wait recorded)
// when the request is still queued and takes it.
bool HttpSession::leaveQueue() {
  Exchange& ex = *exchange_;
  ex.waiter.reset();
  ex.queueDeadlineMs = kNoDeadline;
  if (phase_ != Phase::Queued) return false;
  ex.poolWaitSec = core::monotonicSeconds() - ex.queuedAtSec;
  cluster_->counters.poolWait.observe(ex.poolWaitSec);
  return true;
}

void HttpSession::onConnectionGranted(std::unique_ptr<upstream::UpstreamConnection> connection) {
  // Returning early drops the connection, which frees its slot for the next waiter.
  if (!exchange_ || !leaveQueue()) return;
  Exchange& ex = *exchange_;
  if (ex.forceFresh || !upstream::idleQuiet(*connection)) {
    // A retry goes out on a fresh connection, and a connection that holds
    // bytes nobody asked for (or was closed) is not used: keep the slot,
    // close the socket.
    upstream::SlotGuard slot = std::move(connection->slot);
    connection.reset();
    connectTo(std::move(slot));
    return;
  }
  // A pre-warmed connection handed over for its first request is no reuse.
  if (connection->requests > 0) cluster_->counters.reuses.fetch_add(1, std::memory_order_relaxed);
  startExchange(std::move(connection));
}

void HttpSession::connectTo(upstream::SlotGuard slot) {
  Exchange& ex = *exchange_;
  phase_ = Phase::Connecting;
  ex.backend = slot.backend();
  ex.connectingSlot = std::move(slot);
  ex.backend->counters.connectTotal.fetch_add(1, std::memory_order_relaxed);
  ex.connector = std::make_unique<upstream::Connector>(
      worker_.dispatcher(), ex.backend->address(), cluster_->config().timeouts.connect,
      [this](upstream::ConnectResult result) { onConnectResult(std::move(result)); });
}

void HttpSession::onConnectResult(upstream::ConnectResult result) {
  Exchange& ex = *exchange_;
  auto finished = std::move(ex.connector);  // freed when this returns
  if (!result.ok()) {
    cluster_->reportConnectFailure(*ex.backend, result.failure);  // passive outlier detection
    ex.connectingSlot.reset();
    if (result.failure == upstream::ConnectFailure::Local) {
      // Out of descriptors or ports here: no backend would do better now.
      sendError(503, "local_resources", process::TerminationReason::ConnectFailed);
      return;
    }
    ex.failedBackends.push_back(ex.backend.get());
    if (ex.connectRetriesLeft > 0) {
      --ex.connectRetriesLeft;
      acquireUpstream();
    } else {
      sendError(502, "connect_failed", process::TerminationReason::ConnectFailed);
    }
    return;
  }
  cluster_->reportConnectSuccess(*ex.backend);  // a request success comes with the response
  ex.connectSec = result.seconds;
  cluster_->counters.connectDuration.observe(result.seconds);
  auto connection = std::make_unique<upstream::UpstreamConnection>();
  connection->fd = std::move(result.fd);
  connection->slot = std::move(ex.connectingSlot);
  connection->createdMs = core::monotonicMs();
  startExchange(std::move(connection));
}

void HttpSession::startExchange(std::unique_ptr<upstream::UpstreamConnection> connection) {
  Exchange& ex = *exchange_;
  phase_ = Phase::Exchanging;
  ++exchangeId_;
  ex.connection = std::move(connection);
  ex.backend = ex.connection->slot.backend();
  ex.connectionReused = ex.connection->requests > 0;
  // The socket is the lease's for the exchange; releaseUpstream() gives it
  // back to the connection, which may go back to the pool. A connection
  // that served an earlier request on this worker still has its socket (and
  // its registered read event): taking it over costs no system call.
  if (ex.connection->socket) {
    ex.up = std::move(ex.connection->socket);
    ex.up->setHandler(asHandler());
  } else {
    ex.up = std::make_unique<core::StreamSocket>(worker_.dispatcher(), std::move(ex.connection->fd),
                                                 asHandler());
  }
  ex.upPaused = false;
  // A parser per lease: the last one may have ended in Closed (a response
  // with Connection: close, or the EOF of a failed attempt).
  ex.responseParser = std::make_unique<MessageParser>(ParserMode::Response, ex.responseEvents,
                                                      ParserLimits{kMaxResponseHeaderBytes, 0});
  ex.responseParser->expectResponseTo(ex.request);
  // Nothing staged has been sent anywhere yet: on a reused connection, copy
  // it (and later every body byte) in case the keep-alive race strikes.
  ex.requestMayHaveLeft = false;
  if (ex.connectionReused && !ex.retried && idempotentMethod(ex.request.method)) {
    ex.replay.start(ex.staged.get());
  } else {
    ex.replay.clear();
  }
  flushToUpstream();
  resumeDownstreamIfDrained();
  // Body bytes may be waiting behind the head.
  processDownstream();
}

// One recv() into the scratch buffer; the response parser reads it there
// and what goes to the client is sent at once (flushToClient). Nothing of a
// response is kept between reads.
void HttpSession::readUpstream() {
  Exchange& ex = *exchange_;
  const std::span<char> scratch = worker_.relayBuffer();
  const size_t want = std::min(scratch.size(), bufferLimit_);
  const auto result = ex.up->read(scratch.first(want));
  switch (result.status) {
    case core::StreamSocket::ReadStatus::Data:
      ex.upstreamBytesSeen = true;
      ex.lastReadFilled = result.bytes == want;
      parseResponse(scratch.data(), result.bytes);
      return;
    case core::StreamSocket::ReadStatus::WouldBlock:
      return;
    case core::StreamSocket::ReadStatus::Eof:
      ex.up->pauseReading();  // level-triggered: EOF would fire forever
      onUpstreamGone(false);
      return;
    case core::StreamSocket::ReadStatus::Error:
      onUpstreamGone(true);
      return;
  }
}

void HttpSession::parseResponse(const char* data, size_t len) {
  size_t taken = 0;
  while (taken < len && up() != nullptr && phase_ == Phase::Exchanging) {
    Exchange& ex = *exchange_;
    const ParseResult result = ex.responseParser->feed(data + taken, len - taken);
    taken += result.consumed;
    flushToClient();
    switch (result.status) {
      case ParseStatus::NeedMore:
        if (result.consumed == 0) return;
        break;
      case ParseStatus::MessageComplete:
        if (ex.responseParser->responseHead().interim()) {
          ex.responseParser->resume();  // 100 Continue went downstream; the real answer follows
          break;
        }
        onResponseComplete(taken < len);  // may free the exchange
        return;
      case ParseStatus::Upgraded:
        startTunnel(data + taken, len - taken);
        return;
      case ParseStatus::Closed:
      case ParseStatus::Error:
        log::debug("http ", client_.toString(), ": bad response from ", ex.backend->name(), ": ",
                   ex.responseParser->errorToken());
        releaseUpstream(false);
        if (ex.responseStarted) {
          finalize(process::TerminationReason::UpstreamReset);
        } else {
          sendError(502, "bad_response", process::TerminationReason::UpstreamReset);
        }
        return;
    }
  }
  // Back-pressure: a slow client stops the upstream until its queue halves.
  if (up() != nullptr && phase_ == Phase::Exchanging && down_ && down_->pending() >= bufferLimit_ &&
      !exchange_->upPaused) {
    exchange_->upPaused = true;
    exchange_->up->pauseReading();
  }
}

HeadAction HttpSession::onResponseHead(ResponseHead& head) {
  Exchange& ex = *exchange_;
  ResponseRewrite rewrite;
  rewrite.clientVersion = ex.request.version;
  if (head.interim()) {
    if (head.switchingProtocols()) {
      rewrite.forwardUpgrade = true;
      rewrite.keepAlive = true;
    } else {
      rewrite.keepAlive = true;
      // An HTTP/1.0 client knows no interim responses.
      if (!ex.request.version.atLeast11()) return HeadAction::proceed();
    }
    const std::string bytes = serializeResponseHead(head, rewrite);
    evbuffer_add(ex.toClient.get(), bytes.data(), bytes.size());
    bytesOut_ += bytes.size();
    return HeadAction::proceed();
  }
  const bool dechunk = needsDechunk(head, ex.request.version);
  ex.keepAliveDownstream = ex.request.keepAlive && !worker_.draining() && !clientEof_ && !dechunk &&
                           head.framing != BodyFraming::CloseDelimited;
  if (dechunk) ex.responseParser->setBodyMode(BodyMode::Decoded);
  rewrite.keepAlive = ex.keepAliveDownstream;
  ex.responseStatus = head.status;
  const std::string bytes = serializeResponseHead(head, rewrite);
  evbuffer_add(ex.toClient.get(), bytes.data(), bytes.size());
  bytesOut_ += bytes.size();
  ex.responseStarted = true;
  return HeadAction::proceed();
}

void HttpSession::onResponseBody(const char* data, size_t len) {
  evbuffer_add(exchange_->toClient.get(), data, len);
  bytesOut_ += len;
}

void HttpSession::onResponseComplete(bool trailingBytes) {
  Exchange& ex = *exchange_;
  const auto& pool = cluster_->config().pool;
  const int64_t now = core::monotonicMs();
  const ResponseHead& head = ex.responseParser->responseHead();
  // A read that filled its buffer may have left bytes after the response in
  // the kernel. A socket-form idle connection is not peeked at takeIdle(), and
  // a pipelined request takes it back before its read event could drop it.
  const bool unreadBytes = ex.lastReadFilled && !upstream::idleQuiet(ex.up->fd());
  const bool reusable =
      head.keepAlive && head.framing != BodyFraming::CloseDelimited && ex.requestComplete &&
      !trailingBytes && !unreadBytes && ex.up->pending() == 0 && !worker_.draining() &&
      ex.connection->requests + 1 < pool.maxRequests &&
      (pool.maxLifetime.count() == 0 || now - ex.connection->createdMs < pool.maxLifetime.count());
  cluster_->reportSuccess(*ex.backend);
  releaseUpstream(reusable);
  ex.requestDeadlineMs = kNoDeadline;
  finishRequest(ex.responseStatus, process::TerminationReason::Completed);
  if (!ex.requestComplete) ex.keepAliveDownstream = false;  // the rest of its body is unread
  if (!ex.keepAliveDownstream) {
    closeAfterFlush(process::TerminationReason::Completed);
    return;
  }
  beginNextRequest();
}

void HttpSession::releaseUpstream(bool reusable) {
  if (!exchange_) return;
  Exchange& ex = *exchange_;
  if (!ex.connection) {
    ex.up.reset();
    return;
  }
  ++ex.connection->requests;
  // A queued request may be on another worker, so a hand-off moves only
  // the fd; a connection going back to this worker's pool keeps its socket.
  const auto& admission = cluster_->admission();
  // A byte after the response (or an EOF) makes it unusable: checked here
  // before a hand-off; one going back to the pool is watched there.
  if (reusable && admission->pending() > 0 && ex.up && !upstream::idleQuiet(ex.up->fd())) {
    reusable = false;
  }
  const bool handOff = reusable && admission->pending() > 0;
  if (ex.up && reusable) ex.connection->socket = std::move(ex.up);
  ex.up.reset();  // closes it unless the connection took it back
  if (handOff) ex.connection->releaseSocket();
  if (reusable && !(handOff && admission->handOff(ex.connection))) {
    auto backend = ex.connection->slot.backend();
    worker_.pool(cluster_, backend).putIdle(std::move(ex.connection));
  }
  if (ex.connection) {
    cluster_->counters.requestsPerConnection.observe(static_cast<double>(ex.connection->requests));
  }
  ex.connection.reset();  // closes it unless the pool took it
}

// Leaves the queue and abandons a connect in progress (the slot goes back).
void HttpSession::stopWaiting() {
  if (!exchange_) return;
  Exchange& ex = *exchange_;
  if (ex.waiter) {
    ex.waiter->cancel();
    ex.waiter->detach();
    ex.waiter.reset();
  }
  ex.connector.reset();
  ex.connectingSlot.reset();
  ex.queueDeadlineMs = kNoDeadline;
}

// A reused connection the backend closed unanswered (the keep-alive race,
// see replay.h): send the same bytes again, once, on a fresh connection.
bool HttpSession::retryOnFreshConnection() {
  Exchange& ex = *exchange_;
  if (ex.retried || !ex.connectionReused || ex.upstreamBytesSeen ||
      !mayRetry(ex.request, ex.requestMayHaveLeft) ||
      (ex.requestMayHaveLeft && !ex.replay.usable())) {
    return false;
  }
  ex.retried = true;
  ex.forceFresh = true;
  releaseUpstream(false);
  if (ex.requestMayHaveLeft) {
    // Everything staged went to the failed connection, so the copy is the
    // whole request so far; body bytes still to come are staged behind it.
    evbuffer_drain(ex.staged.get(), evbuffer_get_length(ex.staged.get()));
    ex.replay.replayInto(ex.staged.get());
  }  // else the first write failed: every byte of the request is still staged
  ex.replay.clear();
  log::debug("http ", client_.toString(), ": retrying ", ex.request.method, " ", ex.request.target,
             " on a fresh connection");
  acquireUpstream();
  return true;
}

void HttpSession::onUpstreamGone(bool error) {
  if (phase_ != Phase::Exchanging) return;
  Exchange& ex = *exchange_;
  if (!error) {
    // EOF may complete a close-delimited body.
    const ParseResult result = ex.responseParser->onEof();
    flushToClient();
    if (result.status == ParseStatus::MessageComplete) {
      onResponseComplete(false);  // may free the exchange
      return;
    }
  }
  if (retryOnFreshConnection()) return;
  if (ex.backend) cluster_->reportRequestFailure(*ex.backend);
  releaseUpstream(false);
  if (ex.responseStarted) {
    finalize(process::TerminationReason::UpstreamReset);
  } else {
    sendError(502, "upstream_reset", process::TerminationReason::UpstreamReset);
  }
}

// After a 101 both sides relay bytes as the tcp session does (one recv, one
// send, pause the reader while the writer has buffer_size queued).
void HttpSession::startTunnel(const char* upstreamBytes, size_t len) {
  Exchange& ex = *exchange_;
  phase_ = Phase::Tunnel;
  ex.requestDeadlineMs = kNoDeadline;
  headerDeadlineMs_ = kNoDeadline;
  setClientNoDelay();  // tunnel bytes are often small and interactive
  // Whatever each side sent after the handshake is already tunnel bytes.
  flushToClient();
  bytesOut_ += len;
  sendToClient(upstreamBytes, len);
  if (pendingIn_) {
    bytesIn_ += evbuffer_get_length(pendingIn_.get());
    ex.up->send(pendingIn_.get());
    pendingIn_.reset();
  }
  if (ex.upPaused) {
    ex.upPaused = false;
    ex.up->resumeReading();
  }
  if (downPaused_ && !clientEof_) {
    downPaused_ = false;
    down_->resumeReading();
  }
  if (clientEof_ && ex.up->pending() == 0) ex.up->shutdownWrite();
}

void HttpSession::relayTunnel(core::StreamSocket& from, core::StreamSocket& to) {
  const bool fromClient = &from == &*down_;
  const std::span<char> scratch = worker_.relayBuffer();
  const auto result = from.read(scratch.first(std::min(scratch.size(), bufferLimit_)));
  switch (result.status) {
    case core::StreamSocket::ReadStatus::Data:
      (fromClient ? bytesIn_ : bytesOut_) += result.bytes;
      if (to.send(scratch.data(), result.bytes) && to.pending() >= bufferLimit_) {
        from.pauseReading();
      }
      return;
    case core::StreamSocket::ReadStatus::WouldBlock:
      return;
    case core::StreamSocket::ReadStatus::Eof:
      from.pauseReading();
      if (fromClient) {
        clientEof_ = true;
        if (to.pending() == 0) to.shutdownWrite();  // else once flushed
      } else {
        upstreamEof_ = true;
        closeAfterFlush(process::TerminationReason::Completed);
      }
      return;
    case core::StreamSocket::ReadStatus::Error:
      finalize(fromClient ? process::TerminationReason::DownstreamReset
                          : process::TerminationReason::UpstreamReset);
      return;
  }
}

// ------------------------------------------------------- answers and endings

void HttpSession::finishRequest(uint16_t status, process::TerminationReason reason) {
  if (!exchange_ || !exchange_->requestOpen) return;
  const Exchange& ex = *exchange_;
  exchange_->requestOpen = false;
  const double duration = core::monotonicSeconds() - ex.startSec;
  if (status != 0) listener_->requests.count(status);
  listener_->requestDuration.observe(duration);
  process::AccessLog* accessLog = worker_.shared().accessLog;
  if (accessLog == nullptr || !accessLog->enabled()) return;
  process::AccessRecord r;
  r.kind = "http";
  r.start = ex.startWall;
  r.client = client_.toString();
  r.listener = listener_->config.name;
  if (ex.backend) r.backend = ex.backend->name();
  r.status = status;
  r.method = ex.request.method;
  r.path = ex.request.target;
  r.bytesIn = bytesIn_ - ex.bytesInAtStart;
  r.bytesOut = bytesOut_ - ex.bytesOutAtStart;
  r.duration = duration;
  r.poolWait = ex.poolWaitSec;
  r.connect = ex.connectSec;
  r.termination = process::code(reason);
  r.reason = process::label(reason);
  accessLog->write(static_cast<size_t>(worker_.index()), r);
}

void HttpSession::sendError(uint16_t status, std::string_view reason,
                            process::TerminationReason why) {
  if (phase_ == Phase::Done || phase_ == Phase::Closing) return;
  stopWaiting();
  releaseUpstream(false);
  if (exchange_ && exchange_->responseStarted) {
    finalize(why);
    return;
  }
  // A 408 to a connection that never sent a byte answers a request too.
  if (!exchange_) exchange_ = std::make_unique<Exchange>(*this);
  Exchange& ex = *exchange_;
  ErrorResponse error;
  error.status = status;
  error.reason = reason;
  error.close = true;
  error.clientVersion = ex.request.version;
  error.headRequest = ex.request.method == "HEAD";
  ex.responseStatus = status;
  if (!ex.requestOpen) {
    // Refused before a head was read (400, 408, 431): still a request answered.
    ex.requestOpen = true;
    ex.startWall = std::chrono::system_clock::now();
    ex.startSec = core::monotonicSeconds();
  }
  const std::string bytes = buildErrorResponse(error);
  bytesOut_ += bytes.size();
  finishRequest(status, why);
  bytesOut_ -= bytes.size();  // counted again below with the write
  evbuffer_drain(ex.toClient.get(), evbuffer_get_length(ex.toClient.get()));
  evbuffer_add(ex.toClient.get(), bytes.data(), bytes.size());
  flushToClient();
  bytesOut_ += bytes.size();
  log::debug("http ", client_.toString(), ": answered ", status, " ", reason);
  closeAfterFlush(why);
}

void HttpSession::closeAfterFlush(process::TerminationReason why) {
  if (phase_ == Phase::Done) return;
  // A client that asked for the close, and whose request was read to its
  // end with nothing behind it, sends no more: the socket can simply be
  // closed once the response is out. Any other may still be sending.
  const bool clientDone = exchange_ && exchange_->requestComplete &&
                          !exchange_->request.keepAlive && phase_ != Phase::Tunnel &&
                          (!pendingIn_ || evbuffer_get_length(pendingIn_.get()) == 0);
  mustLinger_ = mustLinger_ || !clientDone;
  phase_ = Phase::Closing;
  closingReason_ = why;
  headerDeadlineMs_ = kNoDeadline;
  if (exchange_) {
    exchange_->requestDeadlineMs = kNoDeadline;
    exchange_->queueDeadlineMs = kNoDeadline;
    exchange_->bodyDeadlineMs = kNoDeadline;
  }
  // Reading stays on (no epoll_ctl): whatever arrives from here on is read
  // and discarded, and makes the close a lingering one (onReadable).
  downPaused_ = false;
  if (!clientEof_) down_->resumeReading();
  if (exchange_ && exchange_->up) exchange_->up->pauseReading();  // a tunnel's upstream
  if (down_->pending() == 0) startLingering();                    // else onFlushed() calls it
}

// Closing with unread request bytes in the kernel would send an RST that can
// destroy the response before the client reads it. So, unless the client is
// known to be done: FIN first, then read and discard until the client closes
// too, for a short while at most.
void HttpSession::startLingering() {
  if (lingering_) return;
  if (clientEof_ || !mustLinger_) {
    finalize(closingReason_);  // closing the socket sends the FIN
    return;
  }
  lingering_ = true;
  down_->shutdownWrite();
  if (pendingIn_) evbuffer_drain(pendingIn_.get(), evbuffer_get_length(pendingIn_.get()));
  downPaused_ = false;
  down_->resumeReading();
  lingerDeadlineMs_ = core::monotonicMs() + kLingerMs;
  armTimer(lingerDeadlineMs_);
}

// The exchange, if any, stays until the worker deletes the session: this may
// run inside a callback of something it owns (a timer, a connector).
void HttpSession::finalize(process::TerminationReason reason) {
  if (phase_ == Phase::Done) return;
  phase_ = Phase::Done;
  if (exchange_ && exchange_->requestOpen) {
    finishRequest(exchange_->responseStarted ? exchange_->responseStatus : 0, reason);
  }
  stopWaiting();
  timer_.disable();
  if (exchange_) {
    exchange_->up.reset();
    exchange_->connection.reset();
  }
  listener_->counters.bytesFromClients.fetch_add(bytesIn_, std::memory_order_relaxed);
  listener_->counters.bytesToClients.fetch_add(bytesOut_, std::memory_order_relaxed);
  log::debug("http session ", client_.toString(), " ended: ", process::label(reason), " after ",
             requests_, " request(s)");
  down_.reset();
  worker_.sessionDone(this);
}

// ---------------------------------------------------------------- the timer

// A request in flight is bounded by the request timeout, not the idle one.
// A closing session is not busy: a client that stops reading our last
// bytes is dropped after the idle timeout instead of being kept for good.
bool HttpSession::busy() const {
  return phase_ == Phase::Acquiring || phase_ == Phase::Queued || phase_ == Phase::Connecting ||
         phase_ == Phase::Exchanging || phase_ == Phase::BufferingBody;
}

// Makes sure the timer fires no later than `dueMs`. A later deadline needs
// nothing: onTimer() re-arms for whatever is left when it fires.
void HttpSession::armTimer(int64_t dueMs) {
  if (phase_ == Phase::Done) return;
  if (timer_.enabled() && timer_.dueMs() <= dueMs) return;
  timer_.enableAt(dueMs);
}

void HttpSession::rearmTimer(int64_t nowMs) {
  int64_t next = kNoDeadline;
  const auto consider = [&next](int64_t deadline) {
    if (deadline != kNoDeadline && (next == kNoDeadline || deadline < next)) next = deadline;
  };
  if (lingering_) consider(lingerDeadlineMs_);
  if (phase_ == Phase::WaitingHead) consider(headerDeadlineMs_);
  if (exchange_) {
    consider(exchange_->requestDeadlineMs);
    consider(exchange_->bodyDeadlineMs);
    if (phase_ == Phase::Queued) consider(exchange_->queueDeadlineMs);
  }
  const int64_t idleMs = millis(listener_->config.timeouts.idle);
  if (idleMs > 0) consider(busy() ? nowMs + idleMs : lastActivityMs_ + idleMs);
  if (next != kNoDeadline) armTimer(next);
}

void HttpSession::onTimer() {
  const int64_t now = core::monotonicMs();
  const auto due = [now](int64_t deadline) { return deadline != kNoDeadline && now >= deadline; };
  if (lingering_) {
    if (due(lingerDeadlineMs_)) {
      finalize(closingReason_);
      return;
    }
  } else if (exchange_ && phase_ == Phase::Queued && due(exchange_->queueDeadlineMs)) {
    onQueueTimeout();
    return;
  } else if (exchange_ && due(exchange_->requestDeadlineMs)) {
    onRequestTimeout();
    return;
  } else if (exchange_ && due(exchange_->bodyDeadlineMs)) {
    onBodyTimeout(now);
    if (phase_ == Phase::Done || phase_ == Phase::Closing) return;
  } else if (phase_ == Phase::WaitingHead && due(headerDeadlineMs_)) {
    sendError(408, "request_header_timeout", process::TerminationReason::IdleTimeout);
    return;
  }
  const int64_t idleMs = millis(listener_->config.timeouts.idle);
  if (idleMs > 0 && !busy() && now - lastActivityMs_ >= idleMs) {
    finalize(process::TerminationReason::IdleTimeout);
    return;
  }
  rearmTimer(now);
}

void HttpSession::onRequestTimeout() {
  Exchange& ex = *exchange_;
  ex.requestDeadlineMs = kNoDeadline;
  if (ex.responseStarted) {
    finalize(process::TerminationReason::IdleTimeout);
    return;
  }
  // Reading paused by back-pressure means the backend stopped taking the body
  // the client was sending: that stall is the backend's (504, booked below).
  const bool backendStalledBody = downPaused_ && !clientEof_ && phase_ == Phase::Exchanging;
  if (!ex.requestComplete && !backendStalledBody) {
    // The client still owes body bytes: the backend was waiting for them,
    // so this is no failure of the backend's (never booked against it).
    sendError(408, "request_timeout", process::TerminationReason::IdleTimeout);
    return;
  }
  // The request reached this backend and no answer came: a failure
  // for passive outlier detection, like a connect failure or reset.
  // (Timed out while queued or connecting is not the backend's answer.)
  if (phase_ == Phase::Exchanging && ex.backend) {
    cluster_->reportRequestFailure(*ex.backend);
  }
  releaseUpstream(false);
  sendError(504, "request_timeout", process::TerminationReason::IdleTimeout);
}

// No request body byte for timeouts.request_body: the client's fault (408),
// unless sluice itself stopped reading (back-pressure: the upstream is the
// slow side), which only moves the deadline.
void HttpSession::onBodyTimeout(int64_t nowMs) {
  Exchange& ex = *exchange_;
  if (downPaused_) {
    ex.bodyDeadlineMs = nowMs + millis(listener_->config.timeouts.requestBody);
    return;
  }
  ex.bodyDeadlineMs = kNoDeadline;
  sendError(408, "request_body_timeout", process::TerminationReason::IdleTimeout);
}

void HttpSession::onQueueTimeout() {
  Exchange& ex = *exchange_;
  ex.queueDeadlineMs = kNoDeadline;
  ex.poolWaitSec = core::monotonicSeconds() - ex.queuedAtSec;
  cluster_->counters.poolWait.observe(ex.poolWaitSec);
  cluster_->counters.queueTimeout.fetch_add(1, std::memory_order_relaxed);
  listener_->counters.rejected[static_cast<int>(process::RejectReason::QueueTimeout)].fetch_add(1);
  sendError(503, "queue_timeout", process::TerminationReason::QueueTimeout);
}

// ---------------------------------------------------------------- callbacks

void HttpSession::onReadable(core::StreamSocket& socket) {
  if (phase_ == Phase::Done) return;
  if (phase_ == Phase::Closing && isDownstream(socket)) {
    discardFromClient(socket);  // not activity: a client that only sends cannot keep us open
    return;
  }
  lastActivityMs_ = core::monotonicMs();
  if (isDownstream(socket)) {
    if (phase_ == Phase::Tunnel) {
      if (up() != nullptr) relayTunnel(socket, *up());
      return;
    }
    readDownstream();
    return;
  }
  if (phase_ == Phase::Tunnel) {
    relayTunnel(socket, *down_);
    return;
  }
  if (phase_ == Phase::Closing) {
    socket.pauseReading();
    return;
  }
  readUpstream();
}

// Closing: what the client sends now is never answered. While the response
// is still going out it is read and discarded, and makes the close a
// lingering one; once lingering, the client's EOF ends the session.
void HttpSession::discardFromClient(core::StreamSocket& socket) {
  const auto result = socket.read(worker_.relayBuffer());
  switch (result.status) {
    case core::StreamSocket::ReadStatus::Data:
      mustLinger_ = true;
      return;
    case core::StreamSocket::ReadStatus::WouldBlock:
      return;
    case core::StreamSocket::ReadStatus::Eof:
      clientEof_ = true;
      if (lingering_) {
        finalize(closingReason_);
      } else {
        socket.pauseReading();  // level-triggered: EOF would fire forever
      }
      return;
    case core::StreamSocket::ReadStatus::Error:
      clientEof_ = true;
      finalize(lingering_ ? closingReason_ : process::TerminationReason::DownstreamReset);
      return;
  }
}

void HttpSession::onFlushed(core::StreamSocket& socket) {
  lastActivityMs_ = core::monotonicMs();
  if (phase_ == Phase::Done) return;
  if (isDownstream(socket)) {
    if (phase_ == Phase::Closing) {
      if (socket.pending() == 0) startLingering();
      return;
    }
    if (socket.pending() > bufferLimit_ / 2) return;
    core::StreamSocket* upstream = up();
    if (phase_ == Phase::Tunnel) {
      if (upstream != nullptr && upstream->readingPaused() && !upstreamEof_) {
        upstream->resumeReading();
      }
      return;
    }
    if (upstream != nullptr && exchange_->upPaused) {
      exchange_->upPaused = false;
      upstream->resumeReading();
    }
    return;
  }
  if (phase_ == Phase::Tunnel) {
    if (clientEof_) {
      if (socket.pending() == 0) socket.shutdownWrite();
    } else if (downPaused_ || down_->readingPaused()) {
      if (socket.pending() <= bufferLimit_ / 2) {
        downPaused_ = false;
        down_->resumeReading();
      }
    }
    return;
  }
  processDownstream();
}

void HttpSession::onWriteError(core::StreamSocket& socket, int /*error*/) {
  if (phase_ == Phase::Done) return;
  if (isDownstream(socket)) {
    finalize(process::TerminationReason::DownstreamReset);
    return;
  }
  if (phase_ == Phase::Tunnel) {
    finalize(process::TerminationReason::UpstreamReset);
    return;
  }
  onUpstreamGone(true);
}

// The client sent FIN (not in a tunnel).
void HttpSession::onClientEof() {
  clientEof_ = true;
  downPaused_ = true;
  if (phase_ == Phase::Closing) {
    if (lingering_) finalize(closingReason_);
    return;
  }
  // Parse what is left: a request may end exactly here.
  processDownstream();
  const Exchange* ex = exchange_.get();
  const bool partialHead = ex != nullptr && ex->requestParser.headerBytes() > 0;
  if (phase_ == Phase::WaitingHead && !partialHead) {
    finalize(process::TerminationReason::Completed);  // a clean close between requests
  } else if (phase_ == Phase::WaitingHead) {
    sendError(400, "incomplete_request", process::TerminationReason::DownstreamReset);
  } else if ((ex == nullptr || !ex->requestComplete) && phase_ != Phase::Closing &&
             phase_ != Phase::Done) {
    // The client gave up mid-request.
    finalize(process::TerminationReason::DownstreamReset);
  }
  // Otherwise: the client half-closed after a complete request; answer it, then close.
}

}  // namespace sluice::http
