#pragma once

// Worker: one thread, one event loop, and everything that thread serves.
//
// Owner: the Server. Thread: its own; the Server reaches it only through
// dispatcher().post(). A session lives and dies on the worker that accepted
// it, together with the pools and balancers it uses: the data path takes no
// lock (see upstream/admission.h for the one cross-worker queue).
//
// Lifecycle:  start() ─► serving ─► beginDrain() ─► closeListeners()
//                 ▲                   (sessions finish)   ─► abortAll() ─► stop()
//                 └──────── endDrain(sockets) (POST /undrain) ◄─┘

#include <atomic>
#include <map>
#include <memory>
#include <span>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dispatcher.h"
#include "core/timer.h"
#include "core/timer_wheel.h"
#include "net/listener.h"
#include "net/proxy_protocol_reader.h"
#include "process/runtime.h"
#include "process/session.h"
#include "process/session_list.h"
#include "upstream/conn_pool.h"
#include "upstream/load_balancer.h"

namespace sluice::process {

class Worker {
 public:
  // `sockets` holds one listening socket per runtime listener, same order.
  Worker(int index, int workerCount, RuntimePtr runtime, SharedState& shared,
         std::vector<core::Fd> sockets);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();  // spawns the thread
  void join();

  core::Dispatcher& dispatcher() { return dispatcher_; }
  core::TimerWheel& timers() { return timers_; }
  // A session of this worker just queued for `cluster`: if a backend of it
  // has idle connections (in some worker's pool), ask the other workers to
  // offer theirs now rather than on their next maintenance tick.
  void askPeersForIdle(const std::shared_ptr<upstream::Cluster>& cluster);
  int index() const { return index_; }
  SharedState& shared() { return shared_; }
  // Sessions alive on this worker (any thread may read it).
  int64_t sessionCount() const { return sessionCount_.load(std::memory_order_relaxed); }

  // --- loop thread only ---
  void beginDrain();      // stop pre-warming, close idle upstreams, tell sessions
  void closeListeners();  // stop accepting
  // POST /undrain after the listeners closed: serve again on `sockets` (one
  // per runtime listener, same order), pre-warm again.
  void endDrain(std::vector<core::Fd> sockets);
  void abortAll();  // end every session now
  void stop();      // leave the loop
  // The backend turned unhealthy or is drained (DNS): close its idle
  // pooled connections in every pool of this worker.
  void closeIdleTo(const upstream::Backend* backend);

  upstream::LoadBalancer& balancer(const upstream::Cluster& cluster);
  upstream::ConnPool& pool(const std::shared_ptr<upstream::Cluster>& cluster,
                           const std::shared_ptr<upstream::Backend>& backend);
  bool draining() const { return draining_; }
  void sessionDone(Session* session);
  // Scratch space a session reads into and sends from within one callback
  // (tcp relay); nothing may be left in it between callbacks.
  std::span<char> relayBuffer() { return relayBuffer_; }

  // Reload (worker_reload.cpp): new sessions use `runtime` from now on.
  // Listeners whose address is unchanged keep their socket and only hand
  // new connections to the new ListenerRuntime; `opened` holds the sockets
  // the Server bound for new addresses (by address string); listeners not in
  // `runtime` close. Idle connections of the old pools close.
  using OpenedSockets = std::vector<std::pair<std::string, core::Fd>>;
  void applyRuntime(RuntimePtr runtime, OpenedSockets opened);

 private:
  void run();
  // Applies the trusted-source check and the limits, then starts a session
  // or, with proxy_protocol, a header reader that starts it later.
  void onAccept(const std::shared_ptr<ListenerRuntime>& listener, core::Fd fd,
                const net::SocketAddress& peer);
  void readProxyHeader(const std::shared_ptr<ListenerRuntime>& listener, core::Fd fd,
                       const net::SocketAddress& peer, DownstreamSlot slot);
  void startSession(const std::shared_ptr<ListenerRuntime>& listener, core::Fd fd,
                    const net::SocketAddress& client, DownstreamSlot slot);
  static void reject(ListenerRuntime& listener, RejectReason reason);
  void maintain();
  void offerIdleTo(const upstream::Cluster* cluster);
  std::vector<Session*> sessionList() const;
  void pruneRetired();
  bool isWarm(const upstream::Cluster* cluster) const;

  // A listening socket and the listener snapshot it currently feeds.
  struct BoundListener {
    std::shared_ptr<ListenerRuntime> runtime;
    std::string address;
    std::unique_ptr<net::Listener> socket;
  };
  std::unique_ptr<BoundListener> bindListener(std::shared_ptr<ListenerRuntime> runtime,
                                              core::Fd socket);
  void adoptClusters();

  const int index_;
  const int workerCount_;
  SharedState& shared_;
  core::Dispatcher dispatcher_;  // first member after the plain ones: destroyed last
  core::TimerWheel timers_;      // the sessions' deadlines; outlives them
  RuntimePtr runtime_;
  std::vector<std::unique_ptr<BoundListener>> listeners_;
  SessionList sessions_;
  // Connections still sending their PROXY header (no session yet), each
  // with its place in the limits.
  struct PendingHeader {
    std::unique_ptr<net::ProxyProtocolReader> reader;
    DownstreamSlot slot;
  };
  std::unordered_map<net::ProxyProtocolReader*, PendingHeader> headerReaders_;
  std::map<const upstream::Cluster*, std::unique_ptr<upstream::LoadBalancer>> balancers_;
  // By (cluster, backend): a Backend may outlive a reload, its pool settings not.
  std::map<std::pair<const upstream::Cluster*, const upstream::Backend*>,
           std::unique_ptr<upstream::ConnPool>>
      pools_;
  // Clusters this worker pre-warms for (the current runtime's).
  std::vector<std::shared_ptr<upstream::Cluster>> warmClusters_;
  core::Timer maintenanceTimer_;
  std::atomic<int64_t> sessionCount_{0};
  bool draining_ = false;
  std::vector<char> relayBuffer_ = std::vector<char>(64 * 1024);
  std::thread thread_;
};

}  // namespace sluice::process
