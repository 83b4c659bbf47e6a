#pragma once

// Dispatcher: one event loop and the thread that runs it.
//
// Owner: a Worker or the Server (declared first there, so destroyed last).
// Thread: everything here runs on the loop thread, except post(), which any
// thread may call to run a closure on the loop ("the only way across
// threads"), and exit(), which is post() of a loopbreak.
//
// deferredDelete() parks an object until the current loop turn has finished
// its callbacks, so a session can end itself from inside a libevent callback
// without freeing memory that callback's caller still uses.

#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/libevent.h"

namespace sluice::core {

class DeferredDeletable {
 public:
  virtual ~DeferredDeletable() = default;
};

class Dispatcher {
 public:
  Dispatcher();
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  event_base* base() const { return base_.get(); }

  // Runs the loop on the calling thread until exit().
  void run();
  // Thread-safe: makes run() return after the current turn.
  void exit();
  // Thread-safe: runs `fn` on the loop thread, in posting order.
  void post(std::function<void()> fn);
  void deferredDelete(std::unique_ptr<DeferredDeletable> object);

  // True on the thread running (or about to run) this loop.
  bool isLoopThread() const { return std::this_thread::get_id() == loopThread_; }

 private:
  static void onPosted(evutil_socket_t, short, void* arg) noexcept;
  static void onDeferred(evutil_socket_t, short, void* arg) noexcept;
  void runPosted();

  EventBasePtr base_;
  EventPtr postEvent_;
  EventPtr deferredEvent_;
  std::mutex postMutex_;
  std::vector<std::function<void()>> posted_;  // guarded by postMutex_
  std::vector<std::unique_ptr<DeferredDeletable>> toDelete_;
  std::thread::id loopThread_;
};

}  // namespace sluice::core
