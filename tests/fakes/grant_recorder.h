#pragma once

// A SlotGrantHandler that records the grants it receives. Its methods run on
// the waiter's worker thread; the counters are atomics so a test thread may
// poll them.

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "upstream/admission.h"

namespace sluice::testing {

class GrantRecorder : public upstream::SlotGrantHandler {
 public:
  // Runs on every grant, after it is recorded (e.g. to give the slot back).
  std::function<void(std::shared_ptr<upstream::Backend>)> onGrant;

  void onSlotGranted(std::shared_ptr<upstream::Backend> backend) override {
    thread_ = std::this_thread::get_id();
    last_ = backend;
    grants_.fetch_add(1);
    if (onGrant) onGrant(std::move(backend));
  }

  int grants() const { return grants_.load(); }
  // Only valid once grants() > 0 was observed.
  const std::shared_ptr<upstream::Backend>& lastBackend() const { return last_; }
  std::thread::id thread() const { return thread_; }

 private:
  std::atomic<int> grants_{0};
  std::shared_ptr<upstream::Backend> last_;
  std::thread::id thread_;
};

}  // namespace sluice::testing
