#pragma once

// HTTP/1.x message heads as plain values.
//
// MessageParser (parser.h) fills a RequestHead or a ResponseHead from the wire,
// the session inspects it, and rewrite.h turns it back into bytes for the
// other side. Nothing here knows about sockets, buffers or http-parser.
//
//   Headers        ordered list of (name, value) exactly as received (names keep
//                  their case, values are trimmed of surrounding whitespace);
//                  lookups are case-insensitive. Duplicates are kept in order.
//   RequestHead    start line + headers + what the parser derived from them
//                  (keep-alive, body framing, Expect: 100-continue, Upgrade).
//   ResponseHead   status line + headers + keep-alive + BodyFraming.
//
// The derived fields are computed once by the parser from the headers, so the
// session never re-parses Connection or Transfer-Encoding itself.
//
// Owner: whoever holds the value (usually the session, for one exchange).
// Thread: none of its own; plain data.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::http {

// ASCII case-insensitive equality, the comparison HTTP uses for field names
// and for tokens such as "close" or "chunked".
bool equalsIgnoreCase(std::string_view a, std::string_view b);

// Calls `fn(token)` for every element of a comma-separated list value
// ("close, Upgrade", "gzip,  chunked"), each trimmed of spaces and tabs; empty
// elements are skipped.
template <class Fn>
void forEachListToken(std::string_view value, Fn&& fn);

struct Header {
  std::string name;
  std::string value;
};

class Headers {
 public:
  using const_iterator = std::vector<Header>::const_iterator;

  void add(std::string name, std::string value);
  // Removes every header called `name`; returns how many were removed.
  size_t remove(std::string_view name);
  void clear() { headers_.clear(); }

  // The first value of `name`, or nullopt. The view is valid until the
  // Headers are modified.
  std::optional<std::string_view> get(std::string_view name) const;
  size_t count(std::string_view name) const;
  bool has(std::string_view name) const { return count(name) > 0; }
  // True if any `name` header lists `token` in its comma-separated value
  // (case-insensitive): hasToken("Connection", "close").
  bool hasToken(std::string_view name, std::string_view token) const;
  // Every value of `name`, joined with ", " (the RFC 9110 §5.3 combination).
  std::string joined(std::string_view name) const;

  size_t size() const { return headers_.size(); }
  bool empty() const { return headers_.empty(); }
  const Header& operator[](size_t i) const { return headers_[i]; }
  Header& operator[](size_t i) { return headers_[i]; }
  const_iterator begin() const { return headers_.begin(); }
  const_iterator end() const { return headers_.end(); }

  // Used by the parser, which receives a field in pieces.
  Header& back() { return headers_.back(); }

 private:
  std::vector<Header> headers_;
};

struct Version {
  uint16_t major = 1;
  uint16_t minor = 1;
  bool operator==(const Version&) const = default;
  bool atLeast11() const { return major > 1 || (major == 1 && minor >= 1); }
};

struct RequestHead {
  std::string method;  // as sent, e.g. "GET"
  std::string target;  // request-target as sent, e.g. "/a?b=c"
  Version version;
  Headers headers;

  // Derived by the parser:
  // HTTP/1.1: true unless Connection: close. HTTP/1.0: true only with
  // Connection: keep-alive (and no close).
  bool keepAlive = false;
  std::optional<uint64_t> contentLength;  // set when a Content-Length header is present
  bool chunked = false;                   // Transfer-Encoding ends with chunked
  bool expectContinue = false;            // HTTP/1.1 and Expect: 100-continue
  bool upgrade = false;                   // HTTP/1.1, an Upgrade header and Connection: upgrade

  bool hasBody() const { return chunked || contentLength.value_or(0) > 0; }
};

// How the body of a response is delimited on the wire.
enum class BodyFraming : uint8_t {
  None,            // no body: 1xx, 204, 304, any answer to HEAD
  ContentLength,   // exactly contentLength bytes (possibly 0)
  Chunked,         // Transfer-Encoding: ..., chunked
  CloseDelimited,  // the body ends when the upstream closes (no length given)
};

std::string_view bodyFramingName(BodyFraming framing);

struct ResponseHead {
  uint16_t status = 0;
  std::string reason;  // as sent; may be empty
  Version version;
  Headers headers;

  // Derived by the parser:
  // The upstream connection may carry another exchange after this one: the
  // version/Connection rule of the request side, and never with a
  // close-delimited body.
  bool keepAlive = false;
  BodyFraming framing = BodyFraming::None;
  std::optional<uint64_t> contentLength;  // set when a Content-Length header is present

  bool interim() const { return status >= 100 && status < 200; }
  bool switchingProtocols() const { return status == 101; }
};

// ---- implementation of the template above ----

template <class Fn>
void forEachListToken(std::string_view value, Fn&& fn) {
  size_t pos = 0;
  while (pos <= value.size()) {
    size_t comma = value.find(',', pos);
    if (comma == std::string_view::npos) comma = value.size();
    std::string_view token = value.substr(pos, comma - pos);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
      token.remove_prefix(1);
    }
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
      token.remove_suffix(1);
    }
    if (!token.empty()) fn(token);
    pos = comma + 1;
  }
}

}  // namespace sluice::http
