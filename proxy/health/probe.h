#pragma once

// Probe: one active health-check attempt against one backend address.
//
// Owner: the HealthChecker (unique_ptr, one per backend at most). Thread: the
// main loop. `done` runs exactly once, from the loop (never from the
// constructor); destroying a probe before that cancels it and `done` never
// runs. The owner hands a finished probe to Dispatcher::deferredDelete(),
// since `done` runs inside the probe's own libevent callback.

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "config/config.h"
#include "core/dispatcher.h"
#include "net/address.h"

namespace sluice::health {

class Probe : public core::DeferredDeletable {
 public:
  // `ok`: the backend passed; `detail`: why not (for the log), or "".
  using Done = std::function<void(bool ok, std::string detail)>;
};

// type: tcp — passes when connect() succeeds within `timeout`.
std::unique_ptr<Probe> startTcpCheck(core::Dispatcher& dispatcher,
                                     const net::SocketAddress& address,
                                     std::chrono::milliseconds timeout, Probe::Done done);

// type: http — `GET path HTTP/1.1` with Host and `Connection: close`; passes
// when the status line arrives within `timeout` (connect included) and its
// code is within [expectStatusMin, expectStatusMax].
std::unique_ptr<Probe> startHttpCheck(core::Dispatcher& dispatcher,
                                      const net::SocketAddress& address,
                                      const config::HealthCheck& check, Probe::Done done);

}  // namespace sluice::health
