#pragma once

// A one-shot timer on a Dispatcher's loop. A destroyed or disabled Timer
// never fires; a zero delay means "on the next loop turn".
// Owner: whoever holds it; thread: the dispatcher's loop thread only.

#include <chrono>
#include <functional>

#include "core/dispatcher.h"

namespace sluice::core {

class Timer {
 public:
  Timer(Dispatcher& dispatcher, std::function<void()> onFire);
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  void enable(std::chrono::milliseconds delay);
  void disable();
  bool enabled() const;

 private:
  static void onEvent(evutil_socket_t, short, void* arg) noexcept;

  std::function<void()> onFire_;
  EventPtr event_;
};

}  // namespace sluice::core
