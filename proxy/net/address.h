#pragma once

// SocketAddress: an IPv4 or IPv6 socket address with value semantics.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::net {

class SocketAddress {
 public:
  SocketAddress() = default;
  SocketAddress(const sockaddr* addr, socklen_t len);

  // An IP literal and a port; nullopt when `ip` is not an IPv4/IPv6 literal.
  static std::optional<SocketAddress> fromIp(const std::string& ip, uint16_t port);
  // Resolves a HostPort (literal or name) with the system resolver; blocking.
  static std::vector<SocketAddress> resolve(const config::HostPort& hostPort, std::string* error);

  const ::sockaddr* raw() const { return reinterpret_cast<const ::sockaddr*>(&storage_); }
  socklen_t length() const { return length_; }
  int family() const { return storage_.any.sa_family; }
  uint16_t port() const;
  std::string ip() const;        // "127.0.0.1", "::1"
  std::string toString() const;  // "127.0.0.1:80", "[::1]:80"
  // A hash of the IP alone (for per-IP limits and client-IP balancing).
  uint64_t ipHash() const;
  bool sameIp(const SocketAddress& other) const;
  // True when the IP is inside `network`; an IPv4-mapped IPv6 address
  // (::ffff:10.0.0.1, a v4 client of a [::] listener) matches IPv4 networks.
  bool inNetwork(const config::IpPrefix& network) const;

 private:
  // Only the two families sluice speaks: 28 bytes, where sockaddr_storage
  // would take 128 in every session (most of them idle keep-alive clients).
  union Storage {
    ::sockaddr any;
    ::sockaddr_in v4;
    ::sockaddr_in6 v6;
  };
  Storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace sluice::net
