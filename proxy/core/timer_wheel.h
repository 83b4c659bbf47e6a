#pragma once

// TimerWheel: the deadlines of one worker's sessions (idle, request header,
// request, queue, linger, connect retry) in a hashed timing wheel that one
// libevent timer drives.
//
// Why not a core::Timer per session: that is a 128-byte struct event on the
// heap plus a std::function, held for the session's whole life, and most
// sessions are idle keep-alive clients. A WheelTimer is 48 bytes inside its
// owner and allocates nothing; arming, re-arming and disarming are a few
// pointer writes, where a libevent timer is a heap operation.
//
// Resolution: tickMs (10 ms). A timer fires on the first tick at or after
// its deadline, so up to a tick late (plus loop latency), never early. The
// wheel has `slots` slots (1024: a lap of 10.24 s); a deadline further out
// waits in its slot and is passed over on the laps before its own.
//
// The driving event is armed only while timers are, and for the next slot
// that holds one (a bitmap finds it): an idle worker does not wake up every
// tick, only when something may be due.
//
// Owner: the Worker, one per loop; it outlives every WheelTimer on it.
// Thread: that loop's.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/dispatcher.h"
#include "core/embedded_event.h"
#include "core/libevent.h"

namespace sluice::core {

class TimerWheel;

// The links a slot's circular list is made of (a slot's head is one too).
struct WheelLink {
  WheelLink* prev = nullptr;
  WheelLink* next = nullptr;
};

class WheelTimer : private WheelLink {
 public:
  // A plain function and its argument (usually the owner's `this`), so a
  // timer costs no std::function.
  using Callback = void (*)(void* owner);
  WheelTimer(TimerWheel& wheel, Callback callback, void* owner)
      : wheel_(wheel), callback_(callback), owner_(owner) {}
  WheelTimer(const WheelTimer&) = delete;
  WheelTimer& operator=(const WheelTimer&) = delete;
  ~WheelTimer() { disable(); }

  // Arms (or moves) the timer to fire `delay` from now.
  void enable(std::chrono::milliseconds delay);
  // Arms (or moves) it to fire at a core::monotonicMs() time.
  void enableAt(int64_t dueMs);
  void disable();
  bool enabled() const { return next != nullptr; }
  int64_t dueMs() const { return dueMs_; }

 private:
  friend class TimerWheel;
  TimerWheel& wheel_;
  Callback callback_;
  void* owner_;
  int64_t dueMs_ = 0;
};

class TimerWheel {
 public:
  static constexpr int64_t kTickMs = 10;
  static constexpr size_t kSlots = 1024;

  explicit TimerWheel(Dispatcher& dispatcher, int64_t tickMs = kTickMs, size_t slots = kSlots);
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;
  ~TimerWheel();

  size_t armed() const { return armed_; }

 private:
  friend class WheelTimer;
  void insert(WheelTimer& timer);
  void unlink(WheelTimer& timer);
  void onTick();
  void fireDue(WheelLink& slot, int64_t nowMs);
  void scheduleFrom(int64_t nowMs);
  void armFor(int64_t tick, int64_t nowMs);
  size_t slotOf(int64_t tick) const {
    return static_cast<size_t>(tick % static_cast<int64_t>(slots_));
  }
  bool slotEmpty(size_t slot) const { return heads_[slot].next == &heads_[slot]; }
  void markSlot(size_t slot) { bits_[slot / 64] |= uint64_t{1} << (slot % 64); }
  void clearSlot(size_t slot) { bits_[slot / 64] &= ~(uint64_t{1} << (slot % 64)); }
  static void onEvent(evutil_socket_t, short, void* arg) noexcept;

  const int64_t tickMs_;
  const size_t slots_;
  std::vector<WheelLink> heads_;  // one circular list per slot
  std::vector<uint64_t> bits_;    // a set bit: the slot may hold timers
  int64_t processedTick_;         // every tick up to this one has fired
  int64_t armedTick_ = -1;        // the tick the event is set for; -1: not set
  size_t armed_ = 0;
  EmbeddedEvent event_;
};

}  // namespace sluice::core
