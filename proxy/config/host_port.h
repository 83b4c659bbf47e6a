#pragma once

// Parsing of "host:port" addresses:
//   127.0.0.1:80      an IPv4 literal (exactly four dotted parts)
//   [::1]:80          an IPv6 literal, always in brackets
//   db.internal:5432  a DNS name (isName = true), re-resolved by the proxy
// The port is 1..65535; nothing else (no scheme, no path, no zone) is taken.

#include <string_view>

#include "config/config.h"
#include "config/units.h"

namespace sluice::config {

Parsed<HostPort> parseHostPort(std::string_view text);

// 0.0.0.0 or ::, which overlap every other address on the same port.
bool isWildcard(const HostPort& address);

}  // namespace sluice::config
