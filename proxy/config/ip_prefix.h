#pragma once

// Parsing of IP networks for `proxy_protocol_trusted`:
//   10.0.0.0/8       an IPv4 network
//   fd00::/8         an IPv6 network
//   127.0.0.1        a single address (/32, or /128 for IPv6)
// Bits set past the prefix length are an error ("10.0.0.1/8"), since they
// usually mean a typo in the length.

#include <string_view>

#include "config/config.h"
#include "config/units.h"

namespace sluice::config {

Parsed<IpPrefix> parseIpPrefix(std::string_view text);

// True when the first `length` bits of `address` (4 or 16 bytes, as
// `network.v6` says) equal the network's.
bool prefixContains(const IpPrefix& network, const uint8_t* address);

}  // namespace sluice::config
