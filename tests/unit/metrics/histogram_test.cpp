#include "metrics/histogram.h"

#include <catch2/catch.hpp>
#include <limits>
#include <thread>
#include <vector>

using sluice::metrics::Histogram;

TEST_CASE("HistogramBucketsAreCumulativeWithInfLast", "[metrics]") {
  const double bounds[] = {0.1, 1, 10};
  Histogram h(bounds);
  h.observe(0.05);
  h.observe(0.1);  // on the bound: counted in le="0.1"
  h.observe(0.5);
  h.observe(100);
  const auto s = h.snapshot();
  REQUIRE(s.cumulative == std::vector<uint64_t>{2, 3, 3, 4});
  REQUIRE(s.count == 4);
  REQUIRE(s.sum == Approx(100.65).epsilon(1e-6));
}

TEST_CASE("HistogramClampsNegativeAndNanToZero", "[metrics]") {
  Histogram h;
  h.observe(-1);
  h.observe(std::numeric_limits<double>::quiet_NaN());
  const auto s = h.snapshot();
  REQUIRE(s.count == 2);
  REQUIRE(s.cumulative.front() == 2);
  REQUIRE(s.sum == 0);
}

TEST_CASE("HistogramCountBoundsKeepIntegerSums", "[metrics]") {
  Histogram h(Histogram::countBounds(), 1);
  h.observe(1);
  h.observe(3);
  h.observe(20000);
  const auto s = h.snapshot();
  REQUIRE(s.sum == 20004);
  REQUIRE(s.cumulative.front() == 1);  // le="1"
  REQUIRE(s.cumulative.back() == 3);
}

TEST_CASE("HistogramObservedFromManyThreadsLosesNothing", "[metrics]") {
  Histogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i)
        h.observe(0.002);
    });
  }
  for (auto& t : threads)
    t.join();
  const auto s = h.snapshot();
  REQUIRE(s.count == 40000);
  REQUIRE(s.sum == Approx(80.0));
}
