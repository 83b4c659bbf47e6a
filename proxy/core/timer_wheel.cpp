#include "core/timer_wheel.h"

#include <algorithm>
#include <bit>

#include "core/clock.h"

namespace sluice::core {
namespace {

// Puts `link` at the tail of the circular list headed by `head`.
void append(WheelLink& head, WheelLink& link) {
  link.prev = head.prev;
  link.next = &head;
  head.prev->next = &link;
  head.prev = &link;
}

void detach(WheelLink& link) {
  link.prev->next = link.next;
  link.next->prev = link.prev;
  link.prev = link.next = nullptr;
}

}  // namespace

void WheelTimer::enable(std::chrono::milliseconds delay) {
  enableAt(monotonicMs() + std::max<int64_t>(delay.count(), 0));
}

void WheelTimer::enableAt(int64_t dueMs) {
  if (enabled()) wheel_.unlink(*this);
  dueMs_ = dueMs;
  wheel_.insert(*this);
}

void WheelTimer::disable() {
  if (enabled()) wheel_.unlink(*this);
}

TimerWheel::TimerWheel(Dispatcher& dispatcher, int64_t tickMs, size_t slots)
    : tickMs_(std::max<int64_t>(tickMs, 1)),
      slots_(std::max<size_t>(slots, 1)),
      heads_(slots_),
      bits_((slots_ + 63) / 64, 0),
      processedTick_(monotonicMs() / tickMs_) {
  for (auto& head : heads_)
    head.prev = head.next = &head;
  event_.assign(dispatcher.base(), -1, 0, &TimerWheel::onEvent, this);
}

TimerWheel::~TimerWheel() {
  // The owner ends its timers first; any left are only cut loose.
  for (auto& head : heads_) {
    while (head.next != &head)
      detach(*head.next);
  }
}

void TimerWheel::insert(WheelTimer& timer) {
  // The first tick at or after the deadline, and never one already done.
  const int64_t tick = std::max((timer.dueMs_ + tickMs_ - 1) / tickMs_, processedTick_ + 1);
  const size_t slot = slotOf(tick);
  append(heads_[slot], timer);
  markSlot(slot);
  ++armed_;
  if (armedTick_ < 0 || tick < armedTick_) armFor(tick, monotonicMs());
}

// The slot's bit stays set: the next scan clears it if the slot is empty.
void TimerWheel::unlink(WheelTimer& timer) {
  detach(timer);
  --armed_;
}

void TimerWheel::onEvent(evutil_socket_t, short, void* arg) noexcept {
  static_cast<TimerWheel*>(arg)->onTick();
}

void TimerWheel::onTick() {
  armedTick_ = -1;
  const int64_t nowMs = monotonicMs();
  const int64_t nowTick = nowMs / tickMs_;
  // Every slot from the last processed tick to now (one lap at most).
  const int64_t from = std::max(processedTick_ + 1, nowTick - static_cast<int64_t>(slots_) + 1);
  processedTick_ = std::max(processedTick_, nowTick);
  for (int64_t tick = from; tick <= nowTick; ++tick) {
    fireDue(heads_[slotOf(tick)], nowMs);
  }
  scheduleFrom(monotonicMs());
}

// Fires the slot's due timers; the others (later laps) stay. The slot is
// first moved to a list of its own: a callback may arm, move or disarm any
// timer, this slot's included, and each still sits in a valid list.
void TimerWheel::fireDue(WheelLink& slot, int64_t nowMs) {
  if (slot.next == &slot) return;
  WheelLink pending;
  pending.next = slot.next;
  pending.prev = slot.prev;
  pending.next->prev = &pending;
  pending.prev->next = &pending;
  slot.prev = slot.next = &slot;
  while (pending.next != &pending) {
    auto& timer = static_cast<WheelTimer&>(*pending.next);
    detach(timer);
    if (timer.dueMs_ > nowMs) {
      append(slot, timer);  // a later lap
      continue;
    }
    --armed_;
    timer.callback_(timer.owner_);
  }
}

// Sets the event for the next slot that holds a timer, if any.
void TimerWheel::scheduleFrom(int64_t nowMs) {
  if (armed_ == 0) return;
  for (size_t distance = 1; distance <= slots_;) {
    const int64_t tick = processedTick_ + static_cast<int64_t>(distance);
    const size_t slot = slotOf(tick);
    // Jump to the next set bit within this 64-slot word, if there is one;
    // else to the next word (or to slot 0, where the wheel wraps).
    const uint64_t word = bits_[slot / 64] >> (slot % 64);
    if (word == 0) {
      distance += std::min<size_t>(64 - slot % 64, slots_ - slot);
      continue;
    }
    const auto skip = static_cast<size_t>(std::countr_zero(word));
    if (skip > 0) {
      distance += skip;
      continue;
    }
    if (slotEmpty(slot)) {
      clearSlot(slot);
      ++distance;
      continue;
    }
    armFor(tick, nowMs);
    return;
  }
}

void TimerWheel::armFor(int64_t tick, int64_t nowMs) {
  armedTick_ = tick;
  const timeval tv =
      toTimeval(std::chrono::milliseconds(std::max<int64_t>(tick * tickMs_ - nowMs, 0)));
  event_add(event_.get(), &tv);
}

}  // namespace sluice::core
