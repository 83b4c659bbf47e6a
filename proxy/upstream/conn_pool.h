#pragma once

// ConnPool: one worker's idle connections to one backend.
//
// Owner: a Worker (one pool per backend per worker). Thread: that worker.
//
// A connection is in exactly one place at a time, and its place is its state:
//
//   refill() ──► connecting_ ──ok──► idle_ ──takeIdle()──► a session (busy)
//                    │                 │  ▲                    │
//                    │ fail            │  └──── putIdle() ◄────┘ (http, reusable)
//                    ▼                 ▼
//                 closed ◄── peer closed / idle_timeout / max_lifetime / drain
//
// An idle connection is watched for the backend closing it. A connection in
// fd form (fresh from a connect, or handed back across workers) gets an
// edge-triggered watch event of its own (a server greeting stays unread for
// a tcp client). For http a byte nobody asked for would be read as the next
// response: takeIdle(quietOnly) and the http session's hand-offs check such
// a connection with idleQuiet() and close it instead.
// One in socket form (an http connection that served a request on this
// worker, see UpstreamConnection) keeps its StreamSocket's level-triggered
// read event and the pool becomes its handler: any wake-up while idle (EOF,
// reset, bytes nobody asked for) drops it. So an http lease costs no
// epoll_ctl: neither taking nor returning it touches epoll.
//
// Every connection holds a SlotGuard, so closing it (whatever the path)
// returns its backend slot, and a queued session may get it at once.
// Pre-warming never competes with queued sessions: refill() opens nothing
// while the cluster has waiters.

#include <list>
#include <memory>

#include "core/dispatcher.h"
#include "core/libevent.h"
#include "upstream/admission.h"
#include "upstream/cluster.h"
#include "upstream/connector.h"
#include "upstream/upstream_connection.h"

namespace sluice::upstream {

// True when an idle socket has nothing to read and no EOF: one non-blocking
// recv(MSG_PEEK) of a byte. Data or EOF makes an http connection unusable.
bool idleQuiet(int fd);
// The same for a connection in either form (see UpstreamConnection).
bool idleQuiet(const UpstreamConnection& connection);

class ConnPool final : private core::StreamSocket::Handler {
 public:
  ConnPool(core::Dispatcher& dispatcher, std::shared_ptr<Cluster> cluster,
           std::shared_ptr<Backend> backend, uint32_t targetIdle);
  ~ConnPool();
  ConnPool(const ConnPool&) = delete;
  ConnPool& operator=(const ConnPool&) = delete;

  const std::shared_ptr<Backend>& backend() const { return backend_; }

  // The most recently idled live connection, or null. `quietOnly` (http):
  // connections in fd form that hold unread bytes or were closed are
  // closed and skipped (see idleQuiet).
  std::unique_ptr<UpstreamConnection> takeIdle(bool quietOnly = false);
  // Returns a reusable connection (http) to the idle list.
  void putIdle(std::unique_ptr<UpstreamConnection> connection);
  // Starts connects until `targetIdle` connections are idle or connecting.
  void refill();
  // Closes idle connections past idle_timeout or max_lifetime. Called every second.
  void expire(int64_t nowMs);
  // Hands idle connections to sessions queued for the cluster, one per
  // waiter. A waiter on another worker cannot take from this pool, and its
  // own worker's release path only hands off connections that are busy now:
  // without this an idle connection here could hold the slot it waits for
  // until idle_timeout. Called every maintenance tick, and when a session on
  // another worker queues (Worker::askPeersForIdle).
  void offerIdleToWaiters();
  // Closes every idle connection and stops pre-warming for good.
  void drain();
  // The backend went unhealthy or is being drained (DNS): closes every idle
  // connection now. Pre-warming resumes by itself once the backend is
  // available again (refill() checks Backend::available()).
  void closeIdle();

  size_t idleCount() const { return idle_.size(); }
  size_t connectingCount() const { return connecting_.size(); }

 private:
  struct Idle {
    ConnPool* pool;
    std::unique_ptr<UpstreamConnection> connection;
    core::EventPtr watch;  // fd form: fires when the backend closes or resets it
    int64_t idleSinceMs;
  };
  struct Pending {
    std::unique_ptr<Connector> connector;
    SlotGuard slot;
  };
  static void onIdleClosed(evutil_socket_t, short, void* arg) noexcept;
  // Socket form (http): whatever wakes an idle connection's socket (bytes,
  // EOF, an error) makes it unusable for the next request.
  void onReadable(core::StreamSocket& socket) override { dropIdle(socket); }
  void onFlushed(core::StreamSocket&) override {}
  void onWriteError(core::StreamSocket& socket, int) override { dropIdle(socket); }
  void dropIdle(const core::StreamSocket& socket);
  void addIdle(std::unique_ptr<UpstreamConnection> connection);
  void removeIdle(std::list<Idle>::iterator it);
  void onConnected(std::list<Pending>::iterator it, ConnectResult result);

  core::Dispatcher& dispatcher_;
  std::shared_ptr<Cluster> cluster_;
  std::shared_ptr<Backend> backend_;
  const uint32_t targetIdle_;
  bool draining_ = false;
  std::list<Idle> idle_;  // oldest first; takeIdle() takes from the back
  std::list<Pending> connecting_;
};

}  // namespace sluice::upstream
