#pragma once

// DownstreamSlot: one accepted downstream connection counted against the
// global `limits.max_connections`, its listener's `max_connections` and, when
// set, `max_connections_per_ip`; destroying the slot uncounts it.
//
// A slot is taken at accept, before anything is read, so a connection still
// sending its PROXY header holds one like a session does: silent sockets
// cannot take more descriptors than the limits allow.
//
// Per-IP key: the socket peer at accept. When a PROXY header from an allowed
// source names the real client, moveTo() re-keys the slot to that client
// (the per-IP limit then applies to clients behind a load balancer, and the
// balancer itself holds a per-IP entry only while a header is pending).
// A peer listed in proxy_protocol_trusted holds none even then
// (`trustedProxy`): a balancer accepts many clients at once, and the accept
// batch takes them all before any header is read, so keying them to the
// balancer refused clients far below their own limit.
//
// Owner: the Worker while the header is read, then the session. Thread: that
// worker. The counters are atomics (and the sharded PerIpTable), shared with
// the other workers.

#include <memory>
#include <optional>

#include "net/address.h"
#include "process/runtime.h"

namespace sluice::process {

class DownstreamSlot {
 public:
  DownstreamSlot() = default;
  ~DownstreamSlot() { release(); }
  DownstreamSlot(DownstreamSlot&& other) noexcept;
  DownstreamSlot& operator=(DownstreamSlot&& other) noexcept;
  DownstreamSlot(const DownstreamSlot&) = delete;
  DownstreamSlot& operator=(const DownstreamSlot&) = delete;

  // Counts a connection from `peer`; nullopt (and nothing counted) when a
  // limit refuses it, with the reason in `why`.
  static std::optional<DownstreamSlot> take(SharedState& shared, const ListenerRuntime& listener,
                                            const net::SocketAddress& peer, RejectReason* why,
                                            bool trustedProxy = false);

  // Re-keys the per-IP entry to `client`; false (slot unchanged) when the
  // client is at its per-IP limit.
  bool moveTo(const net::SocketAddress& client);

 private:
  void release();

  SharedState* shared_ = nullptr;  // null: an empty (moved-from) slot
  std::shared_ptr<ListenerStats> stats_;
  uint32_t perIpLimit_ = 0;  // 0: no per-IP limit
  bool keyed_ = false;       // a per-IP entry for key_ is held
  net::SocketAddress key_;
};

}  // namespace sluice::process
