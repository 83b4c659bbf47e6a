#pragma once

// Thin, error-returning wrappers over the socket calls sluice makes.

#include <string>

#include "core/fd.h"
#include "net/address.h"
#include "net/listen_backlog.h"

namespace sluice::net {

// A non-blocking listening socket with SO_REUSEADDR and, when `reusePort`,
// SO_REUSEPORT (one socket per worker; the kernel spreads connections).
core::Fd listenOn(const SocketAddress& address, bool reusePort, std::string* error);

// Starts a non-blocking connect. `*inProgress` tells whether to wait for
// writability; an invalid Fd means it failed at once (`*error` says why,
// `*errorNumber`, when given, holds the errno).
core::Fd startConnect(const SocketAddress& address, bool* inProgress, std::string* error,
                      int* errorNumber = nullptr);

// The pending error of a socket (SO_ERROR), 0 when none.
int socketError(int fd);

void setNoDelay(int fd);

// The address bound to a socket (e.g. to read back port 0).
SocketAddress localAddress(int fd);

}  // namespace sluice::net
