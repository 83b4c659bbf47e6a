#pragma once

#include <cstdint>

#include <memory>

#include "core/fd.h"
#include "core/stream_socket.h"
#include "upstream/admission.h"

namespace sluice::upstream {

// An open upstream connection and the slot it occupies. The socket is in
// exactly one of two forms:
//   * `fd`: no libevent object, so it can move between pools, sessions and
//     even workers (Admission::handOff). New connections start like this.
//   * `socket`: an http connection that served a request on this worker
//     keeps its StreamSocket, and so its registered read event, between
//     leases: the pool and the next session only swap themselves in as its
//     handler, and a lease costs no epoll_ctl. Such a connection never
//     leaves its worker (the session turns it back into `fd` before a
//     hand-off, which may cross workers).
struct UpstreamConnection {
  // Declared first so it is destroyed last: the socket is closed before the
  // slot is freed, or a waiter on another worker could connect while this
  // connection is still open and the backend would briefly see cap + 1.
  SlotGuard slot;
  core::Fd fd;                                 // empty while `socket` holds it
  std::unique_ptr<core::StreamSocket> socket;  // bound to one worker's loop
  int64_t createdMs = 0;
  uint64_t requests = 0;  // http: requests served on it so far

  // Turns it into the bare-fd form, the one that may leave this worker.
  void releaseSocket() {
    if (!socket) return;
    fd = socket->releaseFd();
    socket.reset();
  }
};

}  // namespace sluice::upstream
