#pragma once

#include <cstdint>

#include "net/fd.h"
#include "upstream/admission.h"

namespace sluice::upstream {

// An open upstream connection and the slot it occupies. Between leases it
// holds no libevent object, so it can move between pools, sessions and even
// workers (Admission::handOff).
struct UpstreamConnection {
  net::Fd fd;
  SlotGuard slot;
  int64_t createdMs = 0;
  uint64_t requests = 0;  // http: requests served on it so far
};

}  // namespace sluice::upstream
