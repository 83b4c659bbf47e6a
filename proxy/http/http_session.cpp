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

}  // namespace

HttpSession::HttpSession(core::Worker& worker, std::shared_ptr<core::ListenerRuntime> listener,
                         net::Fd fd, const net::SocketAddress& client)
    : Session(worker, listener, client),
      cluster_(listener_->cluster),
      bufferLimit_(std::max<size_t>(listener_->config.bufferBytes, 1024)),
      requestParser_(ParserMode::Request, requestEvents_, requestLimits(listener_->config)),
      staged_(evbuffer_new()),
      toClient_(evbuffer_new()),
      headerTimer_(worker.dispatcher(),
                   [this] {
                     if (phase_ == Phase::WaitingHead) {
                       sendError(408, "request_header_timeout",
                                 core::TerminationReason::IdleTimeout);
                     }
                   }),
      requestTimer_(worker.dispatcher(),
                    [this] {
                      if (responseStarted_) {
                        finalize(core::TerminationReason::IdleTimeout);
                      } else {
                        // The request reached this backend and no answer came: a failure
                        // for passive outlier detection, like a connect failure or reset.
                        // (Timed out while queued or connecting is not the backend's answer.)
                        if (phase_ == Phase::Exchanging && backend_) {
                          cluster_->reportRequestFailure(*backend_);
                        }
                        releaseUpstream(false);
                        sendError(504, "request_timeout", core::TerminationReason::IdleTimeout);
                      }
                    }),
      queueTimer_(worker.dispatcher(),
                  [this] {
                    if (phase_ != Phase::Queued) return;
                    poolWaitSec_ = core::monotonicSeconds() - queuedAtSec_;
                    cluster_->counters.poolWait.observe(poolWaitSec_);
                    cluster_->counters.queueTimeout.fetch_add(1, std::memory_order_relaxed);
                    listener_->counters.rejected[static_cast<int>(core::RejectReason::QueueTimeout)]
                        .fetch_add(1);
                    sendError(503, "queue_timeout", core::TerminationReason::QueueTimeout);
                  }),
      idleTimer_(worker.dispatcher(), [this] { onIdleTimer(); }),
      lingerTimer_(worker.dispatcher(), [this] { finalize(closingReason_); }),
      lastActivityMs_(core::monotonicMs()) {
  net::setNoDelay(fd.get());
  down_.reset(
      bufferevent_socket_new(worker.dispatcher().base(), fd.release(), BEV_OPT_CLOSE_ON_FREE));
  bufferevent_setcb(down_.get(), &HttpSession::onDownRead, &HttpSession::onDownWrite,
                    &HttpSession::onDownEvent, this);
  bufferevent_setwatermark(down_.get(), EV_WRITE, bufferLimit_ / 2, 0);
}

HttpSession::~HttpSession() {
  if (waiter_) waiter_->detach();
}

void HttpSession::start() {
  bufferevent_enable(down_.get(), EV_READ | EV_WRITE);
  // The first request's header clock starts at accept (slowloris).
  headerTimer_.enable(listener_->config.timeouts.requestHeader);
  if (listener_->config.timeouts.idle.count() > 0) {
    idleTimer_.enable(listener_->config.timeouts.idle);
  }
}

void HttpSession::onDrain() {
  draining_ = true;
  // An idle keep-alive connection is closed now; a busy one gets
  // Connection: close on its current response.
  if (phase_ == Phase::WaitingHead && requestParser_.headerBytes() == 0 &&
      evbuffer_get_length(bufferevent_get_input(down_.get())) == 0) {
    finalize(core::TerminationReason::Completed);
  }
}

// ---------------------------------------------------------------- downstream

size_t HttpSession::requestBytesQueued() const {
  return evbuffer_get_length(staged_.get()) +
         (up_ ? evbuffer_get_length(bufferevent_get_output(up_.get())) : 0);
}

// Parsed bytes collect in staging buffers during a feed() and leave in one
// write afterwards (core::sendNow): one syscall, no EV_WRITE churn.
void HttpSession::flushToUpstream() {
  if (up_) core::sendNow(up_.get(), staged_.get());
}

void HttpSession::flushToClient() {
  if (down_) core::sendNow(down_.get(), toClient_.get());
}

void HttpSession::processDownstream() {
  while (phase_ != Phase::Done && phase_ != Phase::Closing && phase_ != Phase::Tunnel) {
    if (requestComplete_) return;  // pipelined bytes wait for this response
    evbuffer* input = bufferevent_get_input(down_.get());
    const size_t available = evbuffer_get_length(input);
    if (available == 0) return;
    if (phase_ == Phase::WaitingHead && !headerTimer_.enabled()) {
      headerTimer_.enable(listener_->config.timeouts.requestHeader);
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
    const ParseResult result = requestParser_.feed(static_cast<const char*>(chunk.iov_base), n);
    evbuffer_drain(input, result.consumed);
    bytesIn_ += result.consumed;
    flushToUpstream();
    if (result.status == ParseStatus::Error) {
      if (responseStarted_ || phase_ == Phase::Exchanging) {
        // The body went bad mid-stream; the upstream has a partial request.
        releaseUpstream(false);
        if (responseStarted_) {
          finalize(core::TerminationReason::DownstreamReset);
          return;
        }
      }
      sendError(requestParser_.errorStatus(), requestParser_.errorToken(),
                core::TerminationReason::DownstreamReset);
      return;
    }
    if (headArrived_) {
      headArrived_ = false;
      headerTimer_.disable();
      requestStartMs_ = core::monotonicMs();
      requestStartWall_ = std::chrono::system_clock::now();
      requestStartSec_ = core::monotonicSeconds();
      poolWaitSec_ = -1;
      connectSec_ = -1;
      requestFinished_ = false;
      requestTimer_.enable(listener_->config.timeouts.request);
      connectRetriesLeft_ = cluster_->config().retries.connect;
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
  request_ = std::move(head);
  RequestRewrite rewrite;
  const std::string clientIp = client_.ip();
  rewrite.clientIp = clientIp;
  rewrite.forwardUpgrade = request_.upgrade;
  // An HTTP/1.0 client may send no Host; HTTP/1.1 upstreams require one.
  rewrite.fallbackHost = cluster_->name();
  const std::string headBytes = serializeRequestHead(request_, rewrite);
  evbuffer_add(staged_.get(), headBytes.data(), headBytes.size());
  headArrived_ = true;
  phase_ = Phase::Acquiring;
  return HeadAction::proceed();
}

void HttpSession::onRequestBody(const char* data, size_t len) {
  evbuffer_add(staged_.get(), data, len);
  replay_.append(data, len);  // kept only while a copy is being made
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

void HttpSession::beginNextRequest() {
  ++requests_;
  bytesInAtStart_ = bytesIn_;
  bytesOutAtStart_ = bytesOut_;
  request_ = RequestHead{};
  replay_.clear();
  requestComplete_ = false;
  responseStarted_ = false;
  responseComplete_ = false;
  upstreamBytesSeen_ = false;
  retried_ = false;
  forceFresh_ = false;
  failedBackends_.clear();
  responseStatus_ = 0;
  phase_ = Phase::WaitingHead;
  requestTimer_.disable();
  requestParser_.resume();
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
  phase_ = Phase::Acquiring;
  auto& balancer = worker_.balancer(*cluster_);
  const auto& admission = cluster_->admission();
  std::vector<const upstream::Backend*> tried = failedBackends_;
  while (auto backend = balancer.pick(client_.ipHash(), tried)) {
    auto& pool = worker_.pool(cluster_, backend);
    if (!forceFresh_) {
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
  if (!failedBackends_.empty() && tried.size() == failedBackends_.size()) {
    sendError(502, "connect_failed", core::TerminationReason::ConnectFailed);
    return;
  }
  if (!cluster_->anyAvailable(core::monotonicMs())) {
    cluster_->counters.noHealthyBackend.fetch_add(1, std::memory_order_relaxed);
    sendError(503, "no_healthy_backend", core::TerminationReason::NoHealthyBackend);
    return;
  }
  waiter_ = std::make_shared<upstream::SlotWaiter>(worker_.dispatcher(), this);
  if (!admission->enqueue(waiter_)) {
    waiter_.reset();
    cluster_->counters.queueFull.fetch_add(1, std::memory_order_relaxed);
    listener_->counters.rejected[static_cast<int>(core::RejectReason::QueueFull)].fetch_add(1);
    sendError(503, "queue_full", core::TerminationReason::QueueFull);
    return;
  }
  phase_ = Phase::Queued;
  queuedAtSec_ = core::monotonicSeconds();
  cluster_->counters.queued.fetch_add(1, std::memory_order_relaxed);
  queueTimer_.enable(cluster_->config().pool.queueTimeout);
}

void HttpSession::onSlotGranted(std::shared_ptr<upstream::Backend> backend) {
  upstream::SlotGuard slot(cluster_->admission(), std::move(backend));
  waiter_.reset();
  queueTimer_.disable();
  if (phase_ != Phase::Queued) return;  // the slot goes straight back
  poolWaitSec_ = core::monotonicSeconds() - queuedAtSec_;
  cluster_->counters.poolWait.observe(poolWaitSec_);
  connectTo(std::move(slot));
}

void HttpSession::onConnectionGranted(std::unique_ptr<upstream::UpstreamConnection> connection) {
  waiter_.reset();
  queueTimer_.disable();
  if (phase_ != Phase::Queued) return;  // dropping it frees the slot for the next waiter
  poolWaitSec_ = core::monotonicSeconds() - queuedAtSec_;
  cluster_->counters.poolWait.observe(poolWaitSec_);
  if (forceFresh_) {
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
  phase_ = Phase::Connecting;
  backend_ = slot.backend();
  connectingSlot_ = std::move(slot);
  backend_->counters.connectTotal.fetch_add(1, std::memory_order_relaxed);
  connector_ = std::make_unique<upstream::Connector>(
      worker_.dispatcher(), backend_->address(), cluster_->config().timeouts.connect,
      [this](upstream::ConnectResult result) { onConnectResult(std::move(result)); });
}

void HttpSession::onConnectResult(upstream::ConnectResult result) {
  auto finished = std::move(connector_);  // freed when this returns
  if (!result.ok()) {
    backend_->counters.connectFailures[static_cast<int>(result.failure)].fetch_add(1);
    cluster_->reportFailure(*backend_);  // passive outlier detection
    failedBackends_.push_back(backend_.get());
    connectingSlot_.reset();
    if (connectRetriesLeft_ > 0) {
      --connectRetriesLeft_;
      acquireUpstream();
    } else {
      sendError(502, "connect_failed", core::TerminationReason::ConnectFailed);
    }
    return;
  }
  cluster_->reportConnectSuccess(*backend_);  // a request success comes with the response
  connectSec_ = result.seconds;
  cluster_->counters.connectDuration.observe(result.seconds);
  auto connection = std::make_unique<upstream::UpstreamConnection>();
  connection->fd = std::move(result.fd);
  connection->slot = std::move(connectingSlot_);
  connection->createdMs = core::monotonicMs();
  startExchange(std::move(connection));
}

void HttpSession::startExchange(std::unique_ptr<upstream::UpstreamConnection> connection) {
  phase_ = Phase::Exchanging;
  ++exchangeId_;
  connection_ = std::move(connection);
  backend_ = connection_->slot.backend();
  connectionReused_ = connection_->requests > 0;
  // The lease's bufferevent does not own the socket: the connection does,
  // so it can go back to the pool when the exchange ends.
  up_.reset(bufferevent_socket_new(worker_.dispatcher().base(), connection_->fd.get(), 0));
  bufferevent_setcb(up_.get(), &HttpSession::onUpRead, &HttpSession::onUpWrite,
                    &HttpSession::onUpEvent, this);
  bufferevent_setwatermark(up_.get(), EV_WRITE, bufferLimit_ / 2, 0);
  bufferevent_enable(up_.get(), EV_READ | EV_WRITE);
  // A parser per lease: the last one may have ended in Closed (a response
  // with Connection: close, or the EOF of a failed attempt).
  responseParser_ = std::make_unique<MessageParser>(ParserMode::Response, responseEvents_,
                                                    ParserLimits{kMaxResponseHeaderBytes, 0});
  responseParser_->expectResponseTo(request_);
  // Nothing staged has been sent anywhere yet: on a reused connection, copy
  // it (and later every body byte) in case the keep-alive race strikes.
  if (connectionReused_ && !retried_ && mayRetry(request_)) {
    replay_.start(staged_.get());
  } else {
    replay_.clear();
  }
  flushToUpstream();
  resumeDownstreamIfDrained();
  // Body bytes may be waiting behind the head.
  processDownstream();
}

void HttpSession::processUpstream() {
  while (up_ && phase_ == Phase::Exchanging) {
    evbuffer* input = bufferevent_get_input(up_.get());
    if (evbuffer_get_length(input) == 0) return;
    upstreamBytesSeen_ = true;
    if (evbuffer_get_length(bufferevent_get_output(down_.get())) >= bufferLimit_) {
      if (!upPaused_) {
        upPaused_ = true;
        bufferevent_disable(up_.get(), EV_READ);
      }
      return;
    }
    evbuffer_iovec chunk{};
    evbuffer_peek(input, -1, nullptr, &chunk, 1);
    const ParseResult result =
        responseParser_->feed(static_cast<const char*>(chunk.iov_base), chunk.iov_len);
    evbuffer_drain(input, result.consumed);
    flushToClient();
    switch (result.status) {
      case ParseStatus::NeedMore:
        break;
      case ParseStatus::MessageComplete:
        if (responseParser_->responseHead().interim()) {
          responseParser_->resume();  // 100 Continue went downstream; the real answer follows
          break;
        }
        onResponseComplete();
        return;
      case ParseStatus::Upgraded:
        startTunnel();
        return;
      case ParseStatus::Closed:
      case ParseStatus::Error:
        log::debug("http ", client_.toString(), ": bad response from ", backend_->name(), ": ",
                   responseParser_->errorToken());
        releaseUpstream(false);
        if (responseStarted_) {
          finalize(core::TerminationReason::UpstreamReset);
        } else {
          sendError(502, "bad_response", core::TerminationReason::UpstreamReset);
        }
        return;
    }
  }
}

HeadAction HttpSession::onResponseHead(ResponseHead& head) {
  ResponseRewrite rewrite;
  rewrite.clientVersion = request_.version;
  if (head.interim()) {
    if (head.switchingProtocols()) {
      rewrite.forwardUpgrade = true;
      rewrite.keepAlive = true;
    } else {
      rewrite.keepAlive = true;
      // An HTTP/1.0 client knows no interim responses.
      if (!request_.version.atLeast11()) return HeadAction::proceed();
    }
    const std::string bytes = serializeResponseHead(head, rewrite);
    evbuffer_add(toClient_.get(), bytes.data(), bytes.size());
    bytesOut_ += bytes.size();
    return HeadAction::proceed();
  }
  const bool dechunk = needsDechunk(head, request_.version);
  keepAliveDownstream_ = request_.keepAlive && !draining_ && !clientEof_ && !dechunk &&
                         head.framing != BodyFraming::CloseDelimited;
  if (dechunk) responseParser_->setBodyMode(BodyMode::Decoded);
  rewrite.keepAlive = keepAliveDownstream_;
  responseStatus_ = head.status;
  const std::string bytes = serializeResponseHead(head, rewrite);
  evbuffer_add(toClient_.get(), bytes.data(), bytes.size());
  bytesOut_ += bytes.size();
  responseStarted_ = true;
  return HeadAction::proceed();
}

void HttpSession::onResponseBody(const char* data, size_t len) {
  evbuffer_add(toClient_.get(), data, len);
  bytesOut_ += len;
}

void HttpSession::onResponseComplete() {
  responseComplete_ = true;
  responseParser_->setBodyMode(BodyMode::Raw);
  responseParser_->resume();
  const auto& pool = cluster_->config().pool;
  const int64_t now = core::monotonicMs();
  const bool reusable =
      responseParser_->responseHead().keepAlive &&
      responseParser_->responseHead().framing != BodyFraming::CloseDelimited && requestComplete_ &&
      evbuffer_get_length(bufferevent_get_input(up_.get())) == 0 &&
      evbuffer_get_length(bufferevent_get_output(up_.get())) == 0 && !worker_.draining() &&
      connection_->requests + 1 < pool.maxRequests &&
      (pool.maxLifetime.count() == 0 || now - connection_->createdMs < pool.maxLifetime.count());
  cluster_->reportSuccess(*backend_);
  releaseUpstream(reusable);
  requestTimer_.disable();
  finishRequest(responseStatus_, core::TerminationReason::Completed);
  if (!requestComplete_) keepAliveDownstream_ = false;  // the rest of its body is unread
  if (!keepAliveDownstream_) {
    closeAfterFlush(core::TerminationReason::Completed);
    return;
  }
  beginNextRequest();
}

void HttpSession::releaseUpstream(bool reusable) {
  up_.reset();
  if (!connection_) return;
  ++connection_->requests;
  if (reusable && !cluster_->admission()->handOff(connection_)) {
    auto backend = connection_->slot.backend();
    worker_.pool(cluster_, backend).putIdle(std::move(connection_));
  }
  if (connection_) {
    cluster_->counters.requestsPerConnection.observe(static_cast<double>(connection_->requests));
  }
  connection_.reset();  // closes it unless the pool took it
}

// A reused connection the backend closed unanswered (the keep-alive race,
// see replay.h): send the same bytes again, once, on a fresh connection.
bool HttpSession::retryOnFreshConnection() {
  if (retried_ || !connectionReused_ || upstreamBytesSeen_ || !mayRetry(request_) ||
      !replay_.usable()) {
    return false;
  }
  retried_ = true;
  forceFresh_ = true;
  releaseUpstream(false);
  // Everything staged went to the failed connection, so the copy is the
  // whole request so far; body bytes still to come are staged behind it.
  evbuffer_drain(staged_.get(), evbuffer_get_length(staged_.get()));
  replay_.replayInto(staged_.get());
  log::debug("http ", client_.toString(), ": retrying ", request_.method, " ", request_.target,
             " on a fresh connection");
  acquireUpstream();
  return true;
}

void HttpSession::onUpstreamGone(bool error) {
  if (phase_ == Phase::Exchanging) {
    if (!error) {
      // EOF may complete a close-delimited body.
      const ParseResult result = responseParser_->onEof();
      flushToClient();
      if (result.status == ParseStatus::MessageComplete) {
        onResponseComplete();
        return;
      }
    }
    if (retryOnFreshConnection()) return;
    if (backend_) cluster_->reportRequestFailure(*backend_);
    releaseUpstream(false);
    if (responseStarted_) {
      finalize(core::TerminationReason::UpstreamReset);
    } else {
      sendError(502, "upstream_reset", core::TerminationReason::UpstreamReset);
    }
  }
}

void HttpSession::startTunnel() {
  phase_ = Phase::Tunnel;
  requestTimer_.disable();
  headerTimer_.disable();
  // Whatever each side sent after the handshake is already tunnel bytes.
  flushToClient();
  core::sendNow(down_.get(), bufferevent_get_input(up_.get()));
  core::sendNow(up_.get(), bufferevent_get_input(down_.get()));
  bufferevent_enable(down_.get(), EV_READ);
  bufferevent_enable(up_.get(), EV_READ);
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
  if (requestFinished_) return;
  requestFinished_ = true;
  const double duration = core::monotonicSeconds() - requestStartSec_;
  if (status != 0) listener_->requests.count(status);
  listener_->requestDuration.observe(duration);
  core::AccessLog* accessLog = worker_.shared().accessLog;
  if (accessLog == nullptr || !accessLog->enabled()) return;
  core::AccessRecord r;
  r.kind = "http";
  r.start = requestStartWall_;
  r.client = client_.toString();
  r.listener = listener_->config.name;
  if (backend_) r.backend = backend_->name();
  r.status = status;
  r.method = request_.method;
  r.path = request_.target;
  r.bytesIn = bytesIn_ - bytesInAtStart_;
  r.bytesOut = bytesOut_ - bytesOutAtStart_;
  r.duration = duration;
  r.poolWait = poolWaitSec_;
  r.connect = connectSec_;
  r.termination = core::code(reason);
  r.reason = core::label(reason);
  accessLog->write(static_cast<size_t>(worker_.index()), r);
}

void HttpSession::sendError(uint16_t status, std::string_view reason, core::TerminationReason why) {
  if (phase_ == Phase::Done || phase_ == Phase::Closing) return;
  if (waiter_) {
    waiter_->cancel();
    waiter_->detach();
    waiter_.reset();
  }
  connector_.reset();
  connectingSlot_.reset();
  releaseUpstream(false);
  if (responseStarted_) {
    finalize(why);
    return;
  }
  ErrorResponse error;
  error.status = status;
  error.reason = reason;
  error.close = true;
  error.clientVersion = request_.version;
  error.headRequest = request_.method == "HEAD";
  responseStatus_ = status;
  if (requestFinished_) {
    // Refused before a head was read (400, 408, 431): still a request answered.
    requestFinished_ = false;
    requestStartWall_ = std::chrono::system_clock::now();
    requestStartSec_ = core::monotonicSeconds();
  }
  const std::string bytes = buildErrorResponse(error);
  bytesOut_ += bytes.size();
  finishRequest(status, why);
  bytesOut_ -= bytes.size();  // counted again below with the write
  evbuffer_drain(toClient_.get(), evbuffer_get_length(toClient_.get()));
  evbuffer_add(toClient_.get(), bytes.data(), bytes.size());
  flushToClient();
  bytesOut_ += bytes.size();
  log::debug("http ", client_.toString(), ": answered ", status, " ", reason);
  closeAfterFlush(why);
}

void HttpSession::closeAfterFlush(core::TerminationReason why) {
  if (phase_ == Phase::Done) return;
  phase_ = Phase::Closing;
  closingReason_ = why;
  headerTimer_.disable();
  requestTimer_.disable();
  queueTimer_.disable();
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
  lingerTimer_.enable(std::chrono::milliseconds(1000));
}

void HttpSession::finalize(core::TerminationReason reason) {
  if (phase_ == Phase::Done) return;
  phase_ = Phase::Done;
  if (!requestFinished_) finishRequest(responseStarted_ ? responseStatus_ : 0, reason);
  if (waiter_) {
    waiter_->cancel();
    waiter_->detach();
    waiter_.reset();
  }
  connector_.reset();
  connectingSlot_.reset();
  headerTimer_.disable();
  requestTimer_.disable();
  queueTimer_.disable();
  idleTimer_.disable();
  lingerTimer_.disable();
  up_.reset();
  connection_.reset();
  listener_->counters.bytesFromClients.fetch_add(bytesIn_, std::memory_order_relaxed);
  listener_->counters.bytesToClients.fetch_add(bytesOut_, std::memory_order_relaxed);
  log::debug("http session ", client_.toString(), " ended: ", core::label(reason), " after ",
             requests_, " request(s)");
  down_.reset();
  worker_.sessionDone(this);
}

void HttpSession::onIdleTimer() {
  const int64_t idleMs = listener_->config.timeouts.idle.count();
  const int64_t idleFor = core::monotonicMs() - lastActivityMs_;
  // A request in flight is bounded by the request timeout instead.
  const bool busy = phase_ != Phase::WaitingHead && phase_ != Phase::Tunnel;
  if (idleFor >= idleMs && !busy) {
    finalize(core::TerminationReason::IdleTimeout);
  } else {
    idleTimer_.enable(std::chrono::milliseconds(busy ? idleMs : idleMs - idleFor));
  }
}

// ---------------------------------------------------------------- callbacks

void HttpSession::onDownRead(bufferevent* bev, void* arg) noexcept {
  auto* self = static_cast<HttpSession*>(arg);
  self->lastActivityMs_ = core::monotonicMs();
  if (self->phase_ == Phase::Tunnel) {
    self->relayTunnel(bev, self->up_.get());
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
    bufferevent_enable(self->up_.get(), EV_READ);
    return;
  }
  if (self->upPaused_ && self->up_) {
    self->upPaused_ = false;
    bufferevent_enable(self->up_.get(), EV_READ);
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
      self->relayTunnel(self->down_.get(), self->up_.get());
      ::shutdown(bufferevent_getfd(self->up_.get()), SHUT_WR);
      return;
    }
    // Parse what is left: a request may end exactly here.
    self->processDownstream();
    if (self->phase_ == Phase::WaitingHead && self->requestParser_.headerBytes() == 0) {
      self->finalize(core::TerminationReason::Completed);  // a clean close between requests
    } else if (self->phase_ == Phase::WaitingHead) {
      self->sendError(400, "incomplete_request", core::TerminationReason::DownstreamReset);
    } else if (!self->requestComplete_ && self->phase_ != Phase::Closing) {
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
      self->relayTunnel(self->up_.get(), self->down_.get());
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
