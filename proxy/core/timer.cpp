#include "core/timer.h"

#include <stdexcept>

namespace sluice::core {

Timer::Timer(Dispatcher& dispatcher, std::function<void()> onFire)
    : onFire_(std::move(onFire)),
      event_(event_new(dispatcher.base(), -1, 0, &Timer::onEvent, this)) {
  if (!event_) throw std::runtime_error("event_new failed");
}

void Timer::enable(std::chrono::milliseconds delay) {
  const timeval tv = toTimeval(delay);
  event_add(event_.get(), &tv);
}

void Timer::disable() {
  event_del(event_.get());
}

bool Timer::enabled() const {
  return event_pending(event_.get(), EV_TIMEOUT, nullptr) != 0;
}

void Timer::onEvent(evutil_socket_t, short, void* arg) noexcept {
  static_cast<Timer*>(arg)->onFire_();
}

}  // namespace sluice::core
