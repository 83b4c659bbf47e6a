#include "net/address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

#include "config/ip_prefix.h"

namespace sluice::net {

SocketAddress::SocketAddress(const ::sockaddr* addr, socklen_t len) {
  length_ = std::min<socklen_t>(len, sizeof storage_);
  std::memcpy(&storage_, addr, length_);
}

std::optional<SocketAddress> SocketAddress::fromIp(const std::string& ip, uint16_t port) {
  sockaddr_in v4{};
  if (inet_pton(AF_INET, ip.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return SocketAddress(reinterpret_cast<const ::sockaddr*>(&v4), sizeof v4);
  }
  sockaddr_in6 v6{};
  if (inet_pton(AF_INET6, ip.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    return SocketAddress(reinterpret_cast<const ::sockaddr*>(&v6), sizeof v6);
  }
  return std::nullopt;
}

std::vector<SocketAddress> SocketAddress::resolve(const config::HostPort& hostPort,
                                                  std::string* error) {
  if (auto literal = fromIp(hostPort.host, hostPort.port)) return {*literal};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = getaddrinfo(hostPort.host.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    if (error != nullptr) *error = gai_strerror(rc);
    return {};
  }
  std::vector<SocketAddress> out;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    SocketAddress address(ai->ai_addr, ai->ai_addrlen);
    if (address.family() == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&address.storage_)->sin_port = htons(hostPort.port);
    } else if (address.family() == AF_INET6) {
      reinterpret_cast<sockaddr_in6*>(&address.storage_)->sin6_port = htons(hostPort.port);
    } else {
      continue;
    }
    bool duplicate = false;
    for (const auto& seen : out)
      duplicate = duplicate || seen.toString() == address.toString();
    if (!duplicate) out.push_back(address);
  }
  freeaddrinfo(found);
  return out;
}

uint16_t SocketAddress::port() const {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return 0;
}

// IPv4 by hand: glibc's inet_ntop formats it with sprintf, and an http
// session asks once per request (X-Forwarded-For).
std::string SocketAddress::ip() const {
  if (family() == AF_INET) {
    const auto* octets = reinterpret_cast<const unsigned char*>(&storage_.v4.sin_addr);
    std::string text;
    text.reserve(15);
    for (int i = 0; i < 4; ++i) {
      if (i > 0) text.push_back('.');
      const unsigned value = octets[i];
      if (value >= 100) text.push_back(static_cast<char>('0' + value / 100));
      if (value >= 10) text.push_back(static_cast<char>('0' + value / 10 % 10));
      text.push_back(static_cast<char>('0' + value % 10));
    }
    return text;
  }
  char text[INET6_ADDRSTRLEN] = "";
  if (family() == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, text,
              sizeof text);
  }
  return text;
}

std::string SocketAddress::toString() const {
  if (family() == AF_INET6) return "[" + ip() + "]:" + std::to_string(port());
  if (family() == AF_INET) return ip() + ":" + std::to_string(port());
  return "unknown";
}

uint64_t SocketAddress::ipHash() const {
  // FNV-1a over the address bytes: stable across runs, so hash_client_ip
  // sends a client to the same backend after a restart.
  const unsigned char* bytes = nullptr;
  size_t size = 0;
  if (family() == AF_INET) {
    bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr);
    size = 4;
  } else if (family() == AF_INET6) {
    bytes = reinterpret_cast<const unsigned char*>(
        &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr);
    size = 16;
  }
  uint64_t hash = 1469598103934665603ULL;
  for (size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ULL;
  }
  return hash;
}

bool SocketAddress::inNetwork(const config::IpPrefix& network) const {
  if (family() == AF_INET) {
    return !network.v6 && config::prefixContains(network, reinterpret_cast<const uint8_t*>(
                                                              &storage_.v4.sin_addr.s_addr));
  }
  if (family() != AF_INET6) return false;
  const auto* bytes = reinterpret_cast<const uint8_t*>(storage_.v6.sin6_addr.s6_addr);
  if (network.v6) return config::prefixContains(network, bytes);
  return IN6_IS_ADDR_V4MAPPED(&storage_.v6.sin6_addr) &&
         config::prefixContains(network, bytes + 12);
}

bool SocketAddress::sameIp(const SocketAddress& other) const {
  return family() == other.family() && ip() == other.ip();
}

}  // namespace sluice::net
