#include "upstream/admission.h"

#include "core/clock.h"
#include "upstream/upstream_connection.h"

namespace sluice::upstream {

void SlotGrantHandler::onConnectionGranted(std::unique_ptr<UpstreamConnection> connection) {
  std::shared_ptr<Backend> backend = connection->slot.detach();
  connection.reset();  // closes the socket; the slot stays ours
  onSlotGranted(std::move(backend));
}

bool Admission::handOff(std::unique_ptr<UpstreamConnection>& connection) {
  if (pending_.load(std::memory_order_seq_cst) == 0) return false;
  if (!connection->slot.backend()->available(core::monotonicMs())) return false;
  std::shared_ptr<SlotWaiter> waiter;
  {
    std::lock_guard lock(mutex_);
    while (!queue_.empty() && !waiter) {
      auto head = std::move(queue_.front());
      queue_.pop_front();
      int expected = SlotWaiter::Waiting;
      if (head->state_.compare_exchange_strong(expected, SlotWaiter::Granted)) {
        pending_.fetch_sub(1, std::memory_order_seq_cst);
        waiter = std::move(head);
      }
    }
  }
  if (!waiter) return false;
  // std::function needs a copyable closure: box the connection.
  auto box = std::make_shared<std::unique_ptr<UpstreamConnection>>(std::move(connection));
  waiter->dispatcher_.post([waiter, box] {
    if (waiter->handler_ != nullptr) {
      waiter->handler_->onConnectionGranted(std::move(*box));
    } else {
      box->reset();  // closing it returns the slot to the next waiter
    }
  });
  return true;
}

bool SlotWaiter::cancel() {
  int expected = Waiting;
  if (!state_.compare_exchange_strong(expected, Cancelled)) return false;
  if (admission_ != nullptr) admission_->onCancelled();
  return true;
}

Admission::Admission(std::vector<std::shared_ptr<Backend>> backends, uint32_t maxPending)
    : backends_(std::move(backends)), maxPending_(maxPending) {}

void Admission::reconfigure(std::vector<std::shared_ptr<Backend>> backends, uint32_t maxPending) {
  {
    std::lock_guard lock(mutex_);
    backends_ = std::move(backends);
    maxPending_.store(maxPending, std::memory_order_relaxed);
  }
  // A raised cap may let queued waiters in now.
  grantWhilePossible();
}

bool Admission::enqueue(const std::shared_ptr<SlotWaiter>& waiter) {
  {
    std::lock_guard lock(mutex_);
    if (pending_.load(std::memory_order_seq_cst) >= maxPending_.load()) return false;
    waiter->admission_ = this;
    queue_.push_back(waiter);
    pending_.fetch_add(1, std::memory_order_seq_cst);
  }
  // A slot may have been returned between the caller's failed attempt and
  // the push above; its releaser may not have seen us yet.
  grantWhilePossible();
  return true;
}

void Admission::release(const std::shared_ptr<Backend>& backend) {
  backend->returnSlot();
  if (pending_.load(std::memory_order_seq_cst) == 0) return;
  grantWhilePossible();
}

void Admission::setBackends(std::vector<std::shared_ptr<Backend>> backends) {
  {
    std::lock_guard lock(mutex_);
    backends_.swap(backends);
  }
  // A new backend has free slots: hand them to whoever waits.
  if (pending_.load(std::memory_order_seq_cst) > 0) grantWhilePossible();
}  // the old list is released here, outside the lock

void Admission::onCancelled() {
  pending_.fetch_sub(1, std::memory_order_seq_cst);
  // Cancelled waiters stay in the deque until they reach its head; bound
  // the garbage when many cancel in the middle (clients giving up en masse).
  std::lock_guard lock(mutex_);
  if (queue_.size() > 2 * static_cast<size_t>(pending_.load()) + 64) {
    std::erase_if(queue_, [](const auto& w) { return w->state_.load() != SlotWaiter::Waiting; });
  }
}

void Admission::grantWhilePossible() {
  std::vector<std::pair<std::shared_ptr<SlotWaiter>, std::shared_ptr<Backend>>> grants;
  {
    std::lock_guard lock(mutex_);
    const int64_t now = core::monotonicMs();
    while (!queue_.empty()) {
      auto& head = queue_.front();
      if (head->state_.load() != SlotWaiter::Waiting) {
        queue_.pop_front();
        continue;
      }
      std::shared_ptr<Backend> slotOn;
      for (const auto& backend : backends_) {
        if (backend->available(now) && backend->tryAcquireSlot()) {
          slotOn = backend;
          break;
        }
      }
      if (!slotOn) break;
      int expected = SlotWaiter::Waiting;
      if (head->state_.compare_exchange_strong(expected, SlotWaiter::Granted)) {
        pending_.fetch_sub(1, std::memory_order_seq_cst);
        grants.emplace_back(head, std::move(slotOn));
      } else {
        slotOn->returnSlot();  // cancelled under our feet; try the next one
      }
      queue_.pop_front();
    }
  }
  // Posting outside the lock keeps the lock order trivial.
  for (auto& grant : grants) {
    // Named copies: clang 14 (which clang-tidy uses) cannot capture
    // structured bindings in a lambda.
    auto waiter = grant.first;
    auto backend = grant.second;
    waiter->dispatcher_.post([waiter, backend, self = shared_from_this()]() mutable {
      if (waiter->handler_ != nullptr) {
        waiter->handler_->onSlotGranted(std::move(backend));
      } else {
        self->release(backend);
      }
    });
  }
}

}  // namespace sluice::upstream
