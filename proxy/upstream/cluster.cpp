#include "upstream/cluster.h"

#include <algorithm>

#include "core/clock.h"

namespace sluice::upstream {
namespace {

// Points per unit of weight on the hash ring: enough that removing one of a
// few backends moves about 1/N of the clients, few enough to build quickly.
constexpr int kRingPointsPerWeight = 160;

uint64_t mix(uint64_t x) {
  // splitmix64 finaliser: spreads ring points evenly.
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t hashName(const std::string& name) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

const char* toString(ConnectFailure failure) {
  switch (failure) {
    case ConnectFailure::Timeout:
      return "timeout";
    case ConnectFailure::Refused:
      return "refused";
    case ConnectFailure::Error:
      return "error";
    case ConnectFailure::Local:
      return "local";
  }
  return "error";
}

Membership::Membership(BackendList backends, bool buildRing) : backends_(std::move(backends)) {
  if (!buildRing) return;
  for (size_t i = 0; i < backends_.size(); ++i) {
    // Points derive from the backend's address, not its position, so adding
    // a backend leaves the other backends' points where they were.
    const uint64_t seed = hashName(backends_[i]->name());
    const int points = kRingPointsPerWeight * static_cast<int>(backends_[i]->weight());
    for (int p = 0; p < points; ++p)
      ring_.emplace_back(mix(seed + static_cast<uint64_t>(p)), i);
  }
  std::sort(ring_.begin(), ring_.end());
}

int Membership::ringLookup(uint64_t hash, int64_t nowMs) const {
  if (ring_.empty()) return -1;
  const uint64_t key = mix(hash);
  auto it = std::lower_bound(ring_.begin(), ring_.end(), std::make_pair(key, 0));
  for (size_t step = 0; step < ring_.size(); ++step, ++it) {
    if (it == ring_.end()) it = ring_.begin();
    if (backends_[static_cast<size_t>(it->second)]->available(nowMs)) return it->second;
  }
  return -1;
}

Cluster::Cluster(config::ConfigPtr snapshot, const config::Cluster& config, BackendList backends,
                 const Cluster* previous)
    : countersOwner_(previous != nullptr ? previous->countersOwner_
                                         : std::make_shared<ClusterCounters>()),
      counters(*countersOwner_),
      snapshot_(std::move(snapshot)),
      config_(config),
      admission_(previous != nullptr
                     ? previous->admission_
                     : std::make_shared<Admission>(backends, config.pool.maxPending)),
      outlier_(config.outlierDetection),
      membership_(std::make_shared<const Membership>(
          backends, config.balance == config::Balance::HashClientIp)) {
  if (previous != nullptr) admission_->reconfigure(std::move(backends), config.pool.maxPending);
}

MembershipPtr Cluster::membership() const {
  std::lock_guard lock(mutex_);
  return membership_;
}

void Cluster::setBackends(BackendList backends) {
  auto next = std::make_shared<const Membership>(backends,
                                                 config_.balance == config::Balance::HashClientIp);
  admission_->setBackends(std::move(backends));
  {
    std::lock_guard lock(mutex_);
    membership_ = std::move(next);
  }
  generation_.fetch_add(1, std::memory_order_acq_rel);
}

void Cluster::reportFailure(Backend& backend) {
  if (!outlier_.enabled()) return;
  const auto current = membership();
  outlier_.onFailure(backend, current->backends(), core::monotonicMs());
}

void Cluster::reportConnectFailure(Backend& backend, ConnectFailure failure) {
  backend.counters.connectFailures[static_cast<int>(failure)].fetch_add(1,
                                                                        std::memory_order_relaxed);
  if (failure != ConnectFailure::Local) reportFailure(backend);
}

void Cluster::reportRequestFailure(Backend& backend) {
  if (!outlier_.enabled()) return;
  const auto current = membership();
  outlier_.onRequestFailure(backend, current->backends(), core::monotonicMs());
}

bool Cluster::anyAvailable(int64_t nowMs) const {
  const auto current = membership();
  return std::any_of(current->backends().begin(), current->backends().end(),
                     [nowMs](const auto& b) { return b->available(nowMs); });
}

}  // namespace sluice::upstream
