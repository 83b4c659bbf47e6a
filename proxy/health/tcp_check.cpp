#include "health/tcp_check.h"

namespace sluice::health {

TcpCheck::TcpCheck(core::Dispatcher& dispatcher, const net::SocketAddress& address,
                   std::chrono::milliseconds timeout, Done done)
    : done_(std::move(done)) {
  connector_ = std::make_unique<upstream::Connector>(
      dispatcher, address, timeout, [this](upstream::ConnectResult result) {
        // The connection closes with `result`; a connect is all we wanted.
        auto done = std::move(done_);
        if (result.ok()) {
          done(Verdict::Pass, "");
        } else {
          done(connectVerdict(result.failure), "connect: " + result.error);
        }
      });
}

Verdict connectVerdict(upstream::ConnectFailure failure) {
  return failure == upstream::ConnectFailure::Local ? Verdict::Inconclusive : Verdict::Fail;
}

std::unique_ptr<Probe> startTcpCheck(core::Dispatcher& dispatcher,
                                     const net::SocketAddress& address,
                                     std::chrono::milliseconds timeout, Probe::Done done) {
  return std::make_unique<TcpCheck>(dispatcher, address, timeout, std::move(done));
}

}  // namespace sluice::health
