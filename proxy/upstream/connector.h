#pragma once

// Connector: one non-blocking connect() bounded by a timeout.
//
// Owner: whoever waits for the connection (a session, or a pool filling its
// pre-warmed idle list). Thread: the dispatcher's. Destroying a Connector
// cancels the attempt; its callback then never runs. The callback always runs
// from the event loop, never from inside the constructor.

#include <chrono>
#include <functional>
#include <string>

#include "core/dispatcher.h"
#include "core/fd.h"
#include "core/libevent.h"
#include "net/address.h"
#include "upstream/backend.h"

namespace sluice::upstream {

struct ConnectResult {
  core::Fd fd;  // valid on success
  ConnectFailure failure = ConnectFailure::Error;
  std::string error;   // empty on success
  double seconds = 0;  // how long it took
  bool ok() const { return fd.valid(); }
};

class Connector {
 public:
  using Callback = std::function<void(ConnectResult)>;
  Connector(core::Dispatcher& dispatcher, const net::SocketAddress& address,
            std::chrono::milliseconds timeout, Callback callback);
  Connector(const Connector&) = delete;
  Connector& operator=(const Connector&) = delete;

 private:
  static void onEvent(evutil_socket_t, short what, void* arg) noexcept;
  void finish(ConnectResult result);

  Callback callback_;
  core::Fd fd_;
  core::EventPtr event_;
  std::string immediateError_;  // connect() failed at once; reported from the loop
  int immediateErrno_ = 0;
  double startedAt_;
};

}  // namespace sluice::upstream
