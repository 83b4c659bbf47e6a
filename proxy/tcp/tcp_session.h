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
// Relaying is one routine for both directions (relay(from, to)): bytes read
// on one side are moved (not copied) to the other side's output buffer; when
// that buffer holds `buffer_size` bytes the reading side is paused until it
// drains to half, so a slow reader stalls the fast writer and memory stays
// bounded. EOF on one side is forwarded as shutdown(SHUT_WR) on the other
// once its output is flushed; the session ends when both directions have
// finished, or at once on a reset, an error or the idle timeout. finalize()
// is the one way out.

#include <chrono>
#include <memory>
#include <vector>

#include "core/libevent.h"
#include "core/session.h"
#include "core/timer.h"
#include "net/socket.h"
#include "upstream/admission.h"
#include "upstream/conn_pool.h"
#include "upstream/connector.h"

namespace sluice::tcp {

class TcpSession : public core::Session, public upstream::SlotGrantHandler {
 public:
  TcpSession(core::Worker& worker, std::shared_ptr<core::ListenerRuntime> listener, net::Fd fd,
             const net::SocketAddress& client);
  ~TcpSession() override;

  void start() override;
  void abort() override { finalize(core::TerminationReason::Shutdown); }
  void onSlotGranted(std::shared_ptr<upstream::Backend> backend) override;

 private:
  enum class State { Acquiring, Queued, Connecting, Relaying, Done };
  struct Side {
    core::BuffereventPtr bev;
    bool readEof = false;    // this side sent FIN
    bool writeShut = false;  // we sent FIN to this side
    bool paused = false;     // reading paused: the other side's output is full
  };

  void acquireUpstream();
  void connectTo(upstream::SlotGuard slot);
  void onConnectResult(upstream::ConnectResult result);
  void startRelay(std::unique_ptr<upstream::UpstreamConnection> connection);
  void relay(Side& from, Side& to);
  void onWritable(Side& to, Side& other);
  void onEvent(Side& side, Side& other, short what);
  void shutdownIfFlushed(Side& to, const Side& other);
  void onIdleTimer();
  void onQueueTimeout();
  void retryConnect();
  void sendProxyHeader();
  void finalize(core::TerminationReason reason);
  void writeAccessLog(core::TerminationReason reason) const;

  static void onReadCb(bufferevent* bev, void* arg) noexcept;
  static void onWriteCb(bufferevent* bev, void* arg) noexcept;
  static void onEventCb(bufferevent* bev, short what, void* arg) noexcept;
  Side& sideOf(bufferevent* bev) { return bev == downstream_.bev.get() ? downstream_ : upstream_; }
  Side& otherOf(bufferevent* bev) { return bev == downstream_.bev.get() ? upstream_ : downstream_; }

  const std::shared_ptr<upstream::Cluster> cluster_;
  const size_t bufferLimit_;
  State state_ = State::Acquiring;
  Side downstream_;
  Side upstream_;
  std::unique_ptr<upstream::UpstreamConnection> connection_;  // its fd moved into upstream_.bev
  std::shared_ptr<upstream::Backend> backend_;
  std::unique_ptr<upstream::Connector> connector_;
  upstream::SlotGuard connectingSlot_;
  std::shared_ptr<upstream::SlotWaiter> waiter_;
  std::vector<const upstream::Backend*> failedBackends_;
  uint32_t connectRetriesLeft_;
  core::Timer idleTimer_;
  core::Timer queueTimer_;
  core::Timer retryTimer_;         // jittered pause before another connect attempt
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
