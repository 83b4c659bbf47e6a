#pragma once

// PROXY protocol (HAProxy's, versions 1 and 2): the header a load balancer
// sends before the client's bytes to say who the client really is. Pure
// codec: bytes in, addresses out, and back. No sockets, no allocation on the
// parse path.
//
// Parsing is incremental in the simplest way: the caller keeps the bytes
// received so far and calls parse() on all of them after each read. The
// header is small (v1 <= 107 bytes, v2 <= kV2MaxBytes), so re-reading is
// cheap, and parse() decides as early as the bytes allow:
//
//   bytes so far ──parse()──┬─ NeedMore  read more (keep a timeout on it)
//                           ├─ Done      drop `consumed` bytes; the rest is the client's
//                           └─ Error     close the connection
//
// v1:  "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n"
//      "PROXY TCP6 2001:db8::1 ::1 56324 443\r\n"
//      "PROXY UNKNOWN ...\r\n"            (addresses unknown: use the socket's)
// v2:  12-byte signature \r\n\r\n\0\r\nQUIT\n, then
//      ver|cmd (0x20 LOCAL, 0x21 PROXY), family|transport (0x11 TCP4,
//      0x21 TCP6), a 16-bit big-endian length, the address block
//      (4+4+2+2 or 16+16+2+2 bytes), then TLVs (skipped).

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace sluice::net::proxy_protocol {

inline constexpr size_t kV1MaxBytes = 107;   // including the CRLF
inline constexpr size_t kV2MaxBytes = 4096;  // whole header; longer ones are refused
inline constexpr size_t kV2FixedBytes = 16;  // signature, ver|cmd, fam|proto, length
inline constexpr size_t kSignatureBytes = 12;

enum class Status { NeedMore, Done, Error };

struct ParseResult {
  Status status = Status::NeedMore;

  // When Done:
  size_t consumed = 0;   // header bytes; what follows belongs to the client
  int version = 0;       // 1 or 2
  bool isLocal = false;  // v2 LOCAL: the balancer's own connection (health check)
  // AF_INET / AF_INET6, or AF_UNSPEC when the header names no addresses
  // (v1 UNKNOWN, v2 LOCAL, v2 UNSPEC/UNIX): then use the socket's own.
  sockaddr_storage source{};
  sockaddr_storage destination{};

  // When Error: a static string, e.g. "v1: bad source port".
  const char* error = nullptr;

  bool hasAddresses() const { return source.ss_family != AF_UNSPEC; }
};

// Looks at the first `len` bytes received on a connection.
ParseResult parse(const uint8_t* data, size_t len);

// A v1 line for a TCP connection from `source` to `destination`. Both IPv4
// gives TCP4; an IPv6 on either side gives TCP6 (IPv4 written as
// ::ffff:a.b.c.d); anything else, or null, gives "PROXY UNKNOWN\r\n".
std::string encodeV1(const sockaddr* source, const sockaddr* destination);
std::string encodeV1(const sockaddr_storage& source, const sockaddr_storage& destination);

// A v2 PROXY header (no TLVs) with the same family rules; anything else gives
// the UNSPEC family with no addresses.
std::string encodeV2(const sockaddr* source, const sockaddr* destination);
std::string encodeV2(const sockaddr_storage& source, const sockaddr_storage& destination);
// A v2 LOCAL header: for connections sluice makes on its own (health checks).
std::string encodeV2Local();

}  // namespace sluice::net::proxy_protocol
