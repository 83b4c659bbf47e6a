#include "upstream/load_balancer.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../../fakes/cluster_builder.h"
#include "core/clock.h"

namespace sluice::upstream {
namespace {

using config::Balance;

std::vector<std::shared_ptr<Backend>> weighted(const std::vector<uint32_t>& weights) {
  std::vector<std::shared_ptr<Backend>> out;
  for (size_t i = 0; i < weights.size(); ++i)
    out.push_back(testing::makeBackend("10.0.0." + std::to_string(i + 1), 80, weights[i], 1000));
  return out;
}

// Makes `backend` look busy with `count` open connections.
void load(Backend& backend, uint32_t count) {
  for (uint32_t i = 0; i < count; ++i)
    REQUIRE(backend.tryAcquireSlot());
}

// Index of the picked backend in `backends`, -1 for none.
int pickIndex(LoadBalancer& lb, const std::vector<std::shared_ptr<Backend>>& backends,
              const std::vector<const Backend*>& exclude = {}, uint64_t hash = 0) {
  auto picked = lb.pick(hash, exclude);
  for (size_t i = 0; i < backends.size(); ++i) {
    if (picked == backends[i]) return static_cast<int>(i);
  }
  REQUIRE(picked == nullptr);
  return -1;
}

TEST_CASE("LoadBalancer round robin with weights 5,1,1 interleaves smoothly",
          "[upstream][balancer]") {
  auto backends = weighted({5, 1, 1});
  LoadBalancer lb(testing::makeCluster(Balance::RoundRobin, backends));
  CHECK(lb.cluster()->backends() == backends);
  std::string sequence;
  for (int i = 0; i < 7; ++i)
    sequence += static_cast<char>('a' + pickIndex(lb, backends));
  CHECK(sequence == "aabacaa");
  // The cycle repeats exactly.
  std::string next;
  for (int i = 0; i < 7; ++i)
    next += static_cast<char>('a' + pickIndex(lb, backends));
  CHECK(next == "aabacaa");
}

TEST_CASE("LoadBalancer round robin gives exact weight proportions", "[upstream][balancer]") {
  auto backends = weighted({5, 1, 1});
  LoadBalancer lb(testing::makeCluster(Balance::RoundRobin, backends));
  std::map<int, int> count;
  for (int i = 0; i < 700; ++i)
    ++count[pickIndex(lb, backends)];
  CHECK(count[0] == 500);
  CHECK(count[1] == 100);
  CHECK(count[2] == 100);
  CHECK(count.count(-1) == 0);
}

TEST_CASE("LoadBalancer round robin with equal weights takes turns", "[upstream][balancer]") {
  auto backends = weighted({1, 1, 1});
  LoadBalancer lb(testing::makeCluster(Balance::RoundRobin, backends));
  std::vector<int> picks;
  for (int i = 0; i < 6; ++i)
    picks.push_back(pickIndex(lb, backends));
  CHECK(picks == std::vector<int>{0, 1, 2, 0, 1, 2});
}

TEST_CASE("LoadBalancer round robin shares among the remaining backends when one is down",
          "[upstream][balancer]") {
  auto backends = weighted({5, 1, 1});
  LoadBalancer lb(testing::makeCluster(Balance::RoundRobin, backends));
  backends[0]->setHealthy(false);
  std::map<int, int> count;
  for (int i = 0; i < 100; ++i)
    ++count[pickIndex(lb, backends)];
  CHECK(count[0] == 0);
  CHECK(count[1] == 50);
  CHECK(count[2] == 50);
}

TEST_CASE("LoadBalancer least_connections picks the lowest active/weight", "[upstream][balancer]") {
  auto backends = weighted({1, 2, 1});
  LoadBalancer lb(testing::makeCluster(Balance::LeastConnections, backends));
  load(*backends[0], 3);  // 3 per unit of weight
  load(*backends[1], 4);  // 2 per unit of weight: the least loaded
  load(*backends[2], 5);  // 5 per unit of weight
  for (int i = 0; i < 50; ++i)
    REQUIRE(pickIndex(lb, backends) == 1);
  // Excluding the best gives the next best.
  for (int i = 0; i < 50; ++i)
    REQUIRE(pickIndex(lb, backends, {backends[1].get()}) == 0);
}

TEST_CASE("LoadBalancer least_connections spreads ties", "[upstream][balancer]") {
  auto backends = weighted({1, 1, 1});
  LoadBalancer lb(testing::makeCluster(Balance::LeastConnections, backends));
  std::map<int, int> count;
  for (int i = 0; i < 300; ++i)
    ++count[pickIndex(lb, backends)];
  // Random start offset: every tied backend gets picked (odds of missing one ~1e-52).
  CHECK(count[0] > 0);
  CHECK(count[1] > 0);
  CHECK(count[2] > 0);
}

TEST_CASE("LoadBalancer random_two never picks an excluded or unavailable backend",
          "[upstream][balancer]") {
  auto backends = weighted({1, 1, 1, 1});
  LoadBalancer lb(testing::makeCluster(Balance::RandomTwo, backends));
  backends[1]->setHealthy(false);
  backends[3]->ejectUntil(core::monotonicMs() + 60'000);
  for (int i = 0; i < 1000; ++i)
    REQUIRE(pickIndex(lb, backends, {backends[2].get()}) == 0);
  std::map<int, int> count;
  for (int i = 0; i < 1000; ++i)
    ++count[pickIndex(lb, backends)];
  CHECK(count[1] == 0);
  CHECK(count[3] == 0);
  CHECK(count[0] + count[2] == 1000);
}

TEST_CASE("LoadBalancer random_two prefers the less loaded of its two choices",
          "[upstream][balancer]") {
  SECTION("of two backends, always the less loaded") {
    auto backends = weighted({1, 1});
    LoadBalancer lb(testing::makeCluster(Balance::RandomTwo, backends));
    load(*backends[0], 4);
    load(*backends[1], 1);
    for (int i = 0; i < 200; ++i)
      REQUIRE(pickIndex(lb, backends) == 1);
  }
  SECTION("of many, never the most loaded and mostly the least loaded") {
    auto backends = weighted({1, 1, 1});
    LoadBalancer lb(testing::makeCluster(Balance::RandomTwo, backends));
    load(*backends[0], 1);
    load(*backends[1], 9);
    load(*backends[2], 5);
    std::map<int, int> count;
    for (int i = 0; i < 3000; ++i)
      ++count[pickIndex(lb, backends)];
    CHECK(count[1] == 0);
    // Backend 0 wins whenever it is one of the two choices: 2/3 of the time.
    CHECK(count[0] > 1700);
    CHECK(count[2] > 600);
  }
  SECTION("load is relative to weight") {
    auto backends = weighted({4, 1});
    LoadBalancer lb(testing::makeCluster(Balance::RandomTwo, backends));
    load(*backends[0], 4);  // 1 per unit of weight
    load(*backends[1], 2);  // 2 per unit of weight
    for (int i = 0; i < 200; ++i)
      REQUIRE(pickIndex(lb, backends) == 0);
  }
}

TEST_CASE("LoadBalancer honours the exclusion list for every policy", "[upstream][balancer]") {
  const Balance policy = GENERATE(Balance::RoundRobin, Balance::LeastConnections,
                                  Balance::RandomTwo, Balance::HashClientIp);
  INFO("policy " << config::toString(policy));
  auto backends = weighted({1, 3, 1});
  LoadBalancer lb(testing::makeCluster(policy, backends));
  const std::vector<const Backend*> exclude = {backends[0].get(), backends[1].get()};
  for (uint64_t hash = 0; hash < 300; ++hash)
    REQUIRE(pickIndex(lb, backends, exclude, hash * 7919) == 2);
}

TEST_CASE("LoadBalancer returns null when nothing is eligible", "[upstream][balancer]") {
  const Balance policy = GENERATE(Balance::RoundRobin, Balance::LeastConnections,
                                  Balance::RandomTwo, Balance::HashClientIp);
  INFO("policy " << config::toString(policy));
  auto backends = weighted({1, 1});

  SECTION("all excluded") {
    LoadBalancer lb(testing::makeCluster(policy, backends));
    CHECK(lb.pick(1, {backends[0].get(), backends[1].get()}) == nullptr);
  }
  SECTION("all unavailable") {
    LoadBalancer lb(testing::makeCluster(policy, backends));
    backends[0]->setHealthy(false);
    backends[1]->setDraining();
    CHECK(lb.pick(1, {}) == nullptr);
  }
  SECTION("one unavailable, the other excluded") {
    LoadBalancer lb(testing::makeCluster(policy, backends));
    backends[0]->setHealthy(false);
    CHECK(lb.pick(1, {backends[1].get()}) == nullptr);
  }
  SECTION("no backends at all") {
    LoadBalancer lb(testing::makeCluster(policy, {}));
    CHECK(lb.pick(1, {}) == nullptr);
  }
}

TEST_CASE("LoadBalancer hash_client_ip sticks to the ring and falls back on retry",
          "[upstream][balancer]") {
  auto backends = weighted({1, 1, 1});
  auto cluster = testing::makeCluster(Balance::HashClientIp, backends);
  LoadBalancer lb(cluster);
  for (uint64_t hash = 1; hash < 200; ++hash) {
    const uint64_t clientHash = hash * 0x9e3779b97f4a7c15ULL;
    const int owner = cluster->ringLookup(clientHash, core::monotonicMs());
    REQUIRE(owner >= 0);
    REQUIRE(pickIndex(lb, backends, {}, clientHash) == owner);
    // A retry that excludes the owner lands elsewhere.
    const int retry =
        pickIndex(lb, backends, {backends[static_cast<size_t>(owner)].get()}, clientHash);
    REQUIRE(retry >= 0);
    REQUIRE(retry != owner);
  }
}

}  // namespace
}  // namespace sluice::upstream
