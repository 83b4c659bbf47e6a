#pragma once

// TcpSession: one downstream connection relayed byte for byte to one
// upstream connection (protocol: tcp).
//
// Owner: the Worker's session table. Thread: that worker.
//
//   start ─► Acquiring ──idle pooled conn──────────────► Relaying ─► finalize
//               │  ▲ ├──free slot──► Connecting ──ok──►    ▲
//               │  │ └──no slot───► Queued ──granted──►  Connecting
//               │  └── connect failed, retries left ◄──┘
//               └──(no backend, queue full/timeout, connect failed)──► finalize
//
// Relaying is one routine for both directions (relay(from, to)): each
// readable event is one recv() into the worker's scratch buffer and one
// send() to the other side (core::StreamSocket: no bufferevent, so no
// ioctl per read and no EV_WRITE churn per write). What the other side does
// not take is queued there; when `buffer_size` bytes are queued the reading
// side is paused until the queue drains to half, so a slow reader stalls the
// fast writer and memory stays bounded. Before an upstream is ready, what
// the client sends (a database startup packet, say) waits in early_, at most
// one buffer's worth. EOF on one side is forwarded as shutdown(SHUT_WR) on
// the other once its queue is flushed; the session ends when both
// directions have finished, or at once on a reset, an error or the idle
// timeout. finalize() is the one way out.

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/libevent.h"
#include "core/stream_socket.h"
#include "core/timer_wheel.h"
#include "net/socket.h"
#include "process/session.h"
#include "upstream/admission.h"
#include "upstream/conn_pool.h"
#include "upstream/connector.h"

namespace sluice::tcp {

class TcpSession : public process::Session,
                   public upstream::SlotGrantHandler,
                   private core::StreamSocket::Handler {
 public:
  TcpSession(process::Worker& worker, std::shared_ptr<process::ListenerRuntime> listener,
             core::Fd fd, const net::SocketAddress& client);
  ~TcpSession() override;

  void start() override;
  void abort() override { finalize(process::TerminationReason::Shutdown); }
  void onSlotGranted(std::shared_ptr<upstream::Backend> backend) override;
  void onConnectionGranted(std::unique_ptr<upstream::UpstreamConnection> connection) override;

 private:
  enum class State { Acquiring, Queued, Connecting, Relaying, Done };
  struct Side {
    std::optional<core::StreamSocket> socket;
    bool readEof = false;    // this side sent FIN
    bool writeShut = false;  // we sent FIN to this side
  };

  void acquireUpstream();
  void connectTo(upstream::SlotGuard slot);
  void onConnectResult(upstream::ConnectResult result);
  void startRelay(std::unique_ptr<upstream::UpstreamConnection> connection);
  void readEarly();
  void relay(Side& from, Side& to);
  void onReset(Side& side);
  void shutdownIfFlushed(Side& to, const Side& other);
  void onIdleTimer();
  void onQueueTimeout();
  bool leaveQueue();
  void recordPoolWait();
  void retryConnect();
  void sendProxyHeader();
  void finalize(process::TerminationReason reason);
  void writeAccessLog(process::TerminationReason reason) const;

  // core::StreamSocket::Handler
  void onReadable(core::StreamSocket& socket) override;
  void onFlushed(core::StreamSocket& socket) override;
  void onWriteError(core::StreamSocket& socket, int error) override;
  core::StreamSocket::Handler& asHandler() { return *this; }
  bool isDownstream(const core::StreamSocket& socket) const {
    return downstream_.socket && &socket == &*downstream_.socket;
  }

  const std::shared_ptr<upstream::Cluster> cluster_;
  const size_t bufferLimit_;
  State state_ = State::Acquiring;
  Side downstream_;
  Side upstream_;
  core::EvbufferPtr early_;  // client bytes read before the upstream was ready
  std::unique_ptr<upstream::UpstreamConnection> connection_;  // its fd moved into upstream_
  // The backend last tried or used. Not the slot's copy: it outlives the slot
  // (a failed connect, a finished relay) for the failure report and the log line.
  std::shared_ptr<upstream::Backend> backend_;
  std::unique_ptr<upstream::Connector> connector_;
  upstream::SlotGuard connectingSlot_;
  std::shared_ptr<upstream::SlotWaiter> waiter_;
  std::vector<const upstream::Backend*> failedBackends_;
  uint32_t connectRetriesLeft_;
  core::WheelTimer idleTimer_;
  core::WheelTimer queueTimer_;
  core::WheelTimer retryTimer_;    // jittered pause before another connect attempt
  int64_t connectDeadlineMs_ = 0;  // set by the first connect; bounds all attempts
  int64_t lastActivityMs_;
  const int64_t idleTimeoutMs_;
  uint64_t bytesIn_ = 0;   // from the client
  uint64_t bytesOut_ = 0;  // to the client
  // For the access log and the duration histograms (seconds; -1: did not happen).
  const std::chrono::system_clock::time_point startedWall_;
  const double startedSec_;
  double queuedAtSec_ = 0;
  double poolWaitSec_ = -1;
  double connectSec_ = -1;
};

}  // namespace sluice::tcp
