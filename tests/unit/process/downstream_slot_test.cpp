#include "process/downstream_slot.h"

#include <catch2/catch.hpp>
#include <string>

#include "config/loader.h"

namespace sluice::process {
namespace {

net::SocketAddress ip(const std::string& text, uint16_t port = 40000) {
  auto address = net::SocketAddress::fromIp(text, port);
  REQUIRE(address);
  return *address;
}

// One listener with max_connections 3 (global 4) and 2 per IP.
struct Fixture {
  config::ConfigPtr config = config::loadString(
                                 "limits: {max_connections: 4}\n"
                                 "listeners:\n"
                                 "  - {name: l, address: 127.0.0.1:1, cluster: c,\n"
                                 "     max_connections: 3, max_connections_per_ip: 2}\n"
                                 "clusters:\n"
                                 "  - {name: c, backends: [{address: 127.0.0.1:2}]}\n",
                                 "t.yaml")
                                 .config;
  SharedState shared;
  ListenerRuntime listener{config, config->listeners.at(0), nullptr,
                           std::make_shared<ListenerStats>()};

  std::optional<DownstreamSlot> take(const char* peer, RejectReason* why = nullptr,
                                     bool trustedProxy = false) {
    RejectReason ignored{};
    return DownstreamSlot::take(shared, listener, ip(peer), why ? why : &ignored, trustedProxy);
  }
};

TEST_CASE("DownstreamSlot counts from take to destruction", "[core][downstream_slot]") {
  Fixture f;
  {
    auto slot = f.take("10.0.0.1");
    REQUIRE(slot);
    CHECK(f.shared.downstreamActive == 1);
    CHECK(f.listener.counters.active == 1);
    DownstreamSlot moved = std::move(*slot);  // a move hands the count over, once
    slot.reset();
    CHECK(f.listener.counters.active == 1);
  }
  CHECK(f.shared.downstreamActive == 0);
  CHECK(f.listener.counters.active == 0);
  CHECK(f.take("10.0.0.1"));
}

TEST_CASE("DownstreamSlot refuses past the listener and per-IP limits, counting nothing",
          "[core][downstream_slot]") {
  Fixture f;
  RejectReason why{};
  auto a = f.take("10.0.0.1");
  auto b = f.take("10.0.0.1");
  CHECK_FALSE(f.take("10.0.0.1", &why));
  CHECK(why == RejectReason::PerIp);
  auto c = f.take("10.0.0.2");
  CHECK_FALSE(f.take("10.0.0.3", &why));
  CHECK(why == RejectReason::MaxConnections);
  CHECK(f.listener.counters.active == 3);
  CHECK(f.shared.downstreamActive == 3);
}

TEST_CASE("DownstreamSlot moveTo re-keys the per-IP entry to the header's client",
          "[core][downstream_slot]") {
  Fixture f;
  auto balancer1 = f.take("10.0.0.1");
  auto balancer2 = f.take("10.0.0.1");
  REQUIRE(balancer1);
  REQUIRE(balancer2);
  // The balancer's entries move to the clients: it may open more.
  CHECK(balancer1->moveTo(ip("192.0.2.7")));
  CHECK(balancer2->moveTo(ip("192.0.2.7")));
  auto third = f.take("10.0.0.1");
  REQUIRE(third);
  // The client is at its limit: the move fails and the slot keeps its key.
  CHECK_FALSE(third->moveTo(ip("192.0.2.7")));
  balancer1.reset();
  CHECK(third->moveTo(ip("192.0.2.7")));
}

TEST_CASE("DownstreamSlot from a trusted balancer holds no per-IP entry until the header",
          "[core][downstream_slot]") {
  Fixture f;
  // Three clients accepted at once from one listed balancer (per-IP limit 2).
  auto a = f.take("10.0.0.1", nullptr, true);
  auto b = f.take("10.0.0.1", nullptr, true);
  auto c = f.take("10.0.0.1", nullptr, true);
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(c);
  CHECK(a->moveTo(ip("192.0.2.7")));
  CHECK(b->moveTo(ip("192.0.2.7")));
  CHECK_FALSE(c->moveTo(ip("192.0.2.7")));  // the named client is at its limit
  CHECK(c->moveTo(ip("192.0.2.8")));
  a.reset();
  b.reset();
  c.reset();
  // Every entry went with its slot: the limit is whole again.
  auto d = f.take("192.0.2.7");
  auto e = f.take("192.0.2.7");
  CHECK(d);
  CHECK(e);
  CHECK_FALSE(f.take("192.0.2.7"));
}

}  // namespace
}  // namespace sluice::process
