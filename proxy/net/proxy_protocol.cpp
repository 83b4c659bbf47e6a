#include "net/proxy_protocol.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace sluice::net::proxy_protocol {
namespace {

constexpr uint8_t kSignature[kSignatureBytes] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::string_view kV1Prefix = "PROXY ";

// v2 byte 13: version in the high nibble, command in the low one.
constexpr uint8_t kV2Version = 0x2;
constexpr uint8_t kCommandLocal = 0x0;
constexpr uint8_t kCommandProxy = 0x1;
// v2 byte 14: address family in the high nibble, transport in the low one.
constexpr uint8_t kFamilyUnspec = 0x0;
constexpr uint8_t kFamilyInet = 0x1;
constexpr uint8_t kFamilyInet6 = 0x2;
constexpr uint8_t kFamilyUnix = 0x3;
constexpr uint8_t kTransportStream = 0x1;
constexpr uint8_t kTransportMax = 0x2;  // DGRAM
// Address block sizes per family.
constexpr size_t kInetBlock = 4 + 4 + 2 + 2;
constexpr size_t kInet6Block = 16 + 16 + 2 + 2;
constexpr size_t kUnixBlock = 108 + 108;

enum class V1Protocol { Tcp4, Tcp6, Unknown };

struct V1Token {
  std::string_view text;
  V1Protocol protocol;
};
constexpr V1Token kV1Tokens[] = {
    {"TCP4 ", V1Protocol::Tcp4},
    {"TCP6 ", V1Protocol::Tcp6},
    {"UNKNOWN", V1Protocol::Unknown},
};

ParseResult needMore() {
  return ParseResult{};
}

ParseResult error(const char* reason) {
  ParseResult result;
  result.status = Status::Error;
  result.error = reason;
  return result;
}

ParseResult done(int version, size_t consumed) {
  ParseResult result;
  result.status = Status::Done;
  result.version = version;
  result.consumed = consumed;
  return result;
}

// Whether `c` may appear in the address/port part of a TCP4 or TCP6 line.
bool allowedV1Char(V1Protocol protocol, uint8_t c) {
  if (c == ' ' || (c >= '0' && c <= '9') || c == '.') return true;
  if (protocol != V1Protocol::Tcp6) return false;
  return c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// A decimal port: 1-5 digits, no leading zero, at most 65535.
bool parsePort(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  if (text.size() > 1 && text[0] == '0') return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

// Fills `out` from an address literal of the given family and a port.
bool parseAddress(std::string_view text, uint16_t port, int family, sockaddr_storage& out) {
  char buffer[INET6_ADDRSTRLEN + 1];
  if (text.empty() || text.size() >= sizeof(buffer)) return false;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  out = sockaddr_storage{};
  if (family == AF_INET) {
    sockaddr_in in{};
    if (inet_pton(AF_INET, buffer, &in.sin_addr) != 1) return false;
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&out, &in, sizeof(in));
    return true;
  }
  sockaddr_in6 in6{};
  if (inet_pton(AF_INET6, buffer, &in6.sin6_addr) != 1) return false;
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&out, &in6, sizeof(in6));
  return true;
}

// "src dst sport dport" of a TCP4/TCP6 line, separated by single spaces.
ParseResult parseV1Addresses(std::string_view fields, V1Protocol protocol, size_t consumed) {
  std::string_view parts[4];
  for (size_t i = 0; i < 4; ++i) {
    size_t space = fields.find(' ');
    if (i < 3 && space == std::string_view::npos) return error("v1: too few fields");
    if (i == 3 && space != std::string_view::npos) return error("v1: too many fields");
    parts[i] = fields.substr(0, space);
    if (parts[i].empty()) return error("v1: empty field");
    if (i < 3) fields.remove_prefix(space + 1);
  }
  uint16_t sourcePort = 0;
  uint16_t destinationPort = 0;
  if (!parsePort(parts[2], sourcePort)) return error("v1: bad source port");
  if (!parsePort(parts[3], destinationPort)) return error("v1: bad destination port");
  int family = protocol == V1Protocol::Tcp4 ? AF_INET : AF_INET6;
  ParseResult result = done(1, consumed);
  if (!parseAddress(parts[0], sourcePort, family, result.source)) {
    return error("v1: bad source address");
  }
  if (!parseAddress(parts[1], destinationPort, family, result.destination)) {
    return error("v1: bad destination address");
  }
  return result;
}

ParseResult parseV1(const uint8_t* data, size_t len) {
  const char* text = reinterpret_cast<const char*>(data);
  size_t prefix = std::min(len, kV1Prefix.size());
  if (std::memcmp(text, kV1Prefix.data(), prefix) != 0) return error("not a PROXY header");
  if (len <= kV1Prefix.size()) return needMore();

  // The protocol token, checked byte by byte against the three we know.
  std::string_view rest(text + kV1Prefix.size(), len - kV1Prefix.size());
  const V1Token* token = nullptr;
  bool couldMatch = false;
  for (const auto& candidate : kV1Tokens) {
    size_t n = std::min(rest.size(), candidate.text.size());
    if (rest.substr(0, n) != candidate.text.substr(0, n)) continue;
    couldMatch = true;
    if (rest.size() >= candidate.text.size()) token = &candidate;
  }
  if (!couldMatch) return error("v1: unknown protocol (not TCP4, TCP6 or UNKNOWN)");
  if (!token) return needMore();

  const size_t start = kV1Prefix.size() + token->text.size();
  if (token->protocol == V1Protocol::Unknown && len > start && data[start] != ' ' &&
      data[start] != '\r') {
    return error("v1: unknown protocol (not TCP4, TCP6 or UNKNOWN)");
  }
  // The CR must leave room for its LF within kV1MaxBytes.
  const size_t lastCr = kV1MaxBytes - 2;
  for (size_t i = start; i < len && i <= lastCr; ++i) {
    uint8_t c = data[i];
    if (c == '\r') {
      if (i + 1 == len) return needMore();
      if (data[i + 1] != '\n') return error("v1: CR not followed by LF");
      if (token->protocol == V1Protocol::Unknown) return done(1, i + 2);
      return parseV1Addresses(std::string_view(text + start, i - start), token->protocol, i + 2);
    }
    if (token->protocol == V1Protocol::Unknown) {
      if (c == '\n') return error("v1: LF without CR");
    } else if (!allowedV1Char(token->protocol, c)) {
      return error("v1: unexpected character");
    }
  }
  if (len > lastCr) return error("v1: no CRLF within 107 bytes");
  return needMore();
}

uint16_t readBigEndian16(const uint8_t* p) {
  return static_cast<uint16_t>((static_cast<uint16_t>(p[0]) << 8) | p[1]);
}

ParseResult parseV2(const uint8_t* data, size_t len) {
  size_t prefix = std::min(len, kSignatureBytes);
  if (std::memcmp(data, kSignature, prefix) != 0) return error("not a PROXY header");
  if (len <= kSignatureBytes) return needMore();

  const uint8_t version = data[12] >> 4;
  const uint8_t command = data[12] & 0x0F;
  if (version != kV2Version) return error("v2: unsupported version");
  if (command != kCommandLocal && command != kCommandProxy) return error("v2: unknown command");
  if (len < 14) return needMore();

  const uint8_t family = data[13] >> 4;
  const uint8_t transport = data[13] & 0x0F;
  if (family > kFamilyUnix) return error("v2: unknown address family");
  if (transport > kTransportMax) return error("v2: unknown transport");
  if (len < kV2FixedBytes) return needMore();

  const size_t payload = readBigEndian16(data + 14);
  const size_t total = kV2FixedBytes + payload;
  if (total > kV2MaxBytes) return error("v2: header longer than 4096 bytes");
  if (command == kCommandProxy) {
    size_t block = family == kFamilyInet    ? kInetBlock
                   : family == kFamilyInet6 ? kInet6Block
                   : family == kFamilyUnix  ? kUnixBlock
                                            : 0;
    if (payload < block) return error("v2: length too short for the address family");
  }
  if (len < total) return needMore();

  ParseResult result = done(2, total);
  if (command == kCommandLocal) {
    result.isLocal = true;
    return result;
  }
  const uint8_t* block = data + kV2FixedBytes;
  if (family == kFamilyInet) {
    sockaddr_in source{};
    sockaddr_in destination{};
    source.sin_family = destination.sin_family = AF_INET;
    std::memcpy(&source.sin_addr, block, 4);
    std::memcpy(&destination.sin_addr, block + 4, 4);
    std::memcpy(&source.sin_port, block + 8, 2);  // both sides are network order
    std::memcpy(&destination.sin_port, block + 10, 2);
    std::memcpy(&result.source, &source, sizeof(source));
    std::memcpy(&result.destination, &destination, sizeof(destination));
  } else if (family == kFamilyInet6) {
    sockaddr_in6 source{};
    sockaddr_in6 destination{};
    source.sin6_family = destination.sin6_family = AF_INET6;
    std::memcpy(&source.sin6_addr, block, 16);
    std::memcpy(&destination.sin6_addr, block + 16, 16);
    std::memcpy(&source.sin6_port, block + 32, 2);
    std::memcpy(&destination.sin6_port, block + 34, 2);
    std::memcpy(&result.source, &source, sizeof(source));
    std::memcpy(&result.destination, &destination, sizeof(destination));
  }
  // UNSPEC and UNIX carry no address sluice can use: AF_UNSPEC tells the
  // caller to keep the socket's own.
  return result;
}

// IPv4 as an IPv4-mapped IPv6 address, IPv6 as is; false for anything else.
bool asInet6(const sockaddr* address, sockaddr_in6& out) {
  out = sockaddr_in6{};
  out.sin6_family = AF_INET6;
  if (address == nullptr) return false;
  if (address->sa_family == AF_INET6) {
    std::memcpy(&out, address, sizeof(out));
    return true;
  }
  if (address->sa_family != AF_INET) return false;
  sockaddr_in in;
  std::memcpy(&in, address, sizeof(in));
  out.sin6_port = in.sin_port;
  out.sin6_addr.s6_addr[10] = 0xFF;
  out.sin6_addr.s6_addr[11] = 0xFF;
  std::memcpy(&out.sin6_addr.s6_addr[12], &in.sin_addr, 4);
  return true;
}

bool bothInet(const sockaddr* a, const sockaddr* b) {
  return a != nullptr && b != nullptr && a->sa_family == AF_INET && b->sa_family == AF_INET;
}

sockaddr_in asInet(const sockaddr* address) {
  sockaddr_in in;
  std::memcpy(&in, address, sizeof(in));
  return in;
}

void appendBigEndian16(std::string& out, uint16_t value) {
  out.push_back(static_cast<char>(value >> 8));
  out.push_back(static_cast<char>(value & 0xFF));
}

void appendBytes(std::string& out, const void* bytes, size_t n) {
  out.append(static_cast<const char*>(bytes), n);
}

std::string v2Fixed(uint8_t command, uint8_t familyTransport, uint16_t payload) {
  std::string out(reinterpret_cast<const char*>(kSignature), kSignatureBytes);
  out.push_back(static_cast<char>((kV2Version << 4) | command));
  out.push_back(static_cast<char>(familyTransport));
  appendBigEndian16(out, payload);
  return out;
}

}  // namespace

ParseResult parse(const uint8_t* data, size_t len) {
  if (len == 0) return needMore();
  if (data[0] == kV1Prefix[0]) return parseV1(data, len);
  if (data[0] == kSignature[0]) return parseV2(data, len);
  return error("not a PROXY header");
}

std::string encodeV1(const sockaddr* source, const sockaddr* destination) {
  char sourceText[INET6_ADDRSTRLEN];
  char destinationText[INET6_ADDRSTRLEN];
  uint16_t sourcePort = 0;
  uint16_t destinationPort = 0;
  const char* protocol = nullptr;
  if (bothInet(source, destination)) {
    sockaddr_in src = asInet(source);
    sockaddr_in dst = asInet(destination);
    inet_ntop(AF_INET, &src.sin_addr, sourceText, sizeof(sourceText));
    inet_ntop(AF_INET, &dst.sin_addr, destinationText, sizeof(destinationText));
    sourcePort = ntohs(src.sin_port);
    destinationPort = ntohs(dst.sin_port);
    protocol = "TCP4";
  } else {
    sockaddr_in6 src;
    sockaddr_in6 dst;
    if (!asInet6(source, src) || !asInet6(destination, dst)) return "PROXY UNKNOWN\r\n";
    inet_ntop(AF_INET6, &src.sin6_addr, sourceText, sizeof(sourceText));
    inet_ntop(AF_INET6, &dst.sin6_addr, destinationText, sizeof(destinationText));
    sourcePort = ntohs(src.sin6_port);
    destinationPort = ntohs(dst.sin6_port);
    protocol = "TCP6";
  }
  std::string out = "PROXY ";
  out += protocol;
  out += ' ';
  out += sourceText;
  out += ' ';
  out += destinationText;
  out += ' ';
  out += std::to_string(sourcePort);
  out += ' ';
  out += std::to_string(destinationPort);
  out += "\r\n";
  return out;
}

std::string encodeV1(const sockaddr_storage& source, const sockaddr_storage& destination) {
  return encodeV1(reinterpret_cast<const sockaddr*>(&source),
                  reinterpret_cast<const sockaddr*>(&destination));
}

std::string encodeV2(const sockaddr* source, const sockaddr* destination) {
  if (bothInet(source, destination)) {
    sockaddr_in src = asInet(source);
    sockaddr_in dst = asInet(destination);
    std::string out = v2Fixed(kCommandProxy, (kFamilyInet << 4) | kTransportStream, kInetBlock);
    appendBytes(out, &src.sin_addr, 4);
    appendBytes(out, &dst.sin_addr, 4);
    appendBytes(out, &src.sin_port, 2);  // already network order
    appendBytes(out, &dst.sin_port, 2);
    return out;
  }
  sockaddr_in6 src;
  sockaddr_in6 dst;
  if (!asInet6(source, src) || !asInet6(destination, dst)) {
    return v2Fixed(kCommandProxy, kFamilyUnspec << 4, 0);  // UNSPEC, UNSPEC
  }
  std::string out = v2Fixed(kCommandProxy, (kFamilyInet6 << 4) | kTransportStream, kInet6Block);
  appendBytes(out, &src.sin6_addr, 16);
  appendBytes(out, &dst.sin6_addr, 16);
  appendBytes(out, &src.sin6_port, 2);
  appendBytes(out, &dst.sin6_port, 2);
  return out;
}

std::string encodeV2(const sockaddr_storage& source, const sockaddr_storage& destination) {
  return encodeV2(reinterpret_cast<const sockaddr*>(&source),
                  reinterpret_cast<const sockaddr*>(&destination));
}

std::string encodeV2Local() {
  return v2Fixed(kCommandLocal, kFamilyUnspec << 4, 0);
}

}  // namespace sluice::net::proxy_protocol
