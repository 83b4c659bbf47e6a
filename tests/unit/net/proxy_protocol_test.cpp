#include "net/proxy_protocol.h"

#include <arpa/inet.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <string>
#include <vector>

namespace sluice::net::proxy_protocol {
namespace {

using namespace std::string_literals;

sockaddr_storage v4(const char* ip, uint16_t port) {
  sockaddr_in in{};
  in.sin_family = AF_INET;
  in.sin_port = htons(port);
  REQUIRE(inet_pton(AF_INET, ip, &in.sin_addr) == 1);
  sockaddr_storage out{};
  std::memcpy(&out, &in, sizeof(in));
  return out;
}

sockaddr_storage v6(const char* ip, uint16_t port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  REQUIRE(inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1);
  sockaddr_storage out{};
  std::memcpy(&out, &in6, sizeof(in6));
  return out;
}

// "192.168.0.1:56324", "[2001:db8::1]:443", "unspec".
std::string describe(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, &address, sizeof(in));
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(in.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, &address, sizeof(in6));
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof(text));
    return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6.sin6_port));
  }
  return "unspec";
}

ParseResult parseString(const std::string& bytes) {
  return parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int value : values)
    out.push_back(static_cast<char>(value));
  return out;
}

const std::string kSignature =
    bytes({0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A});

// Feeds `header` one more byte at a time: every proper prefix must ask for
// more, and the whole must parse to exactly its own length.
ParseResult feedByteAtATime(const std::string& header) {
  for (size_t n = 0; n < header.size(); ++n) {
    auto partial = parse(reinterpret_cast<const uint8_t*>(header.data()), n);
    INFO("prefix of " << n << " bytes");
    REQUIRE(partial.status == Status::NeedMore);
  }
  auto result = parseString(header);
  REQUIRE(result.status == Status::Done);
  CHECK(result.consumed == header.size());
  return result;
}

void requireError(const std::string& input, const char* reason) {
  auto result = parseString(input);
  INFO("input: " << input);
  REQUIRE(result.status == Status::Error);
  CHECK(std::string(result.error) == reason);
}

}  // namespace

// ----- encoders, against bytes written from the spec --------------------------------------

TEST_CASE("EncodeV1Tcp4MatchesTheSpecExample", "[proxy_protocol]") {
  CHECK(encodeV1(v4("192.168.0.1", 56324), v4("192.168.0.11", 443)) ==
        "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
}

TEST_CASE("EncodeV1Tcp6UsesTheCompressedForm", "[proxy_protocol]") {
  CHECK(encodeV1(v6("2001:db8:0:0:0:0:0:1", 56324), v6("::1", 443)) ==
        "PROXY TCP6 2001:db8::1 ::1 56324 443\r\n");
}

TEST_CASE("EncodeV1MixedFamiliesMapsIpv4IntoIpv6", "[proxy_protocol]") {
  CHECK(encodeV1(v4("10.0.0.1", 1000), v6("2001:db8::2", 80)) ==
        "PROXY TCP6 ::ffff:10.0.0.1 2001:db8::2 1000 80\r\n");
}

TEST_CASE("EncodeV1UnknownFamilyIsUnknown", "[proxy_protocol]") {
  sockaddr_storage local{};
  local.ss_family = AF_UNIX;
  CHECK(encodeV1(local, v4("10.0.0.1", 80)) == "PROXY UNKNOWN\r\n");
  CHECK(encodeV1(nullptr, nullptr) == "PROXY UNKNOWN\r\n");
}

TEST_CASE("EncodeV2Tcp4MatchesHandWrittenBytes", "[proxy_protocol]") {
  std::string expected = kSignature + bytes({
                                          0x21,             // v2, PROXY
                                          0x11,             // AF_INET, STREAM
                                          0x00, 0x0C,       // 12 bytes follow
                                          192, 168, 0, 1,   // source
                                          192, 168, 0, 11,  // destination
                                          0xDC, 0x04,       // 56324
                                          0x01, 0xBB,       // 443
                                      });
  CHECK(encodeV2(v4("192.168.0.1", 56324), v4("192.168.0.11", 443)) == expected);
}

TEST_CASE("EncodeV2Tcp6MatchesHandWrittenBytes", "[proxy_protocol]") {
  std::string expected =
      kSignature + bytes({0x21, 0x21, 0x00, 0x24,                          // PROXY, INET6, 36
                          0x20, 0x01, 0x0D, 0xB8, 0, 0, 0, 0, 0, 0, 0, 0,  // 2001:db8::
                          0,    0,    0,    0x01,                          //   ...:1
                          0,    0,    0,    0,    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,  // ::1
                          0x00, 0x50,                                                     // 80
                          0x1F, 0x90});                                                   // 8080
  CHECK(encodeV2(v6("2001:db8::1", 80), v6("::1", 8080)) == expected);
}

TEST_CASE("EncodeV2UnknownFamilyIsUnspec", "[proxy_protocol]") {
  CHECK(encodeV2(nullptr, nullptr) == kSignature + bytes({0x21, 0x00, 0x00, 0x00}));
}

TEST_CASE("EncodeV2LocalHasNoAddresses", "[proxy_protocol]") {
  CHECK(encodeV2Local() == kSignature + bytes({0x20, 0x00, 0x00, 0x00}));
}

// ----- round trips, a byte at a time ------------------------------------------------------

TEST_CASE("V1Tcp4RoundTripsByteAtATime", "[proxy_protocol]") {
  auto header = encodeV1(v4("192.168.0.1", 56324), v4("192.168.0.11", 443));
  auto result = feedByteAtATime(header);
  CHECK(result.version == 1);
  CHECK_FALSE(result.isLocal);
  CHECK(describe(result.source) == "192.168.0.1:56324");
  CHECK(describe(result.destination) == "192.168.0.11:443");
}

TEST_CASE("V1Tcp6RoundTripsByteAtATime", "[proxy_protocol]") {
  auto header =
      encodeV1(v6("2001:db8::1", 0), v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535));
  auto result = feedByteAtATime(header);
  CHECK(describe(result.source) == "[2001:db8::1]:0");
  CHECK(describe(result.destination) == "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
}

TEST_CASE("V1LongestPossibleLineFitsIn107Bytes", "[proxy_protocol]") {
  const char* widest = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255";
  auto header = encodeV1(v6(widest, 65535), v6(widest, 65535));
  CHECK(header.size() <= kV1MaxBytes);
  feedByteAtATime(header);
  // The same fields padded to exactly 107 bytes still parse.
  std::string exact = "PROXY UNKNOWN " + std::string(kV1MaxBytes - 16, 'x') + "\r\n";
  REQUIRE(exact.size() == kV1MaxBytes);
  CHECK(parseString(exact).status == Status::Done);
}

TEST_CASE("V2Tcp4RoundTripsByteAtATime", "[proxy_protocol]") {
  auto header = encodeV2(v4("10.1.2.3", 40000), v4("10.9.8.7", 5432));
  auto result = feedByteAtATime(header);
  CHECK(result.version == 2);
  CHECK_FALSE(result.isLocal);
  CHECK(describe(result.source) == "10.1.2.3:40000");
  CHECK(describe(result.destination) == "10.9.8.7:5432");
}

TEST_CASE("V2Tcp6RoundTripsByteAtATime", "[proxy_protocol]") {
  auto header = encodeV2(v6("fe80::1", 1), v6("2001:db8::42", 443));
  auto result = feedByteAtATime(header);
  CHECK(describe(result.source) == "[fe80::1]:1");
  CHECK(describe(result.destination) == "[2001:db8::42]:443");
}

TEST_CASE("ClientBytesAfterTheHeaderAreNotConsumed", "[proxy_protocol]") {
  auto v1 = encodeV1(v4("1.2.3.4", 1), v4("5.6.7.8", 2));
  auto result = parseString(v1 + "GET / HTTP/1.1\r\n");
  REQUIRE(result.status == Status::Done);
  CHECK(result.consumed == v1.size());

  auto v2 = encodeV2(v4("1.2.3.4", 1), v4("5.6.7.8", 2));
  result = parseString(v2 + "\r\n\r\n");
  REQUIRE(result.status == Status::Done);
  CHECK(result.consumed == v2.size());
}

// ----- UNKNOWN, LOCAL, TLVs ---------------------------------------------------------------

TEST_CASE("V1UnknownHasNoAddressesAndIgnoresTheRest", "[proxy_protocol]") {
  auto result = feedByteAtATime("PROXY UNKNOWN\r\n");
  CHECK_FALSE(result.hasAddresses());
  CHECK_FALSE(result.isLocal);
  result = feedByteAtATime("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 zz 99999\r\n");
  CHECK_FALSE(result.hasAddresses());
}

TEST_CASE("V2LocalIsDoneWithoutAddresses", "[proxy_protocol]") {
  auto result = feedByteAtATime(encodeV2Local());
  CHECK(result.isLocal);
  CHECK_FALSE(result.hasAddresses());
  CHECK(result.consumed == kV2FixedBytes);
  // LOCAL may still carry an address block, which is skipped.
  auto withBlock = kSignature + bytes({0x20, 0x11, 0x00, 0x0C}) + std::string(12, '\x7f');
  result = feedByteAtATime(withBlock);
  CHECK(result.isLocal);
  CHECK_FALSE(result.hasAddresses());
}

TEST_CASE("V2TlvsAfterTheAddressesAreSkipped", "[proxy_protocol]") {
  // AF_INET block (12 bytes) + a PP2_TYPE_AUTHORITY TLV (type 0x02, length 3, "abc").
  auto header = kSignature +
                bytes({0x21, 0x11, 0x00, 0x12, 127, 0, 0, 1, 127, 0, 0, 2, 0x00, 0x50, 0x01, 0xBB,
                       0x02, 0x00, 0x03}) +
                "abc";
  auto result = feedByteAtATime(header);
  CHECK(result.consumed == 16 + 18);
  CHECK(describe(result.source) == "127.0.0.1:80");
  CHECK(describe(result.destination) == "127.0.0.2:443");
}

TEST_CASE("V2UnspecAndUnixFamiliesCarryNoUsableAddress", "[proxy_protocol]") {
  auto unspec = feedByteAtATime(kSignature + bytes({0x21, 0x00, 0x00, 0x00}));
  CHECK_FALSE(unspec.hasAddresses());
  CHECK_FALSE(unspec.isLocal);
  auto unixHeader = kSignature + bytes({0x21, 0x31, 0x00, 0xD8}) + std::string(216, '\0');
  CHECK_FALSE(feedByteAtATime(unixHeader).hasAddresses());
}

// ----- garbage, as early as possible -------------------------------------------------------

TEST_CASE("GarbageIsRefusedAtTheFirstByte", "[proxy_protocol]") {
  requireError("G", "not a PROXY header");
  requireError("GET / HTTP/1.1\r\n", "not a PROXY header");
  requireError(std::string(1, '\0'), "not a PROXY header");
  requireError("\x16\x03\x01", "not a PROXY header");  // a TLS ClientHello
}

TEST_CASE("GarbageIsRefusedAtTheFirstWrongByte", "[proxy_protocol]") {
  requireError("PROXX", "not a PROXY header");
  requireError("PROXY TCP5", "v1: unknown protocol (not TCP4, TCP6 or UNKNOWN)");
  requireError("PROXY UNKNOWNX", "v1: unknown protocol (not TCP4, TCP6 or UNKNOWN)");
  requireError("PROXY TCP4 1.2.3.4x", "v1: unexpected character");
  requireError("PROXY TCP4 ::1", "v1: unexpected character");
  requireError("\r\n\r\n\0X"s, "not a PROXY header");
  requireError("\r\n\r\n\0\r\nQUIT\n\x11"s, "v2: unsupported version");
}

TEST_CASE("EmptyInputNeedsMore", "[proxy_protocol]") {
  CHECK(parse(nullptr, 0).status == Status::NeedMore);
}

TEST_CASE("TruncatedHeadersNeedMore", "[proxy_protocol]") {
  CHECK(parseString("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r").status == Status::NeedMore);
  CHECK(parseString("PROXY TCP4 1.2.3.4 5.6.7.8 1 2").status == Status::NeedMore);
  auto v2 = encodeV2(v6("::1", 1), v6("::2", 2));
  CHECK(parseString(v2.substr(0, v2.size() - 1)).status == Status::NeedMore);
}

TEST_CASE("V1LineWithoutCrlfIsRefusedAt107Bytes", "[proxy_protocol]") {
  std::string line = "PROXY UNKNOWN " + std::string(200, 'a');
  CHECK(parseString(line.substr(0, kV1MaxBytes - 2)).status == Status::NeedMore);
  requireError(line.substr(0, kV1MaxBytes - 1), "v1: no CRLF within 107 bytes");
  requireError(line, "v1: no CRLF within 107 bytes");
  // A CR in the last byte has no room for its LF.
  requireError(line.substr(0, kV1MaxBytes - 1) + "\r\n", "v1: no CRLF within 107 bytes");
  std::string digits = "PROXY TCP4 " + std::string(120, '1');
  requireError(digits, "v1: no CRLF within 107 bytes");
}

TEST_CASE("V1CrWithoutLfIsRefused", "[proxy_protocol]") {
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", "v1: CR not followed by LF");
  requireError("PROXY UNKNOWN abc\n", "v1: LF without CR");
}

TEST_CASE("V1BadPortsAreRefused", "[proxy_protocol]") {
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 65536 80\r\n", "v1: bad source port");
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 80 123456\r\n", "v1: bad destination port");
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 080 80\r\n", "v1: bad source port");
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 80 8.0\r\n", "v1: bad destination port");
}

TEST_CASE("V1BadAddressesAreRefused", "[proxy_protocol]") {
  requireError("PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", "v1: bad source address");
  requireError("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "v1: bad source address");
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8.9 1 2\r\n", "v1: bad destination address");
  requireError("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "v1: bad source address");
  requireError("PROXY TCP6 ::1 ::g 1 2\r\n", "v1: unexpected character");
  requireError("PROXY TCP6 ::1 1:2:3:4:5:6:7:8:9 1 2\r\n", "v1: bad destination address");
}

TEST_CASE("V1WrongFieldCountsAreRefused", "[proxy_protocol]") {
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "v1: too few fields");
  requireError("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "v1: too many fields");
  requireError("PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", "v1: empty field");
  requireError("PROXY TCP4 \r\n", "v1: too few fields");
}

TEST_CASE("V2WrongVersionOrCommandIsRefused", "[proxy_protocol]") {
  requireError(kSignature + bytes({0x11}), "v2: unsupported version");
  requireError(kSignature + bytes({0x31}), "v2: unsupported version");
  requireError(kSignature + bytes({0x22}), "v2: unknown command");
}

TEST_CASE("V2UnknownFamilyOrTransportIsRefused", "[proxy_protocol]") {
  requireError(kSignature + bytes({0x21, 0x41}), "v2: unknown address family");
  requireError(kSignature + bytes({0x21, 0x13}), "v2: unknown transport");
}

TEST_CASE("V2LengthTooLargeIsRefusedBeforeTheBytesArrive", "[proxy_protocol]") {
  // 16 + 4081 = 4097 bytes: one over the limit; refused on its 16th byte.
  requireError(kSignature + bytes({0x21, 0x11, 0x0F, 0xF1}), "v2: header longer than 4096 bytes");
  requireError(kSignature + bytes({0x21, 0x11, 0xFF, 0xFF}), "v2: header longer than 4096 bytes");
  // Exactly 4096 is fine (TLV padding fills the rest).
  auto largest = kSignature + bytes({0x21, 0x11, 0x0F, 0xF0}) + std::string(4080, '\0');
  auto result = parseString(largest);
  REQUIRE(result.status == Status::Done);
  CHECK(result.consumed == kV2MaxBytes);
}

TEST_CASE("V2LengthTooShortForTheFamilyIsRefused", "[proxy_protocol]") {
  requireError(kSignature + bytes({0x21, 0x11, 0x00, 0x0B}),
               "v2: length too short for the address family");
  requireError(kSignature + bytes({0x21, 0x21, 0x00, 0x0C}),
               "v2: length too short for the address family");
}

}  // namespace sluice::net::proxy_protocol

namespace sluice::net::proxy_protocol {

TEST_CASE("RandomInputNeverReadsPastTheEnd", "[proxy_protocol]") {
  // Valid headers with random bytes flipped, and random tails: parse() must
  // answer without reading past `len` (ASan watches) and never consume more.
  std::vector<std::string> seeds = {
      "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
      "PROXY TCP6 2001:db8::1 ::1 56324 443\r\n",
      "PROXY UNKNOWN\r\n",
      std::string("\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c", 16) + std::string(12, '\x01'),
      std::string("\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24", 16) + std::string(36, '\x02'),
  };
  uint32_t state = 12345;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  };
  for (int round = 0; round < 20000; ++round) {
    std::string input = seeds[next() % seeds.size()];
    for (uint32_t flips = next() % 3; flips > 0; --flips) {
      input[next() % input.size()] = static_cast<char>(next() & 0xFF);
    }
    input.resize(next() % (input.size() + 1));
    // A heap copy of exactly the right size, so ASan sees any overread.
    std::vector<uint8_t> exact(input.begin(), input.end());
    auto result = parse(exact.data(), exact.size());
    if (result.status == Status::Done) REQUIRE(result.consumed <= exact.size());
    if (result.status == Status::Error) REQUIRE(result.error != nullptr);
  }
}

}  // namespace sluice::net::proxy_protocol
