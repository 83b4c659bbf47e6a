#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace sluice::core {

// Monotonic milliseconds. The coarse clock is a few ms granular and costs no
// syscall, which is all that timeouts and ages need.
inline int64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Precise monotonic seconds, for durations that go into histograms.
inline double monotonicSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace sluice::core
