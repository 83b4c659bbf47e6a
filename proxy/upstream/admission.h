#pragma once

// Admission: who may open an upstream connection to a cluster, and in what
// order the ones that must wait get to.
//
// Locking rules (read these before changing anything below):
//  * The fast path takes no lock. A session first checks `pending() == 0`
//    (nobody is queued ahead of it) and then tries Backend::tryAcquireSlot(),
//    a CAS on the backend's atomic connection count.
//  * The slow path is a FIFO of SlotWaiters under `mutex_`. The mutex guards
//    only `queue_`; it is held for a few pointer moves, never across a call
//    into a session or a libevent function other than Dispatcher::post()
//    (which takes its own short lock and never calls back). It also guards
//    `backends_`, which DNS discovery replaces at run time.
//  * A waiter's `state` moves Waiting -> Granted or Waiting -> Cancelled
//    exactly once, by CAS, so a slot is handed to a waiter at most once and a
//    cancelled waiter is never granted. `pending_` counts Waiting waiters.
//  * Lost wake-ups are impossible because both sides publish before they
//    look: release() returns the slot (seq_cst) and then reads `pending_`;
//    enqueue() raises `pending_` (seq_cst) and then tries to grant. Whichever
//    runs second sees the other's write and grants.
//  * A grant reaches the waiter's session on the waiter's own worker through
//    Dispatcher::post(). If the session is gone by then (it timed out or the
//    client left), the worker gives the slot back with release().
//
//   enqueue ──► Waiting ──grant (any thread)──► Granted ──post──► session
//                  │
//                  └──cancel (owner worker: timeout, client left)──► Cancelled

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "core/dispatcher.h"
#include "upstream/backend.h"

namespace sluice::upstream {

class Admission;
struct UpstreamConnection;

// Worker-thread side of a waiter: told which backend's slot it was handed,
// or handed a whole reusable connection (with its slot) by an http exchange
// that just finished with it.
class SlotGrantHandler {
 public:
  virtual ~SlotGrantHandler() = default;
  virtual void onSlotGranted(std::shared_ptr<Backend> backend) = 0;
  // By default the connection is closed and only its slot is used: a raw
  // tcp session needs a fresh connection.
  virtual void onConnectionGranted(std::unique_ptr<UpstreamConnection> connection);
};

class SlotWaiter {
 public:
  enum State { Waiting, Granted, Cancelled };
  SlotWaiter(core::Dispatcher& dispatcher, SlotGrantHandler* handler)
      : dispatcher_(dispatcher), handler_(handler) {}

  // Owner worker only: stop waiting. Returns false when a grant is already on
  // its way (the grant will then find no handler and return the slot).
  bool cancel();
  // Owner worker only: the session going away.
  void detach() { handler_ = nullptr; }

 private:
  friend class Admission;
  core::Dispatcher& dispatcher_;
  SlotGrantHandler* handler_;  // owner worker only; null once detached
  std::atomic<int> state_{Waiting};
  Admission* admission_ = nullptr;
};

class Admission : public std::enable_shared_from_this<Admission> {
 public:
  Admission(std::vector<std::shared_ptr<Backend>> backends, uint32_t maxPending);

  uint32_t pending() const { return pending_.load(std::memory_order_seq_cst); }
  uint32_t maxPending() const { return maxPending_.load(std::memory_order_relaxed); }
  // Reload: the cluster's new backends and queue bound. Waiters stay queued
  // in order; slots held on backends no longer listed just return.
  void reconfigure(std::vector<std::shared_ptr<Backend>> backends, uint32_t maxPending);

  // Queues a waiter; false when max_pending waiters are already queued.
  bool enqueue(const std::shared_ptr<SlotWaiter>& waiter);
  // Gives back a slot of `backend`; hands it to the first waiter, if any.
  void release(const std::shared_ptr<Backend>& backend);
  // Hands a reusable connection, slot included, to the first waiter, so a
  // queued request is served by the connection the last one freed (http).
  // False, leaving `connection` alone, when nobody waits for it.
  bool handOff(std::unique_ptr<UpstreamConnection>& connection);
  // Main thread (DNS discovery): grants go to these backends from now on.
  void setBackends(std::vector<std::shared_ptr<Backend>> backends);

 private:
  friend class SlotWaiter;
  void grantWhilePossible();
  void onCancelled();

  std::vector<std::shared_ptr<Backend>> backends_;  // guarded by mutex_
  std::atomic<uint32_t> maxPending_;
  std::atomic<uint32_t> pending_{0};
  std::mutex mutex_;
  std::deque<std::shared_ptr<SlotWaiter>> queue_;  // guarded by mutex_
};

// RAII ownership of one backend connection slot.
class SlotGuard {
 public:
  SlotGuard() = default;
  SlotGuard(std::shared_ptr<Admission> admission, std::shared_ptr<Backend> backend)
      : admission_(std::move(admission)), backend_(std::move(backend)) {}
  SlotGuard(SlotGuard&&) noexcept = default;
  SlotGuard& operator=(SlotGuard&& other) noexcept {
    if (this != &other) {
      reset();
      admission_ = std::move(other.admission_);
      backend_ = std::move(other.backend_);
    }
    return *this;
  }
  ~SlotGuard() { reset(); }

  void reset() {
    if (admission_ && backend_) admission_->release(backend_);
    admission_.reset();
    backend_.reset();
  }
  const std::shared_ptr<Backend>& backend() const { return backend_; }
  explicit operator bool() const { return backend_ != nullptr; }
  // Gives up the slot without returning it: the caller now owns it.
  std::shared_ptr<Backend> detach() {
    admission_.reset();
    return std::move(backend_);
  }

 private:
  std::shared_ptr<Admission> admission_;
  std::shared_ptr<Backend> backend_;
};

}  // namespace sluice::upstream
