// Worker side of a configuration reload.
//
// Theory of operation. The Server builds and validates a whole new Runtime
// on the main thread and posts it to every worker; applyRuntime() runs on
// the worker's own loop, so nothing here needs a lock:
//
//   old runtime_ ──applyRuntime(new)──► runtime_ = new
//     listeners:  same address  -> same socket, now feeding the new ListenerRuntime
//                 new address   -> socket bound by the Server, posted here
//                 gone          -> closed (sessions it accepted keep running)
//     pools:      old clusters' pools drain (idle upstreams close at once);
//                 new clusters' pools pre-warm on the next maintenance turn
//     sessions:   untouched; each holds shared_ptrs to its ListenerRuntime
//                 and Cluster, so it finishes on the snapshot it started with
//
// Balancers and pools of an old cluster stay in their maps (keyed by raw
// pointer, kept valid by the shared_ptr the entry holds) while a session may
// still call back into them; pruneRetired() drops them once nothing else
// references the cluster. Backends reused by the new snapshot keep their
// slot counts, so the per-backend cap holds across the swap.

#include <algorithm>

#include "core/log.h"
#include "process/worker.h"

namespace sluice::process {

std::unique_ptr<Worker::BoundListener> Worker::bindListener(
    std::shared_ptr<ListenerRuntime> runtime, core::Fd socket) {
  auto bound = std::make_unique<BoundListener>();
  BoundListener* raw = bound.get();
  bound->address = runtime->config.address.toString();
  bound->runtime = std::move(runtime);
  bound->socket =
      std::make_unique<net::Listener>(dispatcher_, bound->runtime->config.name, std::move(socket),
                                      [this, raw](core::Fd fd, const net::SocketAddress& client) {
                                        // Copy: a reload inside onAccept must not free the snapshot
                                        // under it.
                                        auto listener = raw->runtime;
                                        onAccept(listener, std::move(fd), client);
                                      });
  return bound;
}

void Worker::adoptClusters() {
  warmClusters_ = runtime_->clusters;
  // Every cluster gets its balancer while it is current, so a session always
  // finds one for the cluster it started with, even after a reload.
  for (const auto& cluster : warmClusters_) {
    auto& slot = balancers_[cluster.get()];
    if (!slot) slot = std::make_unique<upstream::LoadBalancer>(cluster);
  }
}

bool Worker::isWarm(const upstream::Cluster* cluster) const {
  for (const auto& c : warmClusters_) {
    if (c.get() == cluster) return true;
  }
  return false;
}

void Worker::applyRuntime(RuntimePtr runtime, OpenedSockets opened) {
  if (draining_) return;  // the Server refuses reloads while draining; belt and braces
  std::vector<std::unique_ptr<BoundListener>> kept;
  for (const auto& listener : runtime->listeners) {
    const std::string address = listener->config.address.toString();
    auto it = std::find_if(listeners_.begin(), listeners_.end(),
                           [&](const auto& b) { return b && b->address == address; });
    if (it != listeners_.end()) {
      (*it)->runtime = listener;
      kept.push_back(std::move(*it));
      continue;
    }
    for (auto& [openedAddress, fd] : opened) {
      if (openedAddress == address && fd) {
        kept.push_back(bindListener(listener, std::move(fd)));
        break;
      }
    }
  }
  for (auto& gone : listeners_) {
    if (gone) {
      log::info("listener ", gone->runtime->config.name, " on ", gone->address,
                " closed by reload");
      gone->socket->close();
    }
  }
  listeners_ = std::move(kept);

  runtime_ = std::move(runtime);
  adoptClusters();
  // Old pools: close their idle connections now and pre-warm no more.
  for (auto& [key, pool] : pools_) {
    if (!isWarm(key.first)) pool->drain();
  }
  pruneRetired();
  maintain();  // pre-warm the new pools at once
}

void Worker::pruneRetired() {
  for (auto it = pools_.begin(); it != pools_.end();) {
    // A pool an old session re-created (a connect retry, an http response
    // handing its connection back) closes what it got at the next turn.
    if (!isWarm(it->first.first)) it->second->drain();
    const bool retired = !isWarm(it->first.first) && it->second->idleCount() == 0 &&
                         it->second->connectingCount() == 0;
    it = retired ? pools_.erase(it) : std::next(it);
  }
  for (auto it = balancers_.begin(); it != balancers_.end();) {
    // use_count 1: only this balancer holds the cluster, so no session,
    // pool or snapshot can come back for it.
    const bool retired = !isWarm(it->first) && it->second->cluster().use_count() == 1;
    it = retired ? balancers_.erase(it) : std::next(it);
  }
}

}  // namespace sluice::process
