#pragma once

// Histogram: a lock-free, fixed-bucket histogram that worker threads observe
// into and the metrics collector reads at scrape time.
//
// Owner: a listener's or cluster's shared counters (see process/runtime.h,
// upstream/cluster.h). Thread: any. observe() is a handful of relaxed atomic
// adds (one bucket, the count, the sum) — meant for once per connection or
// request, never per byte. The sum is kept as an integer number of
// 1/`scale` units (microseconds for durations) so it is one fetch_add too.
// A scrape that races with observe() may see a count one ahead of a bucket;
// Prometheus tolerates that (the next scrape is consistent again).

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace sluice::metrics {

class Histogram {
 public:
  // Upper bounds in seconds: 0.5ms .. 30s, for connect, queue and request times.
  static std::span<const double> latencyBounds();
  // Requests served on one upstream connection: 1 .. 10000.
  static std::span<const double> countBounds();

  // `bounds` ascending; values above the last land in +Inf.
  explicit Histogram(std::span<const double> bounds = latencyBounds(), double scale = 1e6);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  const double scale_;
  std::unique_ptr<std::atomic<uint64_t>[]> buckets_;  // bounds_.size() + 1 (+Inf)
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> scaledSum_{0};
};

}  // namespace sluice::metrics
