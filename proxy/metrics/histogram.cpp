#include "metrics/histogram.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace sluice::metrics {
namespace {

constexpr std::array<double, 16> kLatency{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                          0.25,   0.5,   1,      2.5,   5,    10,    20,   30};
constexpr std::array<double, 13> kCounts{1,   2,   5,    10,   20,   50,   100,
                                         200, 500, 1000, 2000, 5000, 10000};

}  // namespace

std::span<const double> Histogram::latencyBounds() {
  return kLatency;
}

std::span<const double> Histogram::countBounds() {
  return kCounts;
}

Histogram::Histogram(std::span<const double> bounds, double scale)
    : bounds_(bounds.begin(), bounds.end()),
      scale_(scale),
      buckets_(std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1)) {}

void Histogram::observe(double value) {
  if (!(value >= 0)) value = 0;  // also catches NaN
  const auto index = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                         bounds_.begin());
  buckets_[index].fetch_add(1, std::memory_order_relaxed);
  scaledSum_.fetch_add(static_cast<uint64_t>(std::llround(value * scale_)),
                       std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.count = running;
  s.sum = static_cast<double>(scaledSum_.load(std::memory_order_relaxed)) / scale_;
  return s;
}

}  // namespace sluice::metrics
