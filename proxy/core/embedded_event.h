#pragma once

// EmbeddedEvent: a libevent event stored inside its owner instead of
// allocated by event_new(). For objects there are many of (one socket per
// connection) it saves a heap block per event (a malloc header and the
// pointer to it, about 24 bytes) and an allocation per connection. It needs
// the struct's layout (event2/event_struct.h), which ties the build to the
// libevent headers it compiles against: the Debian package, as everywhere.
//
// Owner: the object it is a member of; the callback argument is usually that
// object, so the owner must not move (StreamSocket is neither copyable nor
// movable). Thread: the base's loop thread.

#include <event2/event.h>
#include <event2/event_struct.h>

namespace sluice::core {

class EmbeddedEvent {
 public:
  EmbeddedEvent() = default;
  EmbeddedEvent(const EmbeddedEvent&) = delete;
  EmbeddedEvent& operator=(const EmbeddedEvent&) = delete;
  ~EmbeddedEvent() { reset(); }

  void assign(event_base* base, evutil_socket_t fd, short what, event_callback_fn callback,
              void* arg) {
    reset();
    event_assign(&event_, base, fd, what, callback, arg);
    assigned_ = true;
  }
  // Removes it from the loop; assign() again before the next use.
  void reset() {
    if (assigned_) event_del(&event_);
    assigned_ = false;
  }
  event* get() { return &event_; }

 private:
  event event_{};
  bool assigned_ = false;
};

}  // namespace sluice::core
