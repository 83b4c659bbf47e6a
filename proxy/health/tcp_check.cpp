#include "health/tcp_check.h"

namespace sluice::health {

TcpCheck::TcpCheck(core::Dispatcher& dispatcher, const net::SocketAddress& address,
                   std::chrono::milliseconds timeout, Done done)
    : done_(std::move(done)) {
  connector_ = std::make_unique<upstream::Connector>(
      dispatcher, address, timeout, [this](upstream::ConnectResult result) {
        // The connection closes with `result`; a connect is all we wanted.
        auto done = std::move(done_);
        done(result.ok(), result.ok() ? std::string() : "connect: " + result.error);
      });
}

std::unique_ptr<Probe> startTcpCheck(core::Dispatcher& dispatcher,
                                     const net::SocketAddress& address,
                                     std::chrono::milliseconds timeout, Probe::Done done) {
  return std::make_unique<TcpCheck>(dispatcher, address, timeout, std::move(done));
}

}  // namespace sluice::health
