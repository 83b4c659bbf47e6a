#include "upstream/backend.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../../fakes/cluster_builder.h"
#include "upstream/admission.h"

namespace sluice::upstream {
namespace {

TEST_CASE("Backend exposes its identity", "[upstream][backend]") {
  auto backend = testing::makeBackend("10.0.0.7", 5432, 3, 17);
  CHECK(backend->name() == "10.0.0.7:5432");
  CHECK(backend->address().toString() == "10.0.0.7:5432");
  CHECK(backend->weight() == 3);
  CHECK(backend->maxConnections() == 17);
  CHECK(backend->activeConnections() == 0);
  CHECK(backend->idleConnections.load() == 0);
}

TEST_CASE("Backend is available only when healthy, not draining and not ejected",
          "[upstream][backend]") {
  auto address = net::SocketAddress::fromIp("10.0.0.1", 80);
  REQUIRE(address);
  Backend backend("b", *address, 1, 1, /*startHealthy=*/true);
  CHECK(backend.available(0));

  SECTION("unhealthy") {
    backend.setHealthy(false);
    CHECK_FALSE(backend.healthy());
    CHECK_FALSE(backend.available(0));
    backend.setHealthy(true);
    CHECK(backend.available(0));
  }
  SECTION("draining, for good") {
    backend.setDraining();
    CHECK(backend.draining());
    CHECK_FALSE(backend.available(0));
    CHECK_FALSE(backend.available(1'000'000'000));
  }
  SECTION("ejected until a deadline") {
    backend.ejectUntil(1000);
    CHECK(backend.ejectedUntilMs() == 1000);
    CHECK_FALSE(backend.available(999));
    CHECK(backend.available(1000));
    CHECK(backend.available(5000));
  }
  SECTION("starting unhealthy") {
    Backend cold("c", *address, 1, 1, /*startHealthy=*/false);
    CHECK_FALSE(cold.available(0));
  }
}

TEST_CASE("Backend hands out at most maxConnections slots and takes them back",
          "[upstream][backend]") {
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 3);
  Admission admission({backend}, 0);
  CHECK(backend->tryAcquireSlot());
  CHECK(backend->tryAcquireSlot());
  CHECK(backend->tryAcquireSlot());
  CHECK_FALSE(backend->tryAcquireSlot());
  CHECK(backend->activeConnections() == 3);
  admission.release(backend);
  CHECK(backend->activeConnections() == 2);
  CHECK(backend->tryAcquireSlot());
  CHECK_FALSE(backend->tryAcquireSlot());
}

TEST_CASE("Backend with maxConnections 0 never hands out a slot", "[upstream][backend]") {
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 0);
  CHECK_FALSE(backend->tryAcquireSlot());
  CHECK(backend->activeConnections() == 0);
}

TEST_CASE("Backend slot count never exceeds maxConnections under contention",
          "[upstream][backend]") {
  constexpr uint32_t kMax = 5;
  constexpr int kThreads = 4;
  constexpr int kAttempts = 100000;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, kMax);
  auto admission = std::make_shared<Admission>(std::vector<std::shared_ptr<Backend>>{backend}, 0);
  std::atomic<int> held{0};
  std::atomic<int> maxHeld{0};
  std::atomic<uint32_t> maxObserved{0};
  std::atomic<int> acquired{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      int mine = 0;
      for (int i = 0; i < kAttempts; ++i) {
        if (!backend->tryAcquireSlot()) continue;
        ++mine;
        const int now = held.fetch_add(1) + 1;
        int seen = maxHeld.load();
        while (now > seen && !maxHeld.compare_exchange_weak(seen, now)) {
        }
        const uint32_t active = backend->activeConnections();
        uint32_t seenActive = maxObserved.load();
        while (active > seenActive && !maxObserved.compare_exchange_weak(seenActive, active)) {
        }
        held.fetch_sub(1);
        admission->release(backend);
      }
      acquired.fetch_add(mine);
    });
  }
  for (auto& t : threads)
    t.join();
  CHECK(maxHeld.load() <= static_cast<int>(kMax));
  CHECK(maxObserved.load() <= kMax);
  CHECK(acquired.load() > 0);
  CHECK(backend->activeConnections() == 0);
}

}  // namespace
}  // namespace sluice::upstream
