#include "config/ip_prefix.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace sluice::config {

Parsed<IpPrefix> parseIpPrefix(std::string_view text) {
  const std::string quoted = "'" + std::string(text) + "'";
  IpPrefix prefix;
  const size_t slash = text.find('/');
  const std::string address(text.substr(0, slash));
  if (inet_pton(AF_INET, address.c_str(), prefix.bytes) == 1) {
    prefix.v6 = false;
  } else if (inet_pton(AF_INET6, address.c_str(), prefix.bytes) == 1) {
    prefix.v6 = true;
  } else {
    return {std::nullopt, "invalid network " + quoted +
                              ": expected an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8"};
  }
  const unsigned maxLength = prefix.v6 ? 128 : 32;
  unsigned length = maxLength;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), length);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() ||
        length > maxLength) {
      return {std::nullopt,
              "invalid prefix length in " + quoted + ": expected 0.." + std::to_string(maxLength)};
    }
  }
  prefix.length = static_cast<uint8_t>(length);
  IpPrefix network = prefix;
  for (unsigned bit = length; bit < maxLength; ++bit)
    network.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80u >> (bit % 8)));
  if (!std::equal(std::begin(prefix.bytes), std::end(prefix.bytes), std::begin(network.bytes))) {
    return {std::nullopt, "invalid network " + quoted + ": address bits set past /" +
                              std::to_string(length) + "; did you mean '" + network.toString() +
                              "'?"};
  }
  return {network, ""};
}

bool prefixContains(const IpPrefix& network, const uint8_t* address) {
  const unsigned full = network.length / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (address[i] != network.bytes[i]) return false;
  }
  const unsigned rest = network.length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<uint8_t>(0xFFu << (8 - rest));
  return (address[full] & mask) == network.bytes[full];
}

std::string IpPrefix::toString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text);
  return std::string(text) + "/" + std::to_string(length);
}

}  // namespace sluice::config
