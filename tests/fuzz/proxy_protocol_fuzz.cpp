// proxy_protocol_fuzz: the PROXY v1/v2 header parser (net/proxy_protocol.h).
//
// The reader calls parse() on all bytes received so far after every read, so
// the input is parsed at every prefix length (every way the header can be
// split across reads), and the answers must agree with parsing it whole:
// NeedMore until some prefix decides, then that same decision (Done with the
// same header, or Error) for every longer prefix. A decision also comes
// within the size caps: NeedMore never asks beyond kV2MaxBytes.
// Addresses that parse must survive encodeV1()/encodeV2() and parse back
// equal.
//
// Input: the bytes a load balancer sends, header first (no option bytes).

#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "fuzz_support.h"
#include "net/proxy_protocol.h"

namespace {

namespace pp = sluice::net::proxy_protocol;
using sluice::fuzz::check;
using sluice::fuzz::checkEqual;

std::string describeAddress(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "";
  uint16_t port = 0;
  if (address.ss_family == AF_INET) {
    sockaddr_in in;
    std::memcpy(&in, &address, sizeof in);
    inet_ntop(AF_INET, &in.sin_addr, text, sizeof text);
    port = ntohs(in.sin_port);
  } else if (address.ss_family == AF_INET6) {
    sockaddr_in6 in6;
    std::memcpy(&in6, &address, sizeof in6);
    inet_ntop(AF_INET6, &in6.sin6_addr, text, sizeof text);
    port = ntohs(in6.sin6_port);
  } else {
    return "family " + std::to_string(address.ss_family);
  }
  return std::string(text) + " port " + std::to_string(port);
}

std::string describeAddresses(const pp::ParseResult& result) {
  return describeAddress(result.source) + " -> " + describeAddress(result.destination);
}

// The only code that knows ParseResult's shape.
std::string describe(const pp::ParseResult& result) {
  switch (result.status) {
    case pp::Status::NeedMore:
      return "need more";
    case pp::Status::Error:
      return std::string("error: ") + (result.error ? result.error : "(no reason)");
    case pp::Status::Done:
      return "done: v" + std::to_string(result.version) + " consumed " +
             std::to_string(result.consumed) + (result.isLocal ? " local " : " proxy ") +
             describeAddresses(result);
  }
  return "?";
}

pp::ParseResult parse(std::string_view bytes) {
  return pp::parse(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// A header sluice writes must parse back to the same addresses.
void checkRoundTrip(const pp::ParseResult& parsed) {
  if (!parsed.hasAddresses()) return;
  const std::string v1 = pp::encodeV1(parsed.source, parsed.destination);
  const pp::ParseResult again1 = parse(v1);
  check(again1.status == pp::Status::Done && again1.consumed == v1.size(),
        "encodeV1 output does not parse whole");
  checkEqual(describeAddresses(parsed), describeAddresses(again1), "encodeV1 round trip");
  const std::string v2 = pp::encodeV2(parsed.source, parsed.destination);
  const pp::ParseResult again2 = parse(v2);
  check(again2.status == pp::Status::Done && again2.consumed == v2.size(),
        "encodeV2 output does not parse whole");
  checkEqual(describeAddresses(parsed), describeAddresses(again2), "encodeV2 round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string decision;  // the first answer other than NeedMore
  size_t decidedAt = 0;
  for (size_t len = 0; len <= size; ++len) {
    const pp::ParseResult result = parse(bytes.substr(0, len));
    if (result.status == pp::Status::NeedMore) {
      check(decision.empty(), "NeedMore after a decision");
      check(len < pp::kV2MaxBytes, "NeedMore past the largest header");
      continue;
    }
    if (result.status == pp::Status::Error) check(result.error != nullptr, "error without reason");
    if (result.status == pp::Status::Done) {
      check(result.consumed > 0 && result.consumed <= len, "consumed outside the bytes");
      check(result.version == 1 || result.version == 2, "unknown version");
      check(result.consumed <= (result.version == 1 ? pp::kV1MaxBytes : pp::kV2MaxBytes),
            "header longer than its cap");
      check(result.hasAddresses() ? !result.isLocal : true, "LOCAL header with addresses");
    }
    const std::string described = describe(result);
    if (decision.empty()) {
      decision = described;
      decidedAt = len;
      if (result.status == pp::Status::Done) {
        // Done as soon as the header is complete, not later.
        check(result.consumed == len, "Done later than the header's last byte");
        checkRoundTrip(result);
      }
      continue;
    }
    if (described != decision) {
      sluice::fuzz::fail(("prefix of " + std::to_string(len) +
                          " bytes answers unlike the prefix of " + std::to_string(decidedAt))
                             .c_str(),
                         decision, described);
    }
  }
  return 0;
}
