#include "upstream/outlier.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "../../fakes/cluster_builder.h"

namespace sluice::upstream {
namespace {

using namespace std::chrono_literals;

config::OutlierDetection outlierConfig(uint32_t failures, uint32_t maxPercent = 50) {
  return config::OutlierDetection{failures, 1000ms, 5000ms, maxPercent};
}

std::vector<std::shared_ptr<Backend>> backends(int count) {
  std::vector<std::shared_ptr<Backend>> out;
  for (int i = 0; i < count; ++i)
    out.push_back(testing::makeBackend("10.1.0." + std::to_string(i + 1), 80));
  return out;
}

TEST_CASE("Outlier detector ejects after consecutive failures", "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(3));
  auto all = backends(4);
  auto& b = *all[0];
  CHECK_FALSE(detector.onFailure(b, all, 100));
  CHECK_FALSE(detector.onFailure(b, all, 100));
  CHECK(detector.onFailure(b, all, 100));
  CHECK(b.ejectedUntilMs() == 1100);
  CHECK_FALSE(b.available(500));
  CHECK(b.available(1100));
  CHECK(detector.ejectionsTotal() == 1);
}

TEST_CASE("Outlier detector success resets the failure count", "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(2));
  auto all = backends(4);
  auto& b = *all[1];
  CHECK_FALSE(detector.onFailure(b, all, 0));
  detector.onSuccess(b);
  CHECK_FALSE(detector.onFailure(b, all, 0));
  CHECK(b.ejectedUntilMs() == 0);
}

TEST_CASE("Outlier detector: a connect success ends a run of connect failures only",
          "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(3));
  auto all = backends(4);
  auto& b = *all[0];
  CHECK_FALSE(detector.onFailure(b, all, 0));
  CHECK_FALSE(detector.onFailure(b, all, 0));
  detector.onConnectSuccess(b);
  CHECK(b.consecutiveFailures.load() == 0);
  // Accepts connections but never answers: connects succeed between the
  // request failures, and the run goes on.
  CHECK_FALSE(detector.onRequestFailure(b, all, 0));
  detector.onConnectSuccess(b);
  CHECK_FALSE(detector.onRequestFailure(b, all, 0));
  detector.onConnectSuccess(b);
  CHECK(detector.onRequestFailure(b, all, 0));
  CHECK(b.ejectedUntilMs() == 1000);
  CHECK_FALSE(b.requestFailureInRun.load());  // the next run starts clean
}

TEST_CASE("Outlier detector: a request success ends a run of request failures",
          "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(2));
  auto all = backends(4);
  auto& b = *all[0];
  CHECK_FALSE(detector.onRequestFailure(b, all, 0));
  detector.onSuccess(b);
  CHECK_FALSE(detector.onRequestFailure(b, all, 0));
  CHECK(b.ejectedUntilMs() == 0);
  // After the success, connect successes reset plain failures again.
  detector.onSuccess(b);
  CHECK_FALSE(detector.onFailure(b, all, 0));
  detector.onConnectSuccess(b);
  CHECK_FALSE(detector.onFailure(b, all, 0));
  CHECK(b.ejectedUntilMs() == 0);
}

TEST_CASE("Outlier detector doubles repeated ejections up to the maximum", "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(1, 100));
  auto all = backends(2);
  auto& b = *all[0];
  int64_t now = 10;
  std::vector<int64_t> durations;
  for (int i = 0; i < 5; ++i) {
    REQUIRE(detector.onFailure(b, all, now));
    durations.push_back(b.ejectedUntilMs() - now);
    now = b.ejectedUntilMs();  // fails again as soon as it is back
  }
  CHECK(durations == std::vector<int64_t>{1000, 2000, 4000, 5000, 5000});
}

TEST_CASE("Outlier detector multiplier resets after a quiet max_ejection_time",
          "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(1, 100));
  auto all = backends(2);
  auto& b = *all[0];
  REQUIRE(detector.onFailure(b, all, 0));
  REQUIRE(detector.onFailure(b, all, 1000));
  CHECK(b.ejectedUntilMs() == 3000);
  REQUIRE(detector.onFailure(b, all, 3000 + 5000));
  CHECK(b.ejectedUntilMs() == 8000 + 1000);
}

TEST_CASE("Outlier detector never ejects more than max_ejection_percent", "[upstream][outlier]") {
  OutlierDetector detector(outlierConfig(1, 50));
  auto all = backends(2);
  CHECK(detector.onFailure(*all[0], all, 0));
  CHECK_FALSE(detector.onFailure(*all[1], all, 0));
  CHECK_FALSE(detector.onFailure(*all[1], all, 0));
  CHECK(all[1]->available(0));
  CHECK(detector.ejectionsRefused() == 2);
  // Once the first is back, the second may go.
  CHECK(detector.onFailure(*all[1], all, 1000));
}

TEST_CASE("Outlier detector without config does nothing", "[upstream][outlier]") {
  OutlierDetector detector(std::nullopt);
  auto all = backends(2);
  for (int i = 0; i < 100; ++i)
    CHECK_FALSE(detector.onFailure(*all[0], all, 0));
  CHECK(all[0]->consecutiveFailures.load() == 0);
}

TEST_CASE("Cluster swaps its backend list and bumps the generation", "[upstream][cluster]") {
  auto first = backends(2);
  auto cluster = testing::makeCluster(config::Balance::HashClientIp, first);
  const uint64_t before = cluster->generation();
  auto next = first;
  next.push_back(testing::makeBackend("10.1.0.9", 80));
  cluster->setBackends(next);
  CHECK(cluster->generation() == before + 1);
  CHECK(cluster->backends() == next);
  CHECK(cluster->ringLookup(12345, 0) >= 0);
}

}  // namespace
}  // namespace sluice::upstream
