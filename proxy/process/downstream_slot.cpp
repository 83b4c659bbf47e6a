#include "process/downstream_slot.h"

#include <utility>

namespace sluice::process {

DownstreamSlot::DownstreamSlot(DownstreamSlot&& other) noexcept
    : shared_(std::exchange(other.shared_, nullptr)),
      stats_(std::move(other.stats_)),
      perIpLimit_(std::exchange(other.perIpLimit_, 0)),
      keyed_(std::exchange(other.keyed_, false)),
      key_(other.key_) {}

DownstreamSlot& DownstreamSlot::operator=(DownstreamSlot&& other) noexcept {
  if (this != &other) {
    release();
    shared_ = std::exchange(other.shared_, nullptr);
    stats_ = std::move(other.stats_);
    perIpLimit_ = std::exchange(other.perIpLimit_, 0);
    keyed_ = std::exchange(other.keyed_, false);
    key_ = other.key_;
  }
  return *this;
}

std::optional<DownstreamSlot> DownstreamSlot::take(SharedState& shared,
                                                   const ListenerRuntime& listener,
                                                   const net::SocketAddress& peer,
                                                   RejectReason* why, bool trustedProxy) {
  auto& counters = listener.counters;
  if (shared.downstreamActive.fetch_add(1) >= listener.snapshot->limits.maxConnections) {
    shared.downstreamActive.fetch_sub(1);
    *why = RejectReason::MaxConnections;
    return std::nullopt;
  }
  if (counters.active.fetch_add(1) >= listener.config.maxConnections) {
    counters.active.fetch_sub(1);
    shared.downstreamActive.fetch_sub(1);
    *why = RejectReason::MaxConnections;
    return std::nullopt;
  }
  const uint32_t perIp = listener.config.maxConnectionsPerIp;
  const bool keyed = perIp > 0 && !trustedProxy;
  if (keyed && !listener.perIp.tryAdd(peer, perIp)) {
    counters.active.fetch_sub(1);
    shared.downstreamActive.fetch_sub(1);
    *why = RejectReason::PerIp;
    return std::nullopt;
  }
  DownstreamSlot slot;
  slot.shared_ = &shared;
  slot.stats_ = listener.stats;
  slot.perIpLimit_ = perIp;
  slot.keyed_ = keyed;
  slot.key_ = peer;
  return slot;
}

bool DownstreamSlot::moveTo(const net::SocketAddress& client) {
  if (perIpLimit_ == 0 || (keyed_ && client.sameIp(key_))) {
    key_ = client;
    return true;
  }
  if (!stats_->perIp.tryAdd(client, perIpLimit_)) return false;
  if (keyed_) stats_->perIp.remove(key_);
  keyed_ = true;
  key_ = client;
  return true;
}

void DownstreamSlot::release() {
  if (shared_ == nullptr) return;
  if (keyed_) stats_->perIp.remove(key_);
  stats_->counters.active.fetch_sub(1, std::memory_order_relaxed);
  shared_->downstreamActive.fetch_sub(1, std::memory_order_relaxed);
  shared_ = nullptr;
  stats_.reset();
  perIpLimit_ = 0;
  keyed_ = false;
}

}  // namespace sluice::process
