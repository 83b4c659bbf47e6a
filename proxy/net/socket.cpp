#include "net/socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {

core::Fd listenOn(const SocketAddress& address, bool reusePort, std::string* error) {
  core::Fd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    *error = std::string("socket: ") + std::strerror(errno);
    return {};
  }
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reusePort && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    *error = std::string("SO_REUSEPORT: ") + std::strerror(errno);
    return {};
  }
  if (address.family() == AF_INET6) {
    ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  }
  if (::bind(fd.get(), address.raw(), address.length()) != 0) {
    *error = "bind " + address.toString() + ": " + std::strerror(errno);
    return {};
  }
  if (::listen(fd.get(), kListenBacklog) != 0) {
    *error = "listen " + address.toString() + ": " + std::strerror(errno);
    return {};
  }
  return fd;
}

core::Fd startConnect(const SocketAddress& address, bool* inProgress, std::string* error,
                      int* errorNumber) {
  *inProgress = false;
  auto fail = [&] {
    *error = std::strerror(errno);
    if (errorNumber != nullptr) *errorNumber = errno;
    return core::Fd();
  };
  core::Fd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail();
  setNoDelay(fd.get());
  if (::connect(fd.get(), address.raw(), address.length()) == 0) return fd;
  if (errno == EINPROGRESS) {
    *inProgress = true;
    return fd;
  }
  return fail();
}

int socketError(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

void setNoDelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

SocketAddress localAddress(int fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len);
  return SocketAddress(reinterpret_cast<sockaddr*>(&storage), len);
}

}  // namespace sluice::net
