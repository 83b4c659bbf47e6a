#include "upstream/cluster.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../../fakes/cluster_builder.h"

namespace sluice::upstream {
namespace {

using config::Balance;

std::vector<std::shared_ptr<Backend>> backendsOn(int count, uint32_t weight = 1) {
  std::vector<std::shared_ptr<Backend>> out;
  for (int i = 0; i < count; ++i)
    out.push_back(testing::makeBackend("10.0.0." + std::to_string(i + 1), 8080, weight));
  return out;
}

// Client hashes as the proxy computes them: from client IPs.
std::vector<uint64_t> clientHashes(int count) {
  std::vector<uint64_t> out;
  for (int i = 0; i < count; ++i) {
    const std::string ip =
        "172.16." + std::to_string((i >> 8) & 0xff) + "." + std::to_string(i & 0xff);
    out.push_back(net::SocketAddress::fromIp(ip, 1)->ipHash());
  }
  return out;
}

const std::string& ownerName(const Cluster& cluster, uint64_t hash) {
  const int index = cluster.ringLookup(hash, 0);
  REQUIRE(index >= 0);
  return cluster.backends()[static_cast<size_t>(index)]->name();
}

TEST_CASE("Cluster exposes its config, backends and admission", "[upstream][cluster]") {
  auto backends = backendsOn(2);
  auto cluster = testing::makeCluster(Balance::RoundRobin, backends,
                                      [](config::Cluster& c) { c.pool.maxPending = 7; });
  CHECK(cluster->name() == "test");
  CHECK(cluster->config().balance == Balance::RoundRobin);
  CHECK(cluster->backends() == backends);
  REQUIRE(cluster->admission());
  CHECK(cluster->admission()->maxPending() == 7);
}

TEST_CASE("Cluster ring maps the same client hash to the same backend", "[upstream][cluster]") {
  auto backends = backendsOn(3);
  auto cluster = testing::makeCluster(Balance::HashClientIp, backends);
  // A second cluster over fresh Backend objects with the same addresses: the
  // ring derives from addresses, so a restart or reload keeps the mapping.
  auto again = testing::makeCluster(Balance::HashClientIp, backendsOn(3));
  for (uint64_t hash : clientHashes(2000)) {
    const int first = cluster->ringLookup(hash, 0);
    REQUIRE(first >= 0);
    REQUIRE(cluster->ringLookup(hash, 0) == first);
    REQUIRE(ownerName(*again, hash) == ownerName(*cluster, hash));
  }
}

TEST_CASE("Cluster ring spreads clients over all backends", "[upstream][cluster]") {
  auto cluster = testing::makeCluster(Balance::HashClientIp, backendsOn(3));
  std::map<std::string, int> share;
  const auto hashes = clientHashes(10000);
  for (uint64_t hash : hashes)
    ++share[ownerName(*cluster, hash)];
  REQUIRE(share.size() == 3);
  for (const auto& [name, count] : share) {
    INFO(name << " got " << count);
    CHECK(count > 2000);  // a fair share is ~3333
    CHECK(count < 4700);
  }
}

TEST_CASE("Cluster ring gives a heavier backend a proportionally larger share",
          "[upstream][cluster]") {
  std::vector<std::shared_ptr<Backend>> backends = {testing::makeBackend("10.0.0.1", 80, 3),
                                                    testing::makeBackend("10.0.0.2", 80, 1)};
  auto cluster = testing::makeCluster(Balance::HashClientIp, backends);
  int heavy = 0;
  const auto hashes = clientHashes(10000);
  for (uint64_t hash : hashes)
    heavy += cluster->ringLookup(hash, 0) == 0 ? 1 : 0;
  CHECK(heavy > 6500);  // ~7500 expected
  CHECK(heavy < 8500);
}

TEST_CASE("Cluster ring moves few clients when a fourth backend joins three",
          "[upstream][cluster]") {
  auto three = testing::makeCluster(Balance::HashClientIp, backendsOn(3));
  auto four = testing::makeCluster(Balance::HashClientIp, backendsOn(4));
  const std::string newcomer = four->backends()[3]->name();
  const auto hashes = clientHashes(10000);
  int moved = 0;
  int movedElsewhere = 0;
  for (uint64_t hash : hashes) {
    const std::string& before = ownerName(*three, hash);
    const std::string& after = ownerName(*four, hash);
    if (before == after) continue;
    ++moved;
    if (after != newcomer) ++movedElsewhere;
  }
  INFO("moved " << moved << " of " << hashes.size());
  CHECK(moved < 3500);         // ideal is 1/4 = 2500
  CHECK(moved > 1000);         // the newcomer takes a real share
  CHECK(movedElsewhere == 0);  // a client only ever moves to the new backend
}

TEST_CASE("Cluster ring skips unavailable backends and returns when they recover",
          "[upstream][cluster]") {
  auto backends = backendsOn(3);
  auto cluster = testing::makeCluster(Balance::HashClientIp, backends);
  const auto hashes = clientHashes(3000);
  std::vector<int> before;
  for (uint64_t hash : hashes)
    before.push_back(cluster->ringLookup(hash, 0));

  SECTION("unhealthy") {
    backends[1]->setHealthy(false);
  }
  SECTION("draining") {
    backends[1]->setDraining();
  }
  SECTION("ejected") {
    backends[1]->ejectUntil(1000);
  }

  int rerouted = 0;
  for (size_t i = 0; i < hashes.size(); ++i) {
    const int now = cluster->ringLookup(hashes[i], 0);
    REQUIRE(now >= 0);
    REQUIRE(now != 1);
    // Clients of the healthy backends stay where they were.
    if (before[i] != 1) REQUIRE(now == before[i]);
    rerouted += before[i] == 1 ? 1 : 0;
  }
  CHECK(rerouted > 0);
  // Past the ejection deadline (or healthy again) the mapping is restored.
  backends[1]->setHealthy(true);
  if (!backends[1]->draining()) {
    for (size_t i = 0; i < hashes.size(); ++i)
      REQUIRE(cluster->ringLookup(hashes[i], 1000) == before[i]);
  }
}

TEST_CASE("Cluster ring returns -1 when no backend is available", "[upstream][cluster]") {
  auto backends = backendsOn(2);
  auto cluster = testing::makeCluster(Balance::HashClientIp, backends);
  CHECK(cluster->anyAvailable(0));
  backends[0]->setHealthy(false);
  CHECK(cluster->anyAvailable(0));
  backends[1]->setDraining();
  CHECK_FALSE(cluster->anyAvailable(0));
  CHECK(cluster->ringLookup(12345, 0) == -1);
}

TEST_CASE("Cluster ring is only built for hash_client_ip", "[upstream][cluster]") {
  auto cluster = testing::makeCluster(Balance::RoundRobin, backendsOn(2));
  CHECK(cluster->ringLookup(12345, 0) == -1);
  auto empty = testing::makeCluster(Balance::HashClientIp, {});
  CHECK(empty->ringLookup(12345, 0) == -1);
  CHECK_FALSE(empty->anyAvailable(0));
}

TEST_CASE("ConnectFailure labels", "[upstream][cluster]") {
  CHECK(std::string(toString(ConnectFailure::Timeout)) == "timeout");
  CHECK(std::string(toString(ConnectFailure::Refused)) == "refused");
  CHECK(std::string(toString(ConnectFailure::Error)) == "error");
}

}  // namespace
}  // namespace sluice::upstream
