#include "core/clock.h"

#include <catch2/catch.hpp>
#include <cmath>

namespace sluice::core {
namespace {

TEST_CASE("monotonicMs never goes backwards", "[core][clock]") {
  int64_t previous = monotonicMs();
  for (int i = 0; i < 100000; ++i) {
    const int64_t now = monotonicMs();
    REQUIRE(now >= previous);
    previous = now;
  }
}

TEST_CASE("monotonicSeconds never goes backwards and is finer than a millisecond",
          "[core][clock]") {
  double previous = monotonicSeconds();
  bool sawSubMillisecondStep = false;
  for (int i = 0; i < 100000; ++i) {
    const double now = monotonicSeconds();
    REQUIRE(now >= previous);
    if (now > previous && now - previous < 0.001) sawSubMillisecondStep = true;
    previous = now;
  }
  CHECK(sawSubMillisecondStep);
}

TEST_CASE("monotonicMs and monotonicSeconds read the same clock within its coarseness",
          "[core][clock]") {
  const double precise = monotonicSeconds() * 1000.0;
  const auto coarse = static_cast<double>(monotonicMs());
  // CLOCK_MONOTONIC_COARSE lags by at most a scheduler tick (a few ms).
  CHECK(std::fabs(precise - coarse) < 50.0);
}

}  // namespace
}  // namespace sluice::core
