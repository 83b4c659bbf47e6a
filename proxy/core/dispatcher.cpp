#include "core/dispatcher.h"

#include <stdexcept>

namespace sluice::core {

Dispatcher::Dispatcher() : loopThread_(std::this_thread::get_id()) {
  initLibevent();
  base_.reset(event_base_new());
  if (!base_) throw std::runtime_error("event_base_new failed");
  postEvent_.reset(event_new(base_.get(), -1, 0, &Dispatcher::onPosted, this));
  deferredEvent_.reset(event_new(base_.get(), -1, 0, &Dispatcher::onDeferred, this));
  if (!postEvent_ || !deferredEvent_) throw std::runtime_error("event_new failed");
}

Dispatcher::~Dispatcher() {
  // Objects parked for deletion may own events on this base: free them first.
  toDelete_.clear();
}

void Dispatcher::run() {
  loopThread_ = std::this_thread::get_id();
  event_base_loop(base_.get(), EVLOOP_NO_EXIT_ON_EMPTY);
  runPosted();  // closures posted during shutdown still run (they may own resources)
  toDelete_.clear();
}

void Dispatcher::exit() {
  post([this] { event_base_loopbreak(base_.get()); });
}

void Dispatcher::post(std::function<void()> fn) {
  bool wasEmpty;
  {
    std::lock_guard lock(postMutex_);
    wasEmpty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  if (wasEmpty) event_active(postEvent_.get(), 0, 0);
}

void Dispatcher::deferredDelete(std::unique_ptr<DeferredDeletable> object) {
  if (toDelete_.empty()) event_active(deferredEvent_.get(), 0, 0);
  toDelete_.push_back(std::move(object));
}

void Dispatcher::onPosted(evutil_socket_t, short, void* arg) noexcept {
  static_cast<Dispatcher*>(arg)->runPosted();
}

void Dispatcher::runPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(postMutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch)
    fn();
}

void Dispatcher::onDeferred(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<Dispatcher*>(arg);
  // Deleting may defer more deletions; loop until the list stays empty.
  while (!self->toDelete_.empty()) {
    auto batch = std::move(self->toDelete_);
    self->toDelete_.clear();
    batch.clear();
  }
}

}  // namespace sluice::core
