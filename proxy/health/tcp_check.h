#pragma once

// TcpCheck: the `type: tcp` probe — a connect within the timeout, then close.
// Owner/thread/lifetime: see probe.h.

#include <memory>

#include "health/probe.h"
#include "upstream/connector.h"

namespace sluice::health {

class TcpCheck : public Probe {
 public:
  TcpCheck(core::Dispatcher& dispatcher, const net::SocketAddress& address,
           std::chrono::milliseconds timeout, Done done);

 private:
  Done done_;
  std::unique_ptr<upstream::Connector> connector_;
};

}  // namespace sluice::health
