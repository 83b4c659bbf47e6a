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
//        │  └─small body─► BufferingBody ─┘  └──pool full──► Queued ──granted──┘  │
//        │    (read whole first)  │   └──no backend / queue full / timeout──► Closing (own 5xx)
//        └──bad request / 408──► Closing ◄──408 (body stalled)               └──101──► Tunnel
//
// I/O: both the client (down_) and the lease's upstream socket are
// core::StreamSockets, not bufferevents: a readable event is one recv() into
// the worker's scratch buffer (Worker::relayBuffer()) and the parser reads
// the bytes there; what it produces goes out in one send(). Reading stays
// enabled between requests (the event is level-triggered and a quiet client
// costs nothing), and is paused only for back-pressure and at EOF. The
// upstream socket, with its registered read event, stays with the
// connection between leases (see UpstreamConnection), so per request that
// is a recv and a send on each side: no ioctl and no epoll_ctl.
//
// Requests on one connection are handled one at a time: the request parser
// pauses after each message, so pipelined requests wait, unparsed, in
// pendingIn_ (allocated only while there are such bytes) until the response
// before them is complete.
// Bodies stream in their original framing; until the upstream is ready the
// request (head and body) is staged in `Exchange::staged`, bounded like every
// other buffer by `buffer_size` through back-pressure on the reading side.
// A small body is read whole before a connection is leased
// (BufferingBody, see request_buffering.h), so a slow client holds no
// backend slot. A request whose client still owes body bytes when a timeout
// strikes (timeouts.request, or timeouts.request_body between two body
// bytes) is the client's fault: 408, and no failure is booked against the
// backend, which was only waiting for those bytes.
//
// An upstream connection is reused only when the response was complete, both
// sides allowed keep-alive, the request was fully sent and nothing arrived
// after the response; an idle connection in fd form (pre-warmed or handed
// off) is checked for unsolicited bytes or EOF before it is used or handed
// off (upstream::idleQuiet). A request that fails on a reused connection
// before any response byte is retried once on a fresh connection if its
// method is idempotent and its bytes fit the replay budget, or if none of it
// left (see replay.h: the keep-alive race, RFC 9110 §9.2.2, why 64 KiB).
// Upgrade: only the protocols of http.upgrade become a tunnel; any other
// Upgrade request goes on as a plain request (see upgrade_policy.h).
//
// Memory: most of a proxy's connections are idle keep-alive clients, so an
// idle session is this one object (about 470 bytes) and nothing else on the
// heap: its StreamSocket (read event embedded, no output buffer while
// nothing waits), its WheelTimer (a slot on the worker's TimerWheel) and its
// links in the worker's SessionList are all inside it. Everything a request
// needs (both parsers, the request head, the staging buffers, the upstream
// lease, the replay copy) is an Exchange, allocated when the request's first
// byte arrives and freed when its response is done. The one timer serves
// every deadline: request header (slowloris), request, queue, idle and
// linger. It is armed for the nearest; when it fires, onTimer() acts on
// whatever is due and re-arms for the next, so setting a later deadline
// costs nothing.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/libevent.h"
#include "core/stream_socket.h"
#include "core/timer_wheel.h"
#include "http/parser.h"
#include "http/replay.h"
#include "process/session.h"
#include "upstream/admission.h"
#include "upstream/conn_pool.h"
#include "upstream/connector.h"

namespace sluice::http {

class HttpSession : public process::Session,
                    public upstream::SlotGrantHandler,
                    private core::StreamSocket::Handler {
 public:
  HttpSession(process::Worker& worker, std::shared_ptr<process::ListenerRuntime> listener,
              core::Fd fd, const net::SocketAddress& client);
  ~HttpSession() override;

  void start() override;
  void abort() override { finalize(process::TerminationReason::Shutdown); }
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
    BufferingBody,  // a small request body is read whole before leasing
    Tunnel,
    Closing,
    Done
  };
  static constexpr int64_t kNoDeadline = 0;  // a deadline field not in use

  // The parser callbacks of each direction, forwarded to the session.
  struct RequestEvents : ParserCallbacks {
    explicit RequestEvents(HttpSession& s) : session(s) {}
    HeadAction onRequestHead(RequestHead& head) override { return session.onRequestHead(head); }
    void onBody(const char* data, size_t len) override { session.onRequestBody(data, len); }
    void onMessageComplete() override { session.onRequestComplete(); }
    HttpSession& session;
  };
  struct ResponseEvents : ParserCallbacks {
    explicit ResponseEvents(HttpSession& s) : session(s) {}
    HeadAction onResponseHead(ResponseHead& head) override { return session.onResponseHead(head); }
    void onBody(const char* data, size_t len) override { session.onResponseBody(data, len); }
    void onMessageComplete() override {}
    HttpSession& session;
  };

  // One request, from its first byte to the end of its response.
  struct Exchange {
    explicit Exchange(HttpSession& session);
    ~Exchange();
    Exchange(const Exchange&) = delete;
    Exchange& operator=(const Exchange&) = delete;

    RequestEvents requestEvents;
    ResponseEvents responseEvents;
    MessageParser requestParser;
    std::unique_ptr<MessageParser> responseParser;  // one per upstream lease
    core::EvbufferPtr staged;    // request bytes waiting for (or on their way to) an upstream
    core::EvbufferPtr toClient;  // response bytes of the current parse, flushed after it
    RequestHead request;
    ReplayBuffer replay;  // what went out on a reused connection, for a retry

    bool headArrived = false;  // set inside the parser callback, acted on after feed()
    bool requestOpen = false;  // a request began; its metrics/log line are not written yet
    bool requestComplete = false;
    bool responseStarted = false;  // a final response head went downstream
    bool upstreamBytesSeen = false;
    bool lastReadFilled = false;  // the last upstream read took all it asked for
    bool keepAliveDownstream = true;
    bool retried = false;
    bool forceFresh = false;  // the retry must not take a pooled connection
    bool upPaused = false;
    bool requestMayHaveLeft = false;  // a write of it on this lease did not fail at once
    uint16_t responseStatus = 0;
    uint64_t bodyBytesIn = 0;  // request body bytes as received
    int64_t requestDeadlineMs = kNoDeadline;
    int64_t bodyDeadlineMs = kNoDeadline;  // the next body byte is due (timeouts.request_body)
    int64_t queueDeadlineMs = kNoDeadline;
    std::chrono::system_clock::time_point startWall;
    double startSec = 0;
    double queuedAtSec = 0;
    double poolWaitSec = -1;
    double connectSec = -1;
    uint64_t bytesInAtStart = 0;
    uint64_t bytesOutAtStart = 0;

    // The upstream lease.
    std::unique_ptr<upstream::UpstreamConnection> connection;
    std::unique_ptr<core::StreamSocket> up;  // the connection's socket during the lease
    std::shared_ptr<upstream::Backend> backend;
    bool connectionReused = false;
    std::unique_ptr<upstream::Connector> connector;
    upstream::SlotGuard connectingSlot;
    std::shared_ptr<upstream::SlotWaiter> waiter;
    std::vector<const upstream::Backend*> failedBackends;
    uint32_t connectRetriesLeft = 0;
  };

  // Downstream side.
  void readDownstream();
  size_t parseRequest(const char* data, size_t len);
  void processDownstream();
  void resumeDownstreamIfDrained();
  void onClientEof();
  size_t heldBytes() const { return pendingIn_ ? evbuffer_get_length(pendingIn_.get()) : 0; }
  HeadAction onRequestHead(RequestHead& head);
  void onRequestBody(const char* data, size_t len);
  void onRequestComplete() {
    exchange_->requestComplete = true;
    exchange_->bodyDeadlineMs = kNoDeadline;
  }
  void onHeadParsed();
  void leaseWhenBuffered();
  void beginNextRequest();
  size_t requestBytesQueued() const;
  void flushToUpstream();
  void flushToClient();
  void sendToClient(const char* data, size_t len);
  void beforeClientWrite();
  void setClientNoDelay();
  void discardFromClient(core::StreamSocket& socket);

  // Upstream side.
  void acquireUpstream();
  bool leaveQueue();
  void connectTo(upstream::SlotGuard slot);
  void onConnectResult(upstream::ConnectResult result);
  void startExchange(std::unique_ptr<upstream::UpstreamConnection> connection);
  void readUpstream();
  void parseResponse(const char* data, size_t len);
  HeadAction onResponseHead(ResponseHead& head);
  void onResponseBody(const char* data, size_t len);
  void onResponseComplete(bool trailingBytes);
  void onUpstreamGone(bool error);
  void releaseUpstream(bool reusable);
  void stopWaiting();
  bool retryOnFreshConnection();
  void startTunnel(const char* upstreamBytes, size_t len);
  void relayTunnel(core::StreamSocket& from, core::StreamSocket& to);
  core::StreamSocket* up() { return exchange_ && exchange_->up ? &*exchange_->up : nullptr; }

  // Metrics and the access log line of one request.
  void finishRequest(uint16_t status, process::TerminationReason reason);

  // Answers and endings.
  void sendError(uint16_t status, std::string_view reason, process::TerminationReason why);
  void closeAfterFlush(process::TerminationReason why);
  void startLingering();
  void finalize(process::TerminationReason reason);

  // The one timer.
  bool busy() const;
  void armTimer(int64_t dueMs);
  void rearmTimer(int64_t nowMs);
  void onTimer();
  void onRequestTimeout();
  void onBodyTimeout(int64_t nowMs);
  void onQueueTimeout();

  // core::StreamSocket::Handler, for down_ and the lease's socket.
  void onReadable(core::StreamSocket& socket) override;
  void onFlushed(core::StreamSocket& socket) override;
  void onWriteError(core::StreamSocket& socket, int error) override;
  bool isDownstream(const core::StreamSocket& socket) const { return down_ && &socket == &*down_; }
  core::StreamSocket::Handler& asHandler() { return *this; }

  const std::shared_ptr<upstream::Cluster> cluster_;
  const size_t bufferLimit_;
  const uint64_t requestBufferLimit_;  // bodies up to this are read before leasing; 0: never
  Phase phase_ = Phase::WaitingHead;
  process::TerminationReason closingReason_ = process::TerminationReason::Completed;
  bool downPaused_ = false;
  bool clientEof_ = false;    // the client half-closed: answer, then close
  bool lingering_ = false;    // closing: our FIN is out, discarding what the client still sends
  bool mustLinger_ = false;   // closing: the client may still be sending (see closeAfterFlush)
  bool downNoDelay_ = false;  // TCP_NODELAY is set on the client socket (see sendToClient)
  bool downWritten_ = false;  // something was sent to the client
  bool feeding_ = false;      // parseRequest() is running: a nested processDownstream() waits
  bool upstreamEof_ = false;  // tunnel: the upstream sent FIN

  std::optional<core::StreamSocket> down_;
  // Client bytes read but not parsed yet (pipelined requests, a body while
  // the upstream is not ready, tunnel bytes); null while there are none.
  core::EvbufferPtr pendingIn_;
  std::unique_ptr<Exchange> exchange_;  // null while idle between requests

  core::WheelTimer timer_;
  int64_t headerDeadlineMs_ = kNoDeadline;  // the request head must be in by then
  int64_t lingerDeadlineMs_ = kNoDeadline;
  int64_t lastActivityMs_;
  uint64_t exchangeId_ = 0;  // tells a stale upstream event from the current lease's
  uint64_t bytesIn_ = 0;
  uint64_t bytesOut_ = 0;
  uint64_t requests_ = 0;
};

}  // namespace sluice::http
