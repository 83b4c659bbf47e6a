#pragma once

// Real loopback sockets for tests: a listening socket on an ephemeral port,
// a port with nobody listening, and small blocking helpers for the test's
// side of a connection.

#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "core/fd.h"
#include "net/address.h"
#include "net/socket.h"

namespace sluice::testing {

inline net::SocketAddress loopback(uint16_t port) {
  return *net::SocketAddress::fromIp("127.0.0.1", port);
}

// A non-blocking listening socket on 127.0.0.1, port chosen by the kernel.
struct LoopbackListener {
  core::Fd fd;
  net::SocketAddress address;

  LoopbackListener() {
    std::string error;
    fd = net::listenOn(loopback(0), false, &error);
    if (fd) address = net::localAddress(fd.get());
  }

  // Accepts every connection already waiting in the backlog.
  std::vector<core::Fd> acceptAll() {
    std::vector<core::Fd> out;
    for (;;) {
      core::Fd accepted(::accept4(fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!accepted) return out;
      out.push_back(std::move(accepted));
    }
  }
};

// A loopback address nobody listens on (bound, then closed again).
inline net::SocketAddress closedPort() {
  LoopbackListener gone;
  return gone.address;
}

// Waits up to `timeoutMs` for `fd` to report any of `events`.
inline bool waitFor(int fd, short events, int timeoutMs = 2000) {
  pollfd p{fd, events, 0};
  return ::poll(&p, 1, timeoutMs) == 1;
}

// A connected client socket (non-blocking), or an invalid Fd.
inline core::Fd connectTo(const net::SocketAddress& address) {
  bool inProgress = false;
  std::string error;
  core::Fd fd = net::startConnect(address, &inProgress, &error);
  if (!fd) return fd;
  if (inProgress && (!waitFor(fd.get(), POLLOUT) || net::socketError(fd.get()) != 0)) return {};
  return fd;
}

}  // namespace sluice::testing
