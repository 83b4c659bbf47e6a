#pragma once

// unique_ptr aliases that own libevent objects. Every libevent object in
// sluice lives in one of these; nothing calls a *_free by hand.

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <chrono>
#include <memory>

namespace sluice::core {

template <class T, void (*Free)(T*)>
struct LibeventDeleter {
  void operator()(T* p) const noexcept {
    if (p != nullptr) Free(p);
  }
};

using EventBasePtr = std::unique_ptr<event_base, LibeventDeleter<event_base, event_base_free>>;
using EventPtr = std::unique_ptr<event, LibeventDeleter<event, event_free>>;
using EvbufferPtr = std::unique_ptr<evbuffer, LibeventDeleter<evbuffer, evbuffer_free>>;
using BuffereventPtr = std::unique_ptr<bufferevent, LibeventDeleter<bufferevent, bufferevent_free>>;

// A millisecond delay as the timeval event_add() takes.
inline timeval toTimeval(std::chrono::milliseconds delay) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(delay.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((delay.count() % 1000) * 1000);
  return tv;
}

// Makes libevent thread-aware and ignores SIGPIPE. Call once before any base exists.
void initLibevent();

}  // namespace sluice::core
