#pragma once

// Session: what a Worker keeps for each accepted downstream connection.
//
// Owner: the Worker's session table (unique_ptr). Thread: that worker. A
// session ends only through its finalize path, which tells the worker, and
// the worker parks it in deferredDelete() so no libevent callback up the
// stack touches freed memory.

#include <cstdint>

#include "core/dispatcher.h"
#include "net/address.h"
#include "process/downstream_slot.h"
#include "process/runtime.h"

namespace sluice::process {

// How a session ended. The code is the access log's short form (like
// HAProxy's termination flags), the label the metrics label.
enum class TerminationReason {
  Completed,         // both sides finished cleanly
  DownstreamReset,   // the client reset or errored
  UpstreamReset,     // the backend reset or errored
  IdleTimeout,       // no bytes either way for the idle timeout
  ConnectFailed,     // every connect attempt failed
  NoHealthyBackend,  // nothing to send it to
  QueueFull,         // max_pending sessions already queued
  QueueTimeout,      // waited past queue_timeout
  Shutdown,          // drain_timeout passed or a second signal
};
const char* code(TerminationReason);
const char* label(TerminationReason);

class Worker;

class Session : public core::DeferredDeletable {
 public:
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The worker hands over the connection's place in the global, listener
  // and per-IP tallies (taken at accept) before start(); the session holds
  // it until it is destroyed, whatever path ended it.
  void holdSlot(DownstreamSlot slot) { slot_ = std::move(slot); }
  // Called once, right after the worker registered the session.
  virtual void start() = 0;
  // The worker is shutting down: end now.
  virtual void abort() = 0;
  // The worker started draining: finish what is in flight, take nothing new.
  virtual void onDrain() {}

 protected:
  Session(Worker& worker, std::shared_ptr<ListenerRuntime> listener,
          const net::SocketAddress& client);

  Worker& worker_;
  const std::shared_ptr<ListenerRuntime> listener_;
  const net::SocketAddress client_;

 private:
  DownstreamSlot slot_;
  friend class SessionList;  // the worker's table links sessions through these
  Session* listPrev_ = nullptr;
  Session* listNext_ = nullptr;
};

}  // namespace sluice::process
