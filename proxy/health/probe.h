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
#include "upstream/backend.h"

namespace sluice::health {

// Inconclusive: the probe could not even start (this process ran out of
// descriptors or local ports): it says nothing of the backend, whose
// rise/fall counts stay as they are.
enum class Verdict { Pass, Fail, Inconclusive };

class Probe : public core::DeferredDeletable {
 public:
  // `detail`: why it did not pass (for the log), or "".
  using Done = std::function<void(Verdict verdict, std::string detail)>;
};

// A failed connect's verdict: Inconclusive when the failure was local.
Verdict connectVerdict(upstream::ConnectFailure failure);

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
