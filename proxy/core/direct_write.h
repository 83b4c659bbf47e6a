#pragma once

// sendNow: moves `data` to `to`, writing straight to its socket when nothing
// is queued there, so the common case costs one write() and no epoll_ctl.
// Handing bytes to a bufferevent's output instead arms EV_WRITE, and the
// bufferevent disarms it again once the buffer drains: two epoll_ctl calls
// per message, which dominated sluice's CPU per request. What the socket
// does not take goes to the output buffer as usual (back-pressure and
// write callbacks unchanged). A write error is left for the bufferevent to
// find on its next attempt, so it reports it through the usual event path.

#include <event2/buffer.h>
#include <event2/bufferevent.h>

namespace sluice::core {

inline void sendNow(bufferevent* to, evbuffer* data) {
  evbuffer* output = bufferevent_get_output(to);
  if (evbuffer_get_length(output) == 0 && evbuffer_get_length(data) > 0) {
    evbuffer_write(data, bufferevent_getfd(to));
  }
  if (evbuffer_get_length(data) > 0) evbuffer_add_buffer(output, data);
}

}  // namespace sluice::core
