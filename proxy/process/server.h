#pragma once

// Server: the main thread. Takes the runtime built from the config (see
// app/commands.cpp's runServer), binds the listening sockets, starts the workers, and owns what is
// not on the data path: signals, the admin port, and the drain sequence.
//
// Drain (SIGTERM/SIGINT, or POST /drain), in DESIGN.md's order:
//
//   Serving ──signal──► DelayAccepting ──drain_delay──► Draining ──no sessions──► exit 0
//     (/ready 503 at once)  (still accepting)   (listeners closed,   or drain_timeout
//                                                idle upstreams closed)  (sessions aborted)
//
// POST /drain runs the same sequence but does not exit at the end: the
// process and its admin port stay up until a signal, or until POST /undrain
// puts it back to Serving (listeners bound again). A second signal during
// a drain exits at once.

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/dispatcher.h"
#include "core/timer.h"
#include "process/access_log.h"
#include "process/runtime.h"
#include "process/worker.h"

namespace sluice::admin {
class AdminServer;
}
namespace sluice::health {
class Discovery;
class HealthChecker;
}  // namespace sluice::health

namespace sluice::process {

class Server {
 public:
  // `workerCount`: the config's `workers`, with `auto` already resolved (app/
  // knows the host); a reload cannot change it.
  Server(RuntimePtr runtime, uint32_t workerCount);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds everything; false (after logging why) when something cannot be bound.
  bool start();
  // Runs the main loop until the drain finishes; returns the exit code.
  int run();

  // --- main thread: what the admin port and signals call ---
  enum class DrainMode { ExitWhenDone, StayUp };
  void beginDrain(DrainMode mode);
  bool draining() const { return shared_.draining.load(); }
  // Not draining, and no cluster that opted in (`readiness: requires_backend`)
  // is without an available backend.
  bool ready() const { return !draining() && !unreadyCluster(); }
  // The first cluster with `readiness: requires_backend` and no available backend.
  std::optional<std::string> unreadyCluster() const;
  // POST /undrain: ends a drain POST /drain started (a signal's cannot be
  // undone): cancels it, or binds the listeners again and posts them to the
  // workers. Failed: `*error` says why; the drain goes on.
  enum class UndrainResult { Resumed, NotDraining, SignalDrain, Failed };
  UndrainResult endDrain(std::string* error);
  const RuntimePtr& runtime() const { return runtime_; }
  // The running config: the current runtime's snapshot (one copy, swapped by reload()).
  const config::ConfigPtr& config() const { return runtime_->config; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  const SharedState& shared() const { return shared_; }
  int64_t sessionCount() const;

  // SIGHUP and POST /reload (server_reload.cpp): re-read the config file;
  // on success new sessions use it, on failure the old one keeps running.
  struct ReloadResult {
    bool ok = false;
    std::string summary;              // ok: what is running now
    std::vector<std::string> errors;  // not ok: "file:line:col: message" lines
  };
  ReloadResult reload();
  uint64_t reloadsSucceeded() const { return reloadsSucceeded_; }
  uint64_t reloadsFailed() const { return reloadsFailed_; }
  const AccessLog& accessLog() const { return *accessLog_; }

 private:
  static void onSignal(evutil_socket_t signal, short, void* arg) noexcept;
  void closeListeners();
  // One listening socket per listener per worker, as start() and endDrain() bind them.
  bool bindListeners(std::vector<std::vector<core::Fd>>& sockets, std::string* error) const;
  void pollDrain();
  void finish();
  // Health checks follow the current clusters' backends (start, DNS, reload).
  void syncBackendWatchers();
  // Closes `backend`'s idle pooled connections on every worker.
  void closeIdleEverywhere(const std::shared_ptr<upstream::Backend>& backend);

  RuntimePtr runtime_;
  const std::string configPath_;  // what reload() reads
  const uint32_t workerCount_;
  SharedState shared_;
  core::Dispatcher dispatcher_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<core::EventPtr> signalEvents_;
  std::unique_ptr<AccessLog> accessLog_;  // outlives the workers (they write to it)
  std::unique_ptr<admin::AdminServer> admin_;
  // Main loop: active health checks and DNS discovery (see health/). Both
  // read runtime_ when they run, so they follow a reload by themselves.
  std::unique_ptr<health::HealthChecker> healthChecker_;
  std::unique_ptr<health::Discovery> discovery_;
  core::Timer drainDelayTimer_;
  core::Timer drainPollTimer_;
  DrainMode drainMode_ = DrainMode::ExitWhenDone;
  int64_t drainDeadlineMs_ = 0;
  bool listenersClosed_ = false;
  bool exiting_ = false;
  int exitCode_ = 0;
  uint64_t reloadsSucceeded_ = 0;
  uint64_t reloadsFailed_ = 0;
};

}  // namespace sluice::process
