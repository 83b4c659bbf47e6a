#pragma once

// The backlog every sluice listening socket passes to listen(). The kernel
// silently caps it at net.core.somaxconn; `sluice doctor` warns when that cap
// is lower than this.

namespace sluice::net {

inline constexpr int kListenBacklog = 4096;

}  // namespace sluice::net
