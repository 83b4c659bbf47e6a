#include "upstream/connector.h"

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "net/socket.h"

namespace sluice::upstream {
namespace {

// Errors that say this host ran out of something (descriptors, local ports,
// socket buffers), not that the backend is sick.
ConnectFailure classify(int err) {
  switch (err) {
    case ECONNREFUSED:
      return ConnectFailure::Refused;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EADDRNOTAVAIL:
    case EADDRINUSE:
    case EAGAIN:  // connect(): no free local port
      return ConnectFailure::Local;
    default:
      return ConnectFailure::Error;
  }
}

}  // namespace

Connector::Connector(core::Dispatcher& dispatcher, const net::SocketAddress& address,
                     std::chrono::milliseconds timeout, Callback callback)
    : callback_(std::move(callback)), startedAt_(core::monotonicSeconds()) {
  bool inProgress = false;
  fd_ = net::startConnect(address, &inProgress, &immediateError_, &immediateErrno_);
  const timeval tv = core::toTimeval(timeout);
  if (fd_ && inProgress) {
    event_.reset(event_new(dispatcher.base(), fd_.get(), EV_WRITE, &Connector::onEvent, this));
    event_add(event_.get(), &tv);
  } else {
    // Connected (loopback can) or failed at once: report on the next turn.
    event_.reset(event_new(dispatcher.base(), -1, 0, &Connector::onEvent, this));
    timeval zero{};
    event_add(event_.get(), &zero);
  }
}

void Connector::onEvent(evutil_socket_t, short what, void* arg) noexcept {
  auto* self = static_cast<Connector*>(arg);
  ConnectResult result;
  result.seconds = core::monotonicSeconds() - self->startedAt_;
  if (!self->fd_) {
    result.error = self->immediateError_;
    result.failure = classify(self->immediateErrno_);
  } else if (what & EV_TIMEOUT && event_get_fd(self->event_.get()) >= 0) {
    result.error = "connect timeout";
    result.failure = ConnectFailure::Timeout;
  } else if (int err = net::socketError(self->fd_.get()); err != 0) {
    result.error = std::strerror(err);
    result.failure = classify(err);
  } else {
    result.fd = std::move(self->fd_);
  }
  self->finish(std::move(result));
}

void Connector::finish(ConnectResult result) {
  fd_.reset();
  // The callback may destroy this Connector: nothing may touch members after.
  auto callback = std::move(callback_);
  callback(std::move(result));
}

}  // namespace sluice::upstream
