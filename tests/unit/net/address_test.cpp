#include "net/address.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "config/ip_prefix.h"

namespace sluice::net {
namespace {

TEST_CASE("SocketAddress fromIp parses an IPv4 literal", "[net][address]") {
  auto address = SocketAddress::fromIp("192.0.2.10", 8080);
  REQUIRE(address);
  CHECK(address->family() == AF_INET);
  CHECK(address->port() == 8080);
  CHECK(address->ip() == "192.0.2.10");
  CHECK(address->toString() == "192.0.2.10:8080");
  CHECK(address->length() == sizeof(sockaddr_in));
  const auto* raw = reinterpret_cast<const sockaddr_in*>(address->raw());
  CHECK(ntohs(raw->sin_port) == 8080);
}

TEST_CASE("SocketAddress formats every IPv4 octet width", "[net][address]") {
  for (const char* ip : {"0.0.0.0", "255.255.255.255", "10.0.100.9", "1.20.3.45", "127.0.0.1"}) {
    auto address = SocketAddress::fromIp(ip, 1);
    REQUIRE(address);
    CHECK(address->ip() == ip);
  }
}

TEST_CASE("SocketAddress fromIp parses an IPv6 literal and brackets it in toString",
          "[net][address]") {
  auto loop = SocketAddress::fromIp("::1", 443);
  REQUIRE(loop);
  CHECK(loop->family() == AF_INET6);
  CHECK(loop->port() == 443);
  CHECK(loop->ip() == "::1");
  CHECK(loop->toString() == "[::1]:443");
  CHECK(loop->length() == sizeof(sockaddr_in6));

  auto doc = SocketAddress::fromIp("2001:DB8:0:0::1", 0);
  REQUIRE(doc);
  CHECK(doc->toString() == "[2001:db8::1]:0");  // canonical form
  auto mapped = SocketAddress::fromIp("::ffff:10.0.0.1", 80);
  REQUIRE(mapped);
  CHECK(mapped->family() == AF_INET6);
  CHECK(mapped->toString() == "[::ffff:10.0.0.1]:80");
}

TEST_CASE("SocketAddress fromIp rejects what is not an IP literal", "[net][address]") {
  CHECK_FALSE(SocketAddress::fromIp("localhost", 80));
  CHECK_FALSE(SocketAddress::fromIp("", 80));
  CHECK_FALSE(SocketAddress::fromIp("256.0.0.1", 80));
  CHECK_FALSE(SocketAddress::fromIp("10.0.0", 80));
  CHECK_FALSE(SocketAddress::fromIp("[::1]", 80));  // brackets belong to host:port syntax
  CHECK_FALSE(SocketAddress::fromIp("10.0.0.1:80", 80));
}

TEST_CASE("SocketAddress round-trips through a raw sockaddr", "[net][address]") {
  auto original = SocketAddress::fromIp("2001:db8::7", 9000);
  REQUIRE(original);
  SocketAddress copy(original->raw(), original->length());
  CHECK(copy.toString() == "[2001:db8::7]:9000");
  CHECK(copy.sameIp(*original));
  CHECK(copy.ipHash() == original->ipHash());
}

TEST_CASE("SocketAddress default is empty and prints as unknown", "[net][address]") {
  SocketAddress empty;
  CHECK(empty.length() == 0);
  CHECK(empty.port() == 0);
  CHECK(empty.ip().empty());
  CHECK(empty.toString() == "unknown");
}

TEST_CASE("SocketAddress ipHash depends on the IP only", "[net][address]") {
  auto a1 = SocketAddress::fromIp("198.51.100.4", 1000);
  auto a2 = SocketAddress::fromIp("198.51.100.4", 2000);
  auto b = SocketAddress::fromIp("198.51.100.5", 1000);
  auto v6a = SocketAddress::fromIp("2001:db8::4", 1);
  auto v6b = SocketAddress::fromIp("2001:db8::4", 2);
  REQUIRE((a1 && a2 && b && v6a && v6b));
  CHECK(a1->ipHash() == a2->ipHash());
  CHECK(a1->ipHash() != b->ipHash());
  CHECK(v6a->ipHash() == v6b->ipHash());
  CHECK(v6a->ipHash() != a1->ipHash());
  // Stable across runs (FNV-1a of the address bytes), so client-IP balancing
  // survives a restart: pin the value for one address.
  auto pinned = SocketAddress::fromIp("0.0.0.0", 0);
  uint64_t expected = 1469598103934665603ULL;
  for (int i = 0; i < 4; ++i) {
    expected ^= 0;
    expected *= 1099511628211ULL;
  }
  CHECK(pinned->ipHash() == expected);
}

TEST_CASE("SocketAddress sameIp compares family and IP, not port", "[net][address]") {
  auto a1 = SocketAddress::fromIp("10.1.2.3", 1);
  auto a2 = SocketAddress::fromIp("10.1.2.3", 2);
  auto b = SocketAddress::fromIp("10.1.2.4", 1);
  auto mapped = SocketAddress::fromIp("::ffff:10.1.2.3", 1);
  auto v6 = SocketAddress::fromIp("::1", 1);
  REQUIRE((a1 && a2 && b && mapped && v6));
  CHECK(a1->sameIp(*a2));
  CHECK(a2->sameIp(*a1));
  CHECK_FALSE(a1->sameIp(*b));
  CHECK_FALSE(a1->sameIp(*mapped));
  CHECK_FALSE(a1->sameIp(*v6));
  CHECK(v6->sameIp(*SocketAddress::fromIp("0:0::1", 9)));
}

TEST_CASE("SocketAddress resolve returns a literal without asking DNS", "[net][address]") {
  config::HostPort literal;
  literal.host = "127.0.0.1";
  literal.port = 6379;
  literal.isName = false;
  std::string error;
  auto found = SocketAddress::resolve(literal, &error);
  REQUIRE(found.size() == 1);
  CHECK(found[0].toString() == "127.0.0.1:6379");
  CHECK(error.empty());

  literal.host = "::1";
  found = SocketAddress::resolve(literal, &error);
  REQUIRE(found.size() == 1);
  CHECK(found[0].toString() == "[::1]:6379");
}

TEST_CASE("SocketAddress inNetwork matches IPv4, IPv6 and v4-mapped clients", "[net][address]") {
  auto net = [](const char* text) { return *config::parseIpPrefix(text).value; };
  auto ip = [](const char* text) { return *SocketAddress::fromIp(text, 1); };
  CHECK(ip("10.1.2.3").inNetwork(net("10.0.0.0/8")));
  CHECK_FALSE(ip("11.1.2.3").inNetwork(net("10.0.0.0/8")));
  CHECK(ip("192.168.1.129").inNetwork(net("192.168.1.128/25")));
  CHECK_FALSE(ip("192.168.1.127").inNetwork(net("192.168.1.128/25")));
  CHECK(ip("127.0.0.1").inNetwork(net("127.0.0.1")));
  CHECK_FALSE(ip("127.0.0.2").inNetwork(net("127.0.0.1")));
  CHECK(ip("8.8.8.8").inNetwork(net("0.0.0.0/0")));
  CHECK(ip("fd00::1").inNetwork(net("fd00::/8")));
  CHECK_FALSE(ip("fe80::1").inNetwork(net("fd00::/8")));
  CHECK_FALSE(ip("fd00::1").inNetwork(net("10.0.0.0/8")));
  CHECK_FALSE(ip("10.0.0.1").inNetwork(net("::/0")));
  // A v4 client of a [::] listener.
  CHECK(ip("::ffff:10.0.0.1").inNetwork(net("10.0.0.0/8")));
  CHECK_FALSE(ip("::ffff:11.0.0.1").inNetwork(net("10.0.0.0/8")));
}

}  // namespace
}  // namespace sluice::net
