#pragma once

// Rules between fields, checked after every field has been read: names are
// unique, listeners point at clusters that exist, no two sockets overlap,
// and related numbers agree (pool.min_idle <= pool.max_connections, ...).
// Errors point at the positions the readers recorded in Diagnostics.

#include "config/config.h"
#include "config/diagnostics.h"

namespace sluice::config {

void validate(const Config& config, Diagnostics& diag);

// True when binding both would clash: same port and the same host, or one
// of them a wildcard (0.0.0.0 covers IPv4, :: covers everything).
bool addressesOverlap(const HostPort& a, const HostPort& b);

}  // namespace sluice::config
