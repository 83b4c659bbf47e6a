#include "upstream/load_balancer.h"

#include <algorithm>

#include "core/clock.h"

namespace sluice::upstream {

LoadBalancer::LoadBalancer(std::shared_ptr<Cluster> cluster)
    : cluster_(std::move(cluster)), random_(std::random_device{}()) {
  generation_ = cluster_->generation();
  membership_ = cluster_->membership();
  currentWeight_.assign(membership_->backends().size(), 0);
}

void LoadBalancer::refresh() {
  const uint64_t generation = cluster_->generation();
  if (generation == generation_) return;
  generation_ = generation;
  membership_ = cluster_->membership();
  currentWeight_.assign(membership_->backends().size(), 0);
}

bool LoadBalancer::eligible(size_t index, int64_t nowMs,
                            const std::vector<const Backend*>& exclude) const {
  const Backend* backend = membership_->backends()[index].get();
  return backend->available(nowMs) &&
         std::find(exclude.begin(), exclude.end(), backend) == exclude.end();
}

std::shared_ptr<Backend> LoadBalancer::pick(uint64_t clientHash,
                                            const std::vector<const Backend*>& exclude) {
  refresh();
  const int64_t now = core::monotonicMs();
  int index = -1;
  switch (cluster_->config().balance) {
    case config::Balance::RoundRobin:
      index = pickRoundRobin(now, exclude);
      break;
    case config::Balance::LeastConnections:
      index = pickLeastConnections(now, exclude);
      break;
    case config::Balance::RandomTwo:
      index = pickRandomTwo(now, exclude);
      break;
    case config::Balance::HashClientIp:
      index = membership_->ringLookup(clientHash, now);
      // A retry after a failed connect must go elsewhere: fall back to the
      // next best by connections rather than hashing to the same backend.
      if (index >= 0 && !eligible(static_cast<size_t>(index), now, exclude)) {
        index = pickLeastConnections(now, exclude);
      }
      break;
  }
  if (index < 0) return nullptr;
  return membership_->backends()[static_cast<size_t>(index)];
}

// Smooth weighted round robin: every pick adds each eligible backend's
// weight to its current weight, takes the largest and subtracts the total.
// Weights 5,1,1 give a a b a c a a rather than a a a a a b c.
int LoadBalancer::pickRoundRobin(int64_t nowMs, const std::vector<const Backend*>& exclude) {
  const auto& backends = membership_->backends();
  int best = -1;
  int64_t total = 0;
  for (size_t i = 0; i < backends.size(); ++i) {
    if (!eligible(i, nowMs, exclude)) continue;
    currentWeight_[i] += backends[i]->weight();
    total += backends[i]->weight();
    if (best < 0 || currentWeight_[i] > currentWeight_[static_cast<size_t>(best)]) {
      best = static_cast<int>(i);
    }
  }
  if (best >= 0) currentWeight_[static_cast<size_t>(best)] -= total;
  return best;
}

int LoadBalancer::pickLeastConnections(int64_t nowMs, const std::vector<const Backend*>& exclude) {
  const auto& backends = membership_->backends();
  int best = -1;
  double bestLoad = 0;
  // Start at a random offset so ties spread instead of piling on index 0.
  const size_t n = backends.size();
  const size_t start = n == 0 ? 0 : random_() % n;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (start + k) % n;
    if (!eligible(i, nowMs, exclude)) continue;
    const double load =
        static_cast<double>(backends[i]->activeConnections()) / backends[i]->weight();
    if (best < 0 || load < bestLoad) {
      best = static_cast<int>(i);
      bestLoad = load;
    }
  }
  return best;
}

// Power of two choices: two random eligible backends, the less loaded wins.
int LoadBalancer::pickRandomTwo(int64_t nowMs, const std::vector<const Backend*>& exclude) {
  const auto& backends = membership_->backends();
  std::vector<int> candidates;
  candidates.reserve(backends.size());
  for (size_t i = 0; i < backends.size(); ++i) {
    if (eligible(i, nowMs, exclude)) candidates.push_back(static_cast<int>(i));
  }
  if (candidates.empty()) return -1;
  if (candidates.size() == 1) return candidates[0];
  const size_t a = random_() % candidates.size();
  size_t b = random_() % (candidates.size() - 1);
  if (b >= a) ++b;
  const auto& x = backends[static_cast<size_t>(candidates[a])];
  const auto& y = backends[static_cast<size_t>(candidates[b])];
  const double loadX = static_cast<double>(x->activeConnections()) / x->weight();
  const double loadY = static_cast<double>(y->activeConnections()) / y->weight();
  return loadX <= loadY ? candidates[a] : candidates[b];
}

}  // namespace sluice::upstream
