#include "health/health_checker.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "../../fakes/cluster_builder.h"
#include "../../fakes/event_loop.h"
#include "../../fakes/loopback.h"

namespace sluice::health {
namespace {

using namespace std::chrono_literals;

config::HealthCheck tcpCheck(bool startHealthy = true) {
  return config::HealthCheck{
      config::HealthCheckType::Tcp, "/", 200, 399, 50ms, 40ms, 2, 2, startHealthy};
}

std::shared_ptr<upstream::Cluster> checkedCluster(const net::SocketAddress& address,
                                                  bool startHealthy = true) {
  auto backend = testing::makeBackend(address);
  backend->setHealthy(startHealthy);
  return testing::makeCluster(config::Balance::RoundRobin, {backend},
                              [&](config::Cluster& c) { c.healthCheck = tcpCheck(startHealthy); });
}

TEST_CASE("HealthChecker takes a backend out after unhealthy_threshold failures and back",
          "[health]") {
  core::Dispatcher dispatcher;
  testing::LoopbackListener listener;
  REQUIRE(listener.fd);
  const auto address = listener.address;
  auto cluster = checkedCluster(address);
  auto backend = cluster->backends().front();
  std::vector<std::string> wentDown;
  HealthChecker checker(dispatcher, [&](const auto& b) { wentDown.push_back(b->name()); });
  checker.sync({cluster});
  CHECK(checker.checkCount() == 1);

  REQUIRE(testing::runUntil(dispatcher, [&] { return backend->counters.healthChecksOk >= 2; }));
  CHECK(backend->healthy());
  CHECK(wentDown.empty());

  listener.fd.reset();  // connects are refused from now on
  REQUIRE(testing::runUntil(dispatcher, [&] { return !backend->healthy(); }));
  CHECK(backend->counters.healthChecksFailed >= 2);
  CHECK(wentDown == std::vector<std::string>{backend->name()});

  std::string error;
  core::Fd again = net::listenOn(address, false, &error);
  REQUIRE(again);
  REQUIRE(testing::runUntil(dispatcher, [&] { return backend->healthy(); }));
  CHECK(wentDown.size() == 1);
}

TEST_CASE("HealthChecker keeps an initially unhealthy backend out until it passes", "[health]") {
  core::Dispatcher dispatcher;
  testing::LoopbackListener listener;
  REQUIRE(listener.fd);
  auto cluster = checkedCluster(listener.address, /*startHealthy=*/false);
  auto backend = cluster->backends().front();
  HealthChecker checker(dispatcher, nullptr);
  checker.sync({cluster});
  REQUIRE(testing::runUntil(dispatcher, [&] { return backend->counters.healthChecksOk >= 1; }));
  if (backend->counters.healthChecksOk == 1) CHECK_FALSE(backend->healthy());
  REQUIRE(testing::runUntil(dispatcher, [&] { return backend->healthy(); }));
  CHECK(backend->counters.healthChecksOk >= 2);
}

TEST_CASE("HealthChecker follows the cluster's backend list", "[health]") {
  core::Dispatcher dispatcher;
  auto cluster = checkedCluster(testing::closedPort());
  HealthChecker checker(dispatcher, nullptr);
  checker.sync({cluster});
  CHECK(checker.checkCount() == 1);
  auto more = cluster->backends();
  more.push_back(testing::makeBackend(testing::closedPort()));
  cluster->setBackends(more);
  checker.sync({cluster});
  CHECK(checker.checkCount() == 2);
  cluster->setBackends({more.back()});
  checker.sync({cluster});
  CHECK(checker.checkCount() == 1);
  checker.sync({});
  CHECK(checker.checkCount() == 0);
}

}  // namespace
}  // namespace sluice::health
