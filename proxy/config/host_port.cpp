#include "config/host_port.h"

#include <arpa/inet.h>

#include <string>

namespace sluice::config {
namespace {

bool isIpv4(const std::string& host) {
  in_addr out{};
  return inet_pton(AF_INET, host.c_str(), &out) == 1;
}

// The canonical text of an IPv6 literal ("0:0::1" -> "::1"), or "" if invalid.
std::string canonicalIpv6(const std::string& host) {
  in6_addr out{};
  if (inet_pton(AF_INET6, host.c_str(), &out) != 1) return "";
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET6, &out, text, sizeof text) == nullptr) return "";
  return text;
}

bool isLabelChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// RFC 1123 host name: dot-separated labels of 1..63 letters, digits and
// hyphens, no hyphen at either end, at most 253 characters in all.
bool isDnsName(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    if (dot == std::string_view::npos) dot = host.size();
    std::string_view label = host.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!isLabelChar(c)) return false;
    }
    start = dot + 1;
  }
  return true;
}

bool allDigitsAndDots(std::string_view host) {
  for (char c : host) {
    if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

}  // namespace

Parsed<HostPort> parseHostPort(std::string_view text) {
  const std::string prefix = "invalid address '" + std::string(text) + "': ";
  auto fail = [&](const std::string& why) { return Parsed<HostPort>::fail(prefix + why); };

  HostPort result;
  std::string_view portText;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return fail("missing ']' after the IPv6 address");
    result.host = std::string(text.substr(1, close - 1));
    std::string_view rest = text.substr(close + 1);
    if (!rest.starts_with(':')) return fail("missing ':port' after ']'");
    portText = rest.substr(1);
    std::string canonical = canonicalIpv6(result.host);
    if (canonical.empty()) return fail("'" + result.host + "' is not a valid IPv6 address");
    result.host = std::move(canonical);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return fail("missing ':port'");
    result.host = std::string(text.substr(0, colon));
    portText = text.substr(colon + 1);
    if (result.host.empty()) return fail("missing host before ':'");
    if (result.host.find(':') != std::string::npos) {
      return fail("IPv6 addresses need brackets, e.g. [::1]:8080");
    }
    if (allDigitsAndDots(result.host)) {
      if (!isIpv4(result.host)) return fail("'" + result.host + "' is not a valid IPv4 address");
    } else if (isDnsName(result.host)) {
      result.isName = true;
    } else {
      return fail("'" + result.host + "' is not a valid host name or IP address");
    }
  }
  if (portText.empty()) return fail("missing port");
  auto port = parseDigits(portText);
  if (!port) return fail("port '" + std::string(portText) + "' is not a number");
  if (*port < 1 || *port > 65535) {
    return fail("port " + std::string(portText) + " is out of range (1..65535)");
  }
  result.port = static_cast<uint16_t>(*port);
  return {std::move(result), {}};
}

bool isWildcard(const HostPort& address) {
  return !address.isName && (address.host == "0.0.0.0" || address.host == "::");
}

}  // namespace sluice::config
