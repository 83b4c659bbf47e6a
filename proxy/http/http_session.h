#pragma once

// HttpSession: one downstream HTTP/1.x connection (protocol: http). Each
// request borrows a keep-alive upstream connection from the worker's pool
// for exactly one exchange and gives it back once the response is complete
// and reusable, so thousands of clients share a few dozen upstream
// connections.
//
// Owner: the Worker's session table. Thread: that worker.
//
//            ┌───────────────────── keep-alive: next request ◄──────────────────┐
//            ▼                                                                  │
//   WaitingHead ──head──► Acquiring ──idle conn / slot+connect──► Exchanging ──response done
//        │                    │   └──pool full──► Queued ──granted──┘     │
//        │                    └──no backend / queue full / timeout──► Closing (own 5xx)
//        └──bad request / 408──► Closing                                  └──101──► Tunnel
//
// Requests on one connection are handled one at a time: the request parser
// pauses after each message, so pipelined requests wait, unparsed, in the
// downstream input buffer until the response before them is complete.
// Bodies stream in their original framing; until the upstream is ready the
// request (head and body) is staged in `staged_`, bounded like every other
// buffer by `buffer_size` through back-pressure on the reading side.
//
// An upstream connection is reused only when the response was complete, both
// sides allowed keep-alive, the request was fully sent and nothing arrived
// after the response. A request that fails on a reused connection before any
// response byte is retried once on a fresh connection if its method is
// idempotent or it has no body, and its bytes fit the replay budget (see
// replay.h: the keep-alive race, and why 64 KiB).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "core/libevent.h"
#include "core/session.h"
#include "core/timer.h"
#include "http/parser.h"
#include "http/replay.h"
#include "upstream/admission.h"
#include "upstream/conn_pool.h"
#include "upstream/connector.h"

namespace sluice::http {

class HttpSession : public core::Session, public upstream::SlotGrantHandler {
 public:
  HttpSession(core::Worker& worker, std::shared_ptr<core::ListenerRuntime> listener, net::Fd fd,
              const net::SocketAddress& client);
  ~HttpSession() override;

  void start() override;
  void abort() override { finalize(core::TerminationReason::Shutdown); }
  void onDrain() override;
  void onSlotGranted(std::shared_ptr<upstream::Backend> backend) override;
  void onConnectionGranted(std::unique_ptr<upstream::UpstreamConnection> connection) override;

 private:
  enum class Phase {
    WaitingHead,
    Acquiring,
    Queued,
    Connecting,
    Exchanging,
    Tunnel,
    Closing,
    Done
  };

  // The parser callbacks of each direction, forwarded to the session.
  struct RequestEvents : ParserCallbacks {
    explicit RequestEvents(HttpSession& s) : session(s) {}
    HeadAction onRequestHead(RequestHead& head) override { return session.onRequestHead(head); }
    void onBody(const char* data, size_t len) override { session.onRequestBody(data, len); }
    void onMessageComplete() override { session.requestComplete_ = true; }
    HttpSession& session;
  };
  struct ResponseEvents : ParserCallbacks {
    explicit ResponseEvents(HttpSession& s) : session(s) {}
    HeadAction onResponseHead(ResponseHead& head) override { return session.onResponseHead(head); }
    void onBody(const char* data, size_t len) override { session.onResponseBody(data, len); }
    void onMessageComplete() override {}
    HttpSession& session;
  };

  // Downstream side.
  void processDownstream();
  void resumeDownstreamIfDrained();
  HeadAction onRequestHead(RequestHead& head);
  void onRequestBody(const char* data, size_t len);
  void beginNextRequest();
  size_t requestBytesQueued() const;
  void flushToUpstream();
  void flushToClient();

  // Upstream side.
  void acquireUpstream();
  void connectTo(upstream::SlotGuard slot);
  void onConnectResult(upstream::ConnectResult result);
  void startExchange(std::unique_ptr<upstream::UpstreamConnection> connection);
  void processUpstream();
  HeadAction onResponseHead(ResponseHead& head);
  void onResponseBody(const char* data, size_t len);
  void onResponseComplete();
  void onUpstreamGone(bool error);
  void releaseUpstream(bool reusable);
  bool retryOnFreshConnection();
  void startTunnel();
  void relayTunnel(bufferevent* from, bufferevent* to);

  // Metrics and the access log line of one request.
  void finishRequest(uint16_t status, core::TerminationReason reason);

  // Answers and endings.
  void sendError(uint16_t status, std::string_view reason, core::TerminationReason why);
  void closeAfterFlush(core::TerminationReason why);
  void startLingering();
  void finalize(core::TerminationReason reason);
  void onIdleTimer();

  static void onDownRead(bufferevent*, void* arg) noexcept;
  static void onDownWrite(bufferevent*, void* arg) noexcept;
  static void onDownEvent(bufferevent*, short what, void* arg) noexcept;
  static void onUpRead(bufferevent*, void* arg) noexcept;
  static void onUpWrite(bufferevent*, void* arg) noexcept;
  static void onUpEvent(bufferevent*, short what, void* arg) noexcept;

  const std::shared_ptr<upstream::Cluster> cluster_;
  const size_t bufferLimit_;
  Phase phase_ = Phase::WaitingHead;
  core::TerminationReason closingReason_ = core::TerminationReason::Completed;

  core::BuffereventPtr down_;
  RequestEvents requestEvents_{*this};
  ResponseEvents responseEvents_{*this};
  MessageParser requestParser_;
  std::unique_ptr<MessageParser> responseParser_;  // one per upstream lease
  core::EvbufferPtr staged_;    // request bytes waiting for (or on their way to) an upstream
  core::EvbufferPtr toClient_;  // response bytes of the current parse, flushed after it

  // The request in flight.
  RequestHead request_;
  ReplayBuffer replay_;       // what went out on a reused connection, for a retry
  bool headArrived_ = false;  // set inside the parser callback, acted on after feed()
  bool requestComplete_ = false;
  bool responseStarted_ = false;  // a final response head went downstream
  bool responseComplete_ = false;
  bool upstreamBytesSeen_ = false;
  bool keepAliveDownstream_ = true;
  bool retried_ = false;
  bool forceFresh_ = false;  // the retry must not take a pooled connection
  bool downPaused_ = false;
  bool upPaused_ = false;
  bool draining_ = false;
  bool clientEof_ = false;   // the client half-closed: answer, then close
  bool lingering_ = false;   // closing: our FIN is out, discarding what the client still sends
  uint64_t exchangeId_ = 0;  // tells a stale upstream event from the current lease's
  int64_t requestStartMs_ = 0;
  std::chrono::system_clock::time_point requestStartWall_;
  double requestStartSec_ = 0;
  double queuedAtSec_ = 0;
  double poolWaitSec_ = -1;
  double connectSec_ = -1;
  uint64_t bytesInAtStart_ = 0;
  uint64_t bytesOutAtStart_ = 0;
  bool requestFinished_ = true;  // metrics/log written for the current request
  uint16_t responseStatus_ = 0;

  // The upstream lease.
  std::unique_ptr<upstream::UpstreamConnection> connection_;
  core::BuffereventPtr up_;
  std::shared_ptr<upstream::Backend> backend_;
  bool connectionReused_ = false;
  std::unique_ptr<upstream::Connector> connector_;
  upstream::SlotGuard connectingSlot_;
  std::shared_ptr<upstream::SlotWaiter> waiter_;
  std::vector<const upstream::Backend*> failedBackends_;
  uint32_t connectRetriesLeft_ = 0;

  core::Timer headerTimer_;
  core::Timer requestTimer_;
  core::Timer queueTimer_;
  core::Timer idleTimer_;
  core::Timer lingerTimer_;
  int64_t lastActivityMs_;
  uint64_t bytesIn_ = 0;
  uint64_t bytesOut_ = 0;
  uint64_t requests_ = 0;
};

}  // namespace sluice::http
