#include "process/runtime.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <thread>
#include <vector>

namespace sluice::process {
namespace {

net::SocketAddress ip(const std::string& text, uint16_t port = 40000) {
  auto address = net::SocketAddress::fromIp(text, port);
  REQUIRE(address);
  return *address;
}

TEST_CASE("PerIpTable admits up to the limit per IP, whatever the port", "[core][per_ip]") {
  PerIpTable table;
  CHECK(table.tryAdd(ip("10.0.0.1", 1000), 2));
  CHECK(table.tryAdd(ip("10.0.0.1", 1001), 2));
  CHECK_FALSE(table.tryAdd(ip("10.0.0.1", 1002), 2));
  CHECK_FALSE(table.tryAdd(ip("10.0.0.1", 1003), 2));
}

TEST_CASE("PerIpTable counts each IP independently", "[core][per_ip]") {
  PerIpTable table;
  CHECK(table.tryAdd(ip("10.0.0.1"), 1));
  CHECK_FALSE(table.tryAdd(ip("10.0.0.1"), 1));
  CHECK(table.tryAdd(ip("10.0.0.2"), 1));
  CHECK(table.tryAdd(ip("::1"), 1));
  CHECK(table.tryAdd(ip("::ffff:10.0.0.1"), 1));  // another family, another key
  CHECK_FALSE(table.tryAdd(ip("::1", 9), 1));
}

TEST_CASE("PerIpTable remove frees a place for the same IP only", "[core][per_ip]") {
  PerIpTable table;
  REQUIRE(table.tryAdd(ip("10.0.0.1"), 1));
  REQUIRE(table.tryAdd(ip("10.0.0.2"), 1));
  table.remove(ip("10.0.0.1", 5));
  CHECK(table.tryAdd(ip("10.0.0.1"), 1));
  CHECK_FALSE(table.tryAdd(ip("10.0.0.2"), 1));
}

TEST_CASE("PerIpTable remove of an unknown IP changes nothing", "[core][per_ip]") {
  PerIpTable table;
  table.remove(ip("10.9.9.9"));
  REQUIRE(table.tryAdd(ip("10.0.0.1"), 1));
  table.remove(ip("10.0.0.2"));
  CHECK_FALSE(table.tryAdd(ip("10.0.0.1"), 1));
  // Removing more than was added does not bank credit for later.
  table.remove(ip("10.0.0.1"));
  table.remove(ip("10.0.0.1"));
  CHECK(table.tryAdd(ip("10.0.0.1"), 1));
  CHECK_FALSE(table.tryAdd(ip("10.0.0.1"), 1));
}

TEST_CASE("PerIpTable never admits more than the limit under concurrent add/remove",
          "[core][per_ip]") {
  PerIpTable table;
  constexpr uint32_t kLimit = 3;
  std::atomic<int> held{0};
  std::atomic<int> maxHeld{0};
  std::atomic<int> admitted{0};
  // Built here: Catch assertions (inside ip()) are not for other threads.
  std::vector<net::SocketAddress> clients;
  for (int t = 0; t < 4; ++t)
    clients.push_back(ip("192.0.2.7", static_cast<uint16_t>(1000 + t)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const auto& client = clients[static_cast<size_t>(t)];
      for (int i = 0; i < 20000; ++i) {
        if (!table.tryAdd(client, kLimit)) continue;
        admitted.fetch_add(1);
        const int now = held.fetch_add(1) + 1;
        int seen = maxHeld.load();
        while (now > seen && !maxHeld.compare_exchange_weak(seen, now)) {
        }
        held.fetch_sub(1);
        table.remove(client);
      }
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(maxHeld.load() <= static_cast<int>(kLimit));
  CHECK(admitted.load() > 0);
  // Everything was removed again: the full limit is available.
  for (uint32_t i = 0; i < kLimit; ++i)
    CHECK(table.tryAdd(ip("192.0.2.7"), kLimit));
  CHECK_FALSE(table.tryAdd(ip("192.0.2.7"), kLimit));
}

TEST_CASE("RejectReason labels are the metric label values", "[core][runtime]") {
  CHECK(std::string(toString(RejectReason::MaxConnections)) == "max_connections");
  CHECK(std::string(toString(RejectReason::PerIp)) == "per_ip");
  CHECK(std::string(toString(RejectReason::QueueFull)) == "queue_full");
  CHECK(std::string(toString(RejectReason::QueueTimeout)) == "queue_timeout");
  CHECK(std::string(toString(RejectReason::Draining)) == "draining");
}

}  // namespace
}  // namespace sluice::process
