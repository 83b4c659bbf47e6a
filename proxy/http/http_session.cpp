#include "http/http_session.h"

#include <sys/socket.h>

#include <algorithm>

#include "core/access_log.h"
#include "core/clock.h"
#include "core/direct_write.h"
#include "core/log.h"
#include "core/worker.h"
#include "http/rewrite.h"
#include "net/socket.h"

namespace sluice::http {
namespace {

ParserLimits requestLimits(const config::Listener& listener) {
  return {listener.http.maxHeaderBytes, listener.http.maxBodyBytes};
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

HttpSession::HttpSession(core::Worker& worker, std::shared_ptr<core::ListenerRuntime> listener,
                         net::Fd fd, const net::SocketAddress& client)
    : Session(worker, listener, client),
      cluster_(listener_->cluster),
      bufferLimit_(std::max<size_t>(listener_->config.bufferBytes, 1024)),
      timer_(worker.dispatcher(), [this] { onTimer(); }),
      lastActivityMs_(core::monotonicMs()) {
  net::setNoDelay(fd.get());
  down_.reset(
      bufferevent_socket_new(worker.dispatcher().base(), fd.release(), BEV_OPT_CLOSE_ON_FREE));
  bufferevent_setcb(down_.get(), &HttpSession::onDownRead, &HttpSession::onDownWrite,
                    &HttpSession::onDownEvent, this);
  bufferevent_setwatermark(down_.get(), EV_WRITE, bufferLimit_ / 2, 0);
}

HttpSession::~HttpSession() = default;

void HttpSession::start() {
  bufferevent_enable(down_.get(), EV_READ | EV_WRITE);
  // The first request's header clock starts at accept (slowloris).
  const int64_t now = core::monotonicMs();
  headerDeadlineMs_ = now + millis(listener_->config.timeouts.requestHeader);
  rearmTimer(now);
}

void HttpSession::onDrain() {
  draining_ = true;
  // An idle keep-alive connection is closed now; a busy one gets
  // Connection: close on its current response.
  if (phase_ == Phase::WaitingHead && (!exchange_ || exchange_->requestParser.headerBytes() == 0) &&
      evbuffer_get_length(bufferevent_get_input(down_.get())) == 0) {
    finalize(core::TerminationReason::Completed);
  }
}

// ---------------------------------------------------------------- downstream

size_t HttpSession::requestBytesQueued() const {
  if (!exchange_) return 0;
  return evbuffer_get_length(exchange_->staged.get()) +
         (exchange_->up ? evbuffer_get_length(bufferevent_get_output(exchange_->up.get())) : 0);
}

// Parsed bytes collect in staging buffers during a feed() and leave in one
// write afterwards (core::sendNow): one syscall, no EV_WRITE churn.
void HttpSession::flushToUpstream() {
  if (exchange_ && exchange_->up) core::sendNow(exchange_->up.get(), exchange_->staged.get());
}

void HttpSession::flushToClient() {
  if (down_ && exchange_) core::sendNow(down_.get(), exchange_->toClient.get());
}

void HttpSession::processDownstream() {
  while (phase_ != Phase::Done && phase_ != Phase::Closing && phase_ != Phase::Tunnel) {
    if (exchange_ && exchange_->requestComplete) return;  // pipelined bytes wait for this response
    evbuffer* input = bufferevent_get_input(down_.get());
    const size_t available = evbuffer_get_length(input);
    if (available == 0) return;
    // A request begins: what it needs lives until its response is done.
    if (!exchange_) exchange_ = std::make_unique<Exchange>(*this);
    Exchange& ex = *exchange_;
    if (phase_ == Phase::WaitingHead && headerDeadlineMs_ == kNoDeadline) {
      headerDeadlineMs_ = core::monotonicMs() + millis(listener_->config.timeouts.requestHeader);
      armTimer(headerDeadlineMs_);
    }
    const size_t queued = requestBytesQueued();
    if (queued >= bufferLimit_) {
      // Back-pressure: read more once the upstream (or staging) drains.
      if (!downPaused_) {
        downPaused_ = true;
        bufferevent_disable(down_.get(), EV_READ);
      }
      return;
    }
    evbuffer_iovec chunk{};
    evbuffer_peek(input, -1, nullptr, &chunk, 1);
    const size_t n = std::min(chunk.iov_len, bufferLimit_ - queued);
    const ParseResult result = ex.requestParser.feed(static_cast<const char*>(chunk.iov_base), n);
    evbuffer_drain(input, result.consumed);
    bytesIn_ += result.consumed;
    flushToUpstream();
    if (result.status == ParseStatus::Error) {
      if (ex.responseStarted || phase_ == Phase::Exchanging) {
        // The body went bad mid-stream; the upstream has a partial request.
        releaseUpstream(false);
        if (ex.responseStarted) {
          finalize(core::TerminationReason::DownstreamReset);
          return;
        }
      }
      sendError(ex.requestParser.errorStatus(), ex.requestParser.errorToken(),
                core::TerminationReason::DownstreamReset);
      return;
    }
    if (ex.headArrived) {
      ex.headArrived = false;
      headerDeadlineMs_ = kNoDeadline;
      ex.requestOpen = true;
      ex.startWall = std::chrono::system_clock::now();
      ex.startSec = core::monotonicSeconds();
      ex.requestDeadlineMs = core::monotonicMs() + millis(listener_->config.timeouts.request);
      armTimer(ex.requestDeadlineMs);
      ex.connectRetriesLeft = cluster_->config().retries.connect;
      acquireUpstream();
    }
    // Nothing taken, or nothing more to take (Closed: bytes after a
    // Connection: close request are ignored): wait for the next event.
    if (result.consumed == 0 || result.status == ParseStatus::Closed ||
        result.status == ParseStatus::Upgraded) {
      return;
    }
  }
}

HeadAction HttpSession::onRequestHead(RequestHead& head) {
  Exchange& ex = *exchange_;
  ex.request = std::move(head);
  RequestRewrite rewrite;
  const std::string clientIp = client_.ip();
  rewrite.clientIp = clientIp;
  rewrite.forwardUpgrade = ex.request.upgrade;
  // An HTTP/1.0 client may send no Host; HTTP/1.1 upstreams require one.
  rewrite.fallbackHost = cluster_->name();
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
}

// Reading stopped because request bytes piled up; a new lease may just have
// taken them all, and a lease whose socket took everything at once never
// calls onUpWrite, so nothing else would turn reading back on.
void HttpSession::resumeDownstreamIfDrained() {
  if (downPaused_ && requestBytesQueued() < bufferLimit_) {
    downPaused_ = false;
    bufferevent_enable(down_.get(), EV_READ);
  }
}

// The response is done and the connection stays: back to idle, holding
// nothing of the request. Callers return right after (the exchange is gone).
void HttpSession::beginNextRequest() {
  ++requests_;
  exchange_.reset();
  phase_ = Phase::WaitingHead;
  if (draining_) {
    finalize(core::TerminationReason::Completed);
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
      if (auto connection = pool.takeIdle()) {
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
    sendError(502, "connect_failed", core::TerminationReason::ConnectFailed);
    return;
  }
  if (!cluster_->anyAvailable(core::monotonicMs())) {
    cluster_->counters.noHealthyBackend.fetch_add(1, std::memory_order_relaxed);
    sendError(503, "no_healthy_backend", core::TerminationReason::NoHealthyBackend);
    return;
  }
  ex.waiter = std::make_shared<upstream::SlotWaiter>(worker_.dispatcher(), this);
  if (!admission->enqueue(ex.waiter)) {
    ex.waiter.reset();
    cluster_->counters.queueFull.fetch_add(1, std::memory_order_relaxed);
    listener_->counters.rejected[static_cast<int>(core::RejectReason::QueueFull)].fetch_add(1);
    sendError(503, "queue_full", core::TerminationReason::QueueFull);
    return;
  }
  phase_ = Phase::Queued;
  ex.queuedAtSec = core::monotonicSeconds();
  cluster_->counters.queued.fetch_add(1, std::memory_order_relaxed);
  ex.queueDeadlineMs = core::monotonicMs() + millis(cluster_->config().pool.queueTimeout);
  armTimer(ex.queueDeadlineMs);
}

void HttpSession::onSlotGranted(std::shared_ptr<upstream::Backend> backend) {
  upstream::SlotGuard slot(cluster_->admission(), std::move(backend));
  if (!exchange_) return;  // the slot goes straight back
  Exchange& ex = *exchange_;
  ex.waiter.reset();
  ex.queueDeadlineMs = kNoDeadline;
  if (phase_ != Phase::Queued) return;
  ex.poolWaitSec = core::monotonicSeconds() - ex.queuedAtSec;
  cluster_->counters.poolWait.observe(ex.poolWaitSec);
  connectTo(std::move(slot));
}

void HttpSession::onConnectionGranted(std::unique_ptr<upstream::UpstreamConnection> connection) {
  // Returning early drops the connection, which frees its slot for the next waiter.
  if (!exchange_) return;
  Exchange& ex = *exchange_;
  ex.waiter.reset();
  ex.queueDeadlineMs = kNoDeadline;
  if (phase_ != Phase::Queued) return;
  ex.poolWaitSec = core::monotonicSeconds() - ex.queuedAtSec;
  cluster_->counters.poolWait.observe(ex.poolWaitSec);
  if (ex.forceFresh) {
    // A retry goes out on a fresh connection: keep the slot, close the socket.
    upstream::SlotGuard slot = std::move(connection->slot);
    connection.reset();
    connectTo(std::move(slot));
    return;
  }
  cluster_->counters.reuses.fetch_add(1, std::memory_order_relaxed);
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
    ex.backend->counters.connectFailures[static_cast<int>(result.failure)].fetch_add(1);
    cluster_->reportFailure(*ex.backend);  // passive outlier detection
    ex.failedBackends.push_back(ex.backend.get());
    ex.connectingSlot.reset();
    if (ex.connectRetriesLeft > 0) {
      --ex.connectRetriesLeft;
      acquireUpstream();
    } else {
      sendError(502, "connect_failed", core::TerminationReason::ConnectFailed);
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
  // The lease's bufferevent does not own the socket: the connection does,
  // so it can go back to the pool when the exchange ends.
  ex.up.reset(bufferevent_socket_new(worker_.dispatcher().base(), ex.connection->fd.get(), 0));
  bufferevent_setcb(ex.up.get(), &HttpSession::onUpRead, &HttpSession::onUpWrite,
                    &HttpSession::onUpEvent, this);
  bufferevent_setwatermark(ex.up.get(), EV_WRITE, bufferLimit_ / 2, 0);
  bufferevent_enable(ex.up.get(), EV_READ | EV_WRITE);
  // A parser per lease: the last one may have ended in Closed (a response
  // with Connection: close, or the EOF of a failed attempt).
  ex.responseParser = std::make_unique<MessageParser>(ParserMode::Response, ex.responseEvents,
                                                      ParserLimits{kMaxResponseHeaderBytes, 0});
  ex.responseParser->expectResponseTo(ex.request);
  // Nothing staged has been sent anywhere yet: on a reused connection, copy
  // it (and later every body byte) in case the keep-alive race strikes.
  if (ex.connectionReused && !ex.retried && mayRetry(ex.request)) {
    ex.replay.start(ex.staged.get());
  } else {
    ex.replay.clear();
  }
  flushToUpstream();
  resumeDownstreamIfDrained();
  // Body bytes may be waiting behind the head.
  processDownstream();
}

void HttpSession::processUpstream() {
  while (up() != nullptr && phase_ == Phase::Exchanging) {
    Exchange& ex = *exchange_;
    evbuffer* input = bufferevent_get_input(ex.up.get());
    if (evbuffer_get_length(input) == 0) return;
    ex.upstreamBytesSeen = true;
    if (evbuffer_get_length(bufferevent_get_output(down_.get())) >= bufferLimit_) {
      if (!ex.upPaused) {
        ex.upPaused = true;
        bufferevent_disable(ex.up.get(), EV_READ);
      }
      return;
    }
    evbuffer_iovec chunk{};
    evbuffer_peek(input, -1, nullptr, &chunk, 1);
    const ParseResult result =
        ex.responseParser->feed(static_cast<const char*>(chunk.iov_base), chunk.iov_len);
    evbuffer_drain(input, result.consumed);
    flushToClient();
    switch (result.status) {
      case ParseStatus::NeedMore:
        break;
      case ParseStatus::MessageComplete:
        if (ex.responseParser->responseHead().interim()) {
          ex.responseParser->resume();  // 100 Continue went downstream; the real answer follows
          break;
        }
        onResponseComplete();  // may free the exchange
        return;
      case ParseStatus::Upgraded:
        startTunnel();
        return;
      case ParseStatus::Closed:
      case ParseStatus::Error:
        log::debug("http ", client_.toString(), ": bad response from ", ex.backend->name(), ": ",
                   ex.responseParser->errorToken());
        releaseUpstream(false);
        if (ex.responseStarted) {
          finalize(core::TerminationReason::UpstreamReset);
        } else {
          sendError(502, "bad_response", core::TerminationReason::UpstreamReset);
        }
        return;
    }
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
  ex.keepAliveDownstream = ex.request.keepAlive && !draining_ && !clientEof_ && !dechunk &&
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

void HttpSession::onResponseComplete() {
  Exchange& ex = *exchange_;
  const auto& pool = cluster_->config().pool;
  const int64_t now = core::monotonicMs();
  const ResponseHead& head = ex.responseParser->responseHead();
  const bool reusable =
      head.keepAlive && head.framing != BodyFraming::CloseDelimited && ex.requestComplete &&
      evbuffer_get_length(bufferevent_get_input(ex.up.get())) == 0 &&
      evbuffer_get_length(bufferevent_get_output(ex.up.get())) == 0 && !worker_.draining() &&
      ex.connection->requests + 1 < pool.maxRequests &&
      (pool.maxLifetime.count() == 0 || now - ex.connection->createdMs < pool.maxLifetime.count());
  cluster_->reportSuccess(*ex.backend);
  releaseUpstream(reusable);
  ex.requestDeadlineMs = kNoDeadline;
  finishRequest(ex.responseStatus, core::TerminationReason::Completed);
  if (!ex.requestComplete) ex.keepAliveDownstream = false;  // the rest of its body is unread
  if (!ex.keepAliveDownstream) {
    closeAfterFlush(core::TerminationReason::Completed);
    return;
  }
  beginNextRequest();
}

void HttpSession::releaseUpstream(bool reusable) {
  if (!exchange_) return;
  Exchange& ex = *exchange_;
  ex.up.reset();
  if (!ex.connection) return;
  ++ex.connection->requests;
  if (reusable && !cluster_->admission()->handOff(ex.connection)) {
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
  if (ex.retried || !ex.connectionReused || ex.upstreamBytesSeen || !mayRetry(ex.request) ||
      !ex.replay.usable()) {
    return false;
  }
  ex.retried = true;
  ex.forceFresh = true;
  releaseUpstream(false);
  // Everything staged went to the failed connection, so the copy is the
  // whole request so far; body bytes still to come are staged behind it.
  evbuffer_drain(ex.staged.get(), evbuffer_get_length(ex.staged.get()));
  ex.replay.replayInto(ex.staged.get());
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
      onResponseComplete();  // may free the exchange
      return;
    }
  }
  if (retryOnFreshConnection()) return;
  if (ex.backend) cluster_->reportRequestFailure(*ex.backend);
  releaseUpstream(false);
  if (ex.responseStarted) {
    finalize(core::TerminationReason::UpstreamReset);
  } else {
    sendError(502, "upstream_reset", core::TerminationReason::UpstreamReset);
  }
}

void HttpSession::startTunnel() {
  Exchange& ex = *exchange_;
  phase_ = Phase::Tunnel;
  ex.requestDeadlineMs = kNoDeadline;
  headerDeadlineMs_ = kNoDeadline;
  // Whatever each side sent after the handshake is already tunnel bytes.
  flushToClient();
  core::sendNow(down_.get(), bufferevent_get_input(ex.up.get()));
  core::sendNow(ex.up.get(), bufferevent_get_input(down_.get()));
  bufferevent_enable(down_.get(), EV_READ);
  bufferevent_enable(ex.up.get(), EV_READ);
}

void HttpSession::relayTunnel(bufferevent* from, bufferevent* to) {
  evbuffer* input = bufferevent_get_input(from);
  const size_t n = evbuffer_get_length(input);
  (from == down_.get() ? bytesIn_ : bytesOut_) += n;
  core::sendNow(to, input);
  if (evbuffer_get_length(bufferevent_get_output(to)) >= bufferLimit_) {
    bufferevent_disable(from, EV_READ);
  }
}

// ------------------------------------------------------- answers and endings

void HttpSession::finishRequest(uint16_t status, core::TerminationReason reason) {
  if (!exchange_ || !exchange_->requestOpen) return;
  const Exchange& ex = *exchange_;
  exchange_->requestOpen = false;
  const double duration = core::monotonicSeconds() - ex.startSec;
  if (status != 0) listener_->requests.count(status);
  listener_->requestDuration.observe(duration);
  core::AccessLog* accessLog = worker_.shared().accessLog;
  if (accessLog == nullptr || !accessLog->enabled()) return;
  core::AccessRecord r;
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
  r.termination = core::code(reason);
  r.reason = core::label(reason);
  accessLog->write(static_cast<size_t>(worker_.index()), r);
}

void HttpSession::sendError(uint16_t status, std::string_view reason, core::TerminationReason why) {
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

void HttpSession::closeAfterFlush(core::TerminationReason why) {
  if (phase_ == Phase::Done) return;
  phase_ = Phase::Closing;
  closingReason_ = why;
  headerDeadlineMs_ = kNoDeadline;
  if (exchange_) {
    exchange_->requestDeadlineMs = kNoDeadline;
    exchange_->queueDeadlineMs = kNoDeadline;
  }
  bufferevent_disable(down_.get(), EV_READ);
  if (evbuffer_get_length(bufferevent_get_output(down_.get())) == 0) {
    startLingering();
  } else {
    bufferevent_setwatermark(down_.get(), EV_WRITE, 0, 0);  // call back when flushed
  }
}

// Closing with unread request bytes in the kernel would send an RST that can
// destroy the response before the client reads it. So: FIN first, then read
// and discard until the client closes too, for a short while at most.
void HttpSession::startLingering() {
  if (lingering_) return;
  lingering_ = true;
  ::shutdown(bufferevent_getfd(down_.get()), SHUT_WR);
  if (clientEof_) {
    finalize(closingReason_);
    return;
  }
  evbuffer_drain(bufferevent_get_input(down_.get()),
                 evbuffer_get_length(bufferevent_get_input(down_.get())));
  bufferevent_enable(down_.get(), EV_READ);
  lingerDeadlineMs_ = core::monotonicMs() + kLingerMs;
  armTimer(lingerDeadlineMs_);
}

// The exchange, if any, stays until the worker deletes the session: this may
// run inside a callback of something it owns (a timer, a connector).
void HttpSession::finalize(core::TerminationReason reason) {
  if (phase_ == Phase::Done) return;
  phase_ = Phase::Done;
  if (exchange_ && exchange_->requestOpen) {
    finishRequest(exchange_->responseStarted ? exchange_->responseStatus : 0, reason);
  }
  stopWaiting();
  timer_.disable();
  timerDueMs_ = kNoDeadline;
  if (exchange_) {
    exchange_->up.reset();
    exchange_->connection.reset();
  }
  listener_->counters.bytesFromClients.fetch_add(bytesIn_, std::memory_order_relaxed);
  listener_->counters.bytesToClients.fetch_add(bytesOut_, std::memory_order_relaxed);
  log::debug("http session ", client_.toString(), " ended: ", core::label(reason), " after ",
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
         phase_ == Phase::Exchanging;
}

// Makes sure the timer fires no later than `dueMs`. A later deadline needs
// nothing: onTimer() re-arms for whatever is left when it fires.
void HttpSession::armTimer(int64_t dueMs) {
  if (phase_ == Phase::Done) return;
  if (timerDueMs_ != kNoDeadline && timerDueMs_ <= dueMs) return;
  timerDueMs_ = dueMs;
  timer_.enable(std::chrono::milliseconds(std::max<int64_t>(dueMs - core::monotonicMs(), 0)));
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
    if (phase_ == Phase::Queued) consider(exchange_->queueDeadlineMs);
  }
  const int64_t idleMs = millis(listener_->config.timeouts.idle);
  if (idleMs > 0) consider(busy() ? nowMs + idleMs : lastActivityMs_ + idleMs);
  if (next != kNoDeadline) armTimer(next);
}

void HttpSession::onTimer() {
  timerDueMs_ = kNoDeadline;
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
  } else if (phase_ == Phase::WaitingHead && due(headerDeadlineMs_)) {
    sendError(408, "request_header_timeout", core::TerminationReason::IdleTimeout);
    return;
  }
  const int64_t idleMs = millis(listener_->config.timeouts.idle);
  if (idleMs > 0 && !busy() && now - lastActivityMs_ >= idleMs) {
    finalize(core::TerminationReason::IdleTimeout);
    return;
  }
  rearmTimer(now);
}

void HttpSession::onRequestTimeout() {
  Exchange& ex = *exchange_;
  ex.requestDeadlineMs = kNoDeadline;
  if (ex.responseStarted) {
    finalize(core::TerminationReason::IdleTimeout);
    return;
  }
  // The request reached this backend and no answer came: a failure
  // for passive outlier detection, like a connect failure or reset.
  // (Timed out while queued or connecting is not the backend's answer.)
  if (phase_ == Phase::Exchanging && ex.backend) {
    cluster_->reportRequestFailure(*ex.backend);
  }
  releaseUpstream(false);
  sendError(504, "request_timeout", core::TerminationReason::IdleTimeout);
}

void HttpSession::onQueueTimeout() {
  Exchange& ex = *exchange_;
  ex.queueDeadlineMs = kNoDeadline;
  ex.poolWaitSec = core::monotonicSeconds() - ex.queuedAtSec;
  cluster_->counters.poolWait.observe(ex.poolWaitSec);
  cluster_->counters.queueTimeout.fetch_add(1, std::memory_order_relaxed);
  listener_->counters.rejected[static_cast<int>(core::RejectReason::QueueTimeout)].fetch_add(1);
  sendError(503, "queue_timeout", core::TerminationReason::QueueTimeout);
}

// ---------------------------------------------------------------- callbacks

void HttpSession::onDownRead(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  self->lastActivityMs_ = core::monotonicMs();
  if (self->phase_ == Phase::Tunnel) {
    self->relayTunnel(bev, self->up());
    return;
  }
  if (self->phase_ == Phase::Closing) {
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
    return;
  }
  self->processDownstream();
}

void HttpSession::onDownWrite(bufferevent*, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  self->lastActivityMs_ = core::monotonicMs();
  if (self->phase_ == Phase::Closing) {
    if (evbuffer_get_length(bufferevent_get_output(self->down_.get())) == 0) {
      self->startLingering();
    }
    return;
  }
  if (self->phase_ == Phase::Tunnel) {
    bufferevent_enable(self->up(), EV_READ);
    return;
  }
  Exchange* ex = self->exchange_.get();
  if (ex != nullptr && ex->upPaused && ex->up) {
    ex->upPaused = false;
    bufferevent_enable(ex->up.get(), EV_READ);
    self->processUpstream();
  }
}

void HttpSession::onDownEvent(bufferevent*, short what, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  if (what & BEV_EVENT_ERROR) {
    self->finalize(core::TerminationReason::DownstreamReset);
    return;
  }
  if (what & BEV_EVENT_EOF) {
    self->clientEof_ = true;
    if (self->phase_ == Phase::Closing) {
      if (self->lingering_) self->finalize(self->closingReason_);
      return;
    }
    if (self->phase_ == Phase::Tunnel) {
      self->relayTunnel(self->down_.get(), self->up());
      ::shutdown(bufferevent_getfd(self->up()), SHUT_WR);
      return;
    }
    // Parse what is left: a request may end exactly here.
    self->processDownstream();
    const Exchange* ex = self->exchange_.get();
    const bool partialHead = ex != nullptr && ex->requestParser.headerBytes() > 0;
    if (self->phase_ == Phase::WaitingHead && !partialHead) {
      self->finalize(core::TerminationReason::Completed);  // a clean close between requests
    } else if (self->phase_ == Phase::WaitingHead) {
      self->sendError(400, "incomplete_request", core::TerminationReason::DownstreamReset);
    } else if ((ex == nullptr || !ex->requestComplete) && self->phase_ != Phase::Closing) {
      // The client gave up mid-request.
      self->finalize(core::TerminationReason::DownstreamReset);
    }
    // Otherwise: the client half-closed after a complete request; answer it, then close.
  }
}

void HttpSession::onUpRead(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  self->lastActivityMs_ = core::monotonicMs();
  if (self->phase_ == Phase::Tunnel) {
    self->relayTunnel(bev, self->down_.get());
    return;
  }
  self->processUpstream();
}

void HttpSession::onUpWrite(bufferevent*, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  if (self->phase_ == Phase::Tunnel) {
    bufferevent_enable(self->down_.get(), EV_READ);
    return;
  }
  if (self->downPaused_) {
    self->downPaused_ = false;
    bufferevent_enable(self->down_.get(), EV_READ);
    self->processDownstream();
  }
}

void HttpSession::onUpEvent(bufferevent*, short what, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  if (self->phase_ == Phase::Tunnel) {
    if (what & BEV_EVENT_EOF) {
      self->relayTunnel(self->up(), self->down_.get());
      self->closeAfterFlush(core::TerminationReason::Completed);
    } else {
      self->finalize(core::TerminationReason::UpstreamReset);
    }
    return;
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
    // Bytes that arrived with the EOF are parsed first; that may finish this
    // exchange and even start the next request's on a new lease.
    const uint64_t exchange = self->exchangeId_;
    self->processUpstream();
    if (self->phase_ == Phase::Exchanging && self->exchangeId_ == exchange) {
      self->onUpstreamGone(what & BEV_EVENT_ERROR);
    }
  }
}

}  // namespace sluice::http
