#include "upstream/conn_pool.h"

#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "../../fakes/cluster_builder.h"
#include "../../fakes/event_loop.h"
#include "../../fakes/loopback.h"
#include "core/clock.h"
#include "core/timer.h"

namespace sluice::upstream {
namespace {

using namespace std::chrono_literals;
using testing::runUntil;

constexpr auto kIdleTimeout = 4000ms;
constexpr auto kMaxLifetime = 600000ms;

// One backend: a real loopback listener; one cluster around it.
struct PoolFixture {
  core::Dispatcher dispatcher;
  testing::LoopbackListener server;
  std::shared_ptr<Backend> backend;
  std::shared_ptr<Cluster> cluster;

  explicit PoolFixture(uint32_t maxConnections = 10, bool listening = true) {
    REQUIRE(server.fd);
    const auto address = listening ? server.address : testing::closedPort();
    backend = testing::makeBackend(address, 1, maxConnections);
    cluster = testing::makeCluster(config::Balance::RoundRobin, {backend}, [](config::Cluster& c) {
      c.pool.idleTimeout = kIdleTimeout;
      c.pool.maxLifetime = kMaxLifetime;
      c.timeouts.connect = 2000ms;
    });
  }

  // A connection opened by hand (as a session would), holding a slot.
  std::unique_ptr<UpstreamConnection> openConnection() {
    REQUIRE(backend->tryAcquireSlot());
    auto connection = std::make_unique<UpstreamConnection>();
    connection->slot = SlotGuard(cluster->admission(), backend);
    connection->fd = testing::connectTo(backend->address());
    REQUIRE(connection->fd);
    connection->createdMs = core::monotonicMs();
    return connection;
  }

  uint64_t connects() const { return backend->counters.connectTotal.load(); }
  int idleGauge() const { return backend->idleConnections.load(); }
  uint32_t active() const { return backend->activeConnections(); }
};

TEST_CASE("ConnPool refill opens targetIdle connections to the backend", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 3);
  CHECK(pool.backend() == f.backend);
  pool.refill();
  CHECK(pool.connectingCount() == 3);
  CHECK(pool.idleCount() == 0);
  CHECK(f.active() == 3);  // every connect holds a slot from the start
  CHECK(f.connects() == 3);
  REQUIRE(runUntil(f.dispatcher, [&] { return pool.idleCount() == 3; }));
  CHECK(pool.connectingCount() == 0);
  CHECK(f.idleGauge() == 3);
  CHECK(f.active() == 3);
  CHECK(f.server.acceptAll().size() == 3);
  pool.refill();  // already at target
  CHECK(pool.connectingCount() == 0);
  CHECK(f.connects() == 3);
}

TEST_CASE("ConnPool refill stops at the backend's connection cap", "[upstream][pool]") {
  PoolFixture f(2);
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 5);
  pool.refill();
  CHECK(pool.connectingCount() == 2);
  CHECK(f.active() == 2);
}

TEST_CASE("ConnPool refill opens nothing to an unavailable backend", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 3);
  f.backend->setHealthy(false);
  pool.refill();
  CHECK(pool.connectingCount() == 0);
  CHECK(f.active() == 0);
}

TEST_CASE("ConnPool takeIdle returns the most recently idled connection first",
          "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 0);
  CHECK(pool.takeIdle() == nullptr);
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) {
    auto connection = f.openConnection();
    fds.push_back(connection->fd.get());
    pool.putIdle(std::move(connection));
  }
  CHECK(pool.idleCount() == 3);
  CHECK(f.idleGauge() == 3);
  std::vector<std::unique_ptr<UpstreamConnection>> busy;
  for (int i = 2; i >= 0; --i) {
    busy.push_back(pool.takeIdle());
    REQUIRE(busy.back());
    CHECK(busy.back()->fd.get() == fds[static_cast<size_t>(i)]);
    CHECK(f.idleGauge() == i);
  }
  CHECK(pool.takeIdle() == nullptr);
  // Taken connections are busy, not closed: they keep their slots.
  CHECK(f.active() == 3);
  busy.clear();
  CHECK(f.active() == 0);
}

// Two idle connections put by hand; returns the server side of the first
// one (the victim) and the client fd of the second (the one kept).
struct TwoIdle {
  core::Fd victimServerSide;
  std::vector<core::Fd> others;
  int keptFd = -1;
};

TwoIdle putTwoIdle(PoolFixture& f, ConnPool& pool) {
  TwoIdle out;
  pool.putIdle(f.openConnection());
  auto kept = f.openConnection();
  out.keptFd = kept->fd.get();
  pool.putIdle(std::move(kept));
  auto serverSide = f.server.acceptAll();
  REQUIRE(serverSide.size() == 2);
  const auto keptPort = net::localAddress(out.keptFd).port();
  for (auto& fd : serverSide) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    ::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&peer), &len);
    if (net::SocketAddress(reinterpret_cast<sockaddr*>(&peer), len).port() != keptPort) {
      out.victimServerSide = std::move(fd);
    } else {
      out.others.push_back(std::move(fd));
    }
  }
  REQUIRE(out.victimServerSide);
  return out;
}

TEST_CASE("ConnPool removes an idle connection the backend closes", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 0);
  auto two = putTwoIdle(f, pool);
  CHECK(f.active() == 2);
  CHECK(f.idleGauge() == 2);
  two.victimServerSide.reset();  // FIN
  REQUIRE(runUntil(f.dispatcher, [&] { return pool.idleCount() == 1; }));
  CHECK(f.idleGauge() == 1);
  CHECK(f.active() == 1);
  auto survivor = pool.takeIdle();
  REQUIRE(survivor);
  CHECK(survivor->fd.get() == two.keptFd);
}

// BUG (proxy/upstream/conn_pool.cpp, ConnPool::addIdle): the idle watch is
// EV_CLOSED only. On a RST the socket reports EPOLLERR, which libevent's
// epoll backend maps to EV_READ|EV_WRITE and never to EV_CLOSED, so
// onIdleClosed never runs: the dead connection stays idle (gauge and slot
// held, and takeIdle hands it to the next session), and because the fd stays
// level-triggered in epoll the worker's loop spins (~25k epoll_wait/s).
TEST_CASE("ConnPool removes an idle connection the backend resets", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 0);
  auto two = putTwoIdle(f, pool);
  linger abort{1, 0};
  ::setsockopt(two.victimServerSide.get(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort);
  two.victimServerSide.reset();  // RST
  REQUIRE(runUntil(
      f.dispatcher, [&] { return pool.idleCount() == 1; }, 1000ms));
  CHECK(f.idleGauge() == 1);
  CHECK(f.active() == 1);
  auto survivor = pool.takeIdle();
  REQUIRE(survivor);
  CHECK(survivor->fd.get() == two.keptFd);
}

TEST_CASE("ConnPool replaces a pre-warmed connection the backend closed", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 2);
  pool.refill();
  REQUIRE(runUntil(f.dispatcher, [&] { return pool.idleCount() == 2; }));
  auto serverSide = f.server.acceptAll();
  REQUIRE(serverSide.size() == 2);
  serverSide.front().reset();
  REQUIRE(runUntil(f.dispatcher, [&] { return f.connects() == 3 && pool.idleCount() == 2; }));
  CHECK(f.idleGauge() == 2);
  CHECK(f.active() == 2);
}

TEST_CASE("ConnPool expire closes connections idle past idle_timeout", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 0);
  pool.putIdle(f.openConnection());
  pool.putIdle(f.openConnection());
  pool.expire(core::monotonicMs());
  CHECK(pool.idleCount() == 2);
  pool.expire(core::monotonicMs() + kIdleTimeout.count() - 1000);
  CHECK(pool.idleCount() == 2);
  pool.expire(core::monotonicMs() + kIdleTimeout.count());
  CHECK(pool.idleCount() == 0);
  CHECK(f.idleGauge() == 0);
  CHECK(f.active() == 0);
}

TEST_CASE("ConnPool expire closes connections past max_lifetime even if just idled",
          "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 0);
  auto old = f.openConnection();
  old->createdMs = core::monotonicMs() - kMaxLifetime.count();
  pool.putIdle(std::move(old));
  auto young = f.openConnection();
  const int youngFd = young->fd.get();
  pool.putIdle(std::move(young));
  pool.expire(core::monotonicMs());
  CHECK(pool.idleCount() == 1);
  CHECK(f.active() == 1);
  auto left = pool.takeIdle();
  REQUIRE(left);
  CHECK(left->fd.get() == youngFd);
}

TEST_CASE("ConnPool expire keeps old connections when max_lifetime is 0", "[upstream][pool]") {
  PoolFixture f;
  f.cluster =
      testing::makeCluster(config::Balance::RoundRobin, {f.backend}, [](config::Cluster& c) {
        c.pool.idleTimeout = kIdleTimeout;
        c.pool.maxLifetime = 0ms;
      });
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 0);
  auto ancient = f.openConnection();
  ancient->createdMs = 0;
  pool.putIdle(std::move(ancient));
  pool.expire(core::monotonicMs());
  CHECK(pool.idleCount() == 1);
}

TEST_CASE("ConnPool drain closes everything and stops refilling", "[upstream][pool]") {
  PoolFixture f;
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 3);
  pool.refill();
  REQUIRE(runUntil(f.dispatcher, [&] { return pool.idleCount() == 3; }));
  auto busy = pool.takeIdle();
  REQUIRE(busy);
  pool.refill();  // one connect in flight, two idle
  CHECK(pool.connectingCount() == 1);
  CHECK(f.active() == 4);

  pool.drain();
  CHECK(pool.idleCount() == 0);
  CHECK(pool.connectingCount() == 0);
  CHECK(f.idleGauge() == 0);
  CHECK(f.active() == 1);  // only the busy one

  pool.refill();
  CHECK(pool.connectingCount() == 0);
  pool.putIdle(std::move(busy));  // a reusable connection coming back is closed
  CHECK(pool.idleCount() == 0);
  CHECK(f.active() == 0);
  pool.expire(core::monotonicMs());  // expire's refill stays off too
  bool sentinel = false;
  core::Timer later(f.dispatcher, [&] { sentinel = true; });
  later.enable(50ms);
  REQUIRE(runUntil(f.dispatcher, [&] { return sentinel; }));
  CHECK(pool.idleCount() == 0);
  CHECK(pool.connectingCount() == 0);
  CHECK(f.connects() == 4);
}

TEST_CASE("ConnPool refill opens nothing while the cluster's admission has waiters",
          "[upstream][pool]") {
  PoolFixture f(2);
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 3);
  REQUIRE(f.backend->tryAcquireSlot());
  REQUIRE(f.backend->tryAcquireSlot());
  struct Ignore : SlotGrantHandler {
    void onSlotGranted(std::shared_ptr<Backend>) override {}
  } handler;
  auto waiter = std::make_shared<SlotWaiter>(f.dispatcher, &handler);
  REQUIRE(f.cluster->admission()->enqueue(waiter));
  REQUIRE(f.cluster->admission()->pending() == 1);
  // A slot frees up; until Admission hands it on, it must stay the waiter's.
  f.backend->returnSlot();
  pool.refill();
  CHECK(pool.connectingCount() == 0);
  CHECK(f.active() == 1);
  CHECK(f.connects() == 0);
  // Nobody waits any more: pre-warming may proceed.
  REQUIRE(waiter->cancel());
  pool.refill();
  CHECK(pool.connectingCount() == 1);
  CHECK(f.active() == 2);
  f.backend->returnSlot();
}

TEST_CASE("ConnPool counts failed pre-warm connects and returns their slots", "[upstream][pool]") {
  PoolFixture f(10, /*listening=*/false);
  ConnPool pool(f.dispatcher, f.cluster, f.backend, 2);
  pool.refill();
  CHECK(f.active() == 2);
  REQUIRE(runUntil(f.dispatcher, [&] { return pool.connectingCount() == 0; }));
  CHECK(pool.idleCount() == 0);
  CHECK(f.active() == 0);
  CHECK(f.backend->counters.connectFailures[static_cast<int>(ConnectFailure::Refused)].load() == 2);
}

TEST_CASE("ConnPool destroyed closes its connections and returns their slots", "[upstream][pool]") {
  PoolFixture f;
  {
    ConnPool pool(f.dispatcher, f.cluster, f.backend, 2);
    pool.refill();
    REQUIRE(runUntil(f.dispatcher, [&] { return pool.idleCount() == 2; }));
    pool.putIdle(f.openConnection());
    pool.refill();
    CHECK(f.active() == 3);
  }
  CHECK(f.active() == 0);
  CHECK(f.idleGauge() == 0);
}

}  // namespace
}  // namespace sluice::upstream
