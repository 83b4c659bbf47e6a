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
//                  One buffer plus an 8-byte index entry per field:
//                  iteration yields views.
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
#include <iterator>
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

// One field as stored: views into its Headers' buffer, valid until those
// Headers are modified (or moved from).
struct Header {
  std::string_view name;
  std::string_view value;
};

// A head's fields kept as one buffer of names and values back to back plus
// an 8-byte index entry per field (where it starts, how long its name is;
// its value runs to the next field). A head of tiny fields then costs little
// more than its bytes, and footprint() says how much: the parser holds it to
// max_header_size, so a connection's parsed head is bounded by the limit
// (the buffer and index grow by doubling).
class Headers {
 public:
  class const_iterator;

  Headers() = default;
  Headers(const Headers&) = default;
  Headers& operator=(const Headers&) = default;
  // A moved-from Headers is empty.
  Headers(Headers&& other) noexcept;
  Headers& operator=(Headers&& other) noexcept;
  ~Headers() = default;

  void add(std::string_view name, std::string_view value);
  // Removes every header called `name`; returns how many were removed.
  size_t remove(std::string_view name);
  void clear();

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

  size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }
  Header operator[](size_t i) const;
  const_iterator begin() const;
  const_iterator end() const;

  // Building a field from the pieces a parser receives: startField() opens
  // an empty field; appendName() and appendValue() extend the last one (all
  // of its name before any of its value); endField() trims the trailing
  // spaces and tabs off its value. Readers see the last field as it is so
  // far.
  void startField();
  void appendName(std::string_view piece);
  void appendValue(std::string_view piece);
  void endField();

  // Bytes held per field besides its name and value (its index entry).
  static constexpr size_t kFieldOverhead = 2 * sizeof(uint32_t);
  // Names and values plus kFieldOverhead per field: what the parser charges
  // against max_header_size, however the bytes arrived.
  size_t footprint() const { return bytes_.size() + fields_.size() * kFieldOverhead; }
  // Heap bytes reserved (buffer and index capacity).
  size_t allocatedBytes() const;
  // Fields looked at by the lookups above (get, count, has, hasToken,
  // joined, remove) since construction: lets a test assert that a caller's
  // work grows linearly with the number of fields.
  uint64_t lookupSteps() const { return lookupSteps_; }

 private:
  struct Field {
    uint32_t offset;   // the name starts at bytes_[offset]
    uint32_t nameLen;  // the value follows it, up to the next field's offset
  };
  static_assert(sizeof(Field) == kFieldOverhead);

  template <class Fn>
  void forEachNamed(std::string_view name, Fn&& fn) const;

  std::string bytes_;
  std::vector<Field> fields_;
  mutable uint64_t lookupSteps_ = 0;
};

// Yields Header values (views); enough of an iterator for range-for and the
// <algorithm> functions.
class Headers::const_iterator {
 public:
  using iterator_category = std::input_iterator_tag;
  using value_type = Header;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = Header;

  const_iterator() = default;
  const_iterator(const Headers* headers, size_t index) : headers_(headers), index_(index) {}
  Header operator*() const { return (*headers_)[index_]; }
  const_iterator& operator++() {
    ++index_;
    return *this;
  }
  const_iterator operator++(int) {
    const_iterator before = *this;
    ++index_;
    return before;
  }
  bool operator==(const const_iterator& other) const { return index_ == other.index_; }

 private:
  const Headers* headers_ = nullptr;
  size_t index_ = 0;
};

inline Header Headers::operator[](size_t i) const {
  const Field& f = fields_[i];
  const size_t end = i + 1 < fields_.size() ? fields_[i + 1].offset : bytes_.size();
  const std::string_view all(bytes_);
  return Header{all.substr(f.offset, f.nameLen),
                all.substr(f.offset + f.nameLen, end - f.offset - f.nameLen)};
}
inline Headers::const_iterator Headers::begin() const {
  return {this, 0};
}
inline Headers::const_iterator Headers::end() const {
  return {this, fields_.size()};
}

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
