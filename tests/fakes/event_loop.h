#pragma once

// Test helpers that drive a Dispatcher's loop on the calling thread with a
// deadline, so a test waits for an event instead of sleeping and hoping.

#include <chrono>
#include <functional>

#include "core/dispatcher.h"
#include "core/libevent.h"

namespace sluice::testing {

// Runs the loop until `done()` holds or `deadline` passes; returns done().
// A 5 ms tick bounds every wait, so a condition another thread changes (an
// atomic) is noticed even when no event of this loop fires.
inline bool runUntil(core::Dispatcher& dispatcher, const std::function<bool()>& done,
                     std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  core::EventPtr tick(event_new(
      dispatcher.base(), -1, EV_PERSIST, [](evutil_socket_t, short, void*) {}, nullptr));
  timeval period{0, 5000};
  event_add(tick.get(), &period);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    event_base_loop(dispatcher.base(), EVLOOP_ONCE);
  }
  return true;
}

// Runs the loop for `duration` (for asserting that something did NOT happen
// within a bounded window).
inline void runFor(core::Dispatcher& dispatcher, std::chrono::milliseconds duration) {
  runUntil(
      dispatcher, [] { return false; }, duration);
}

}  // namespace sluice::testing
