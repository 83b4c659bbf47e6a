#pragma once

// ChunkedDecoder: a strict RFC 9112 §7.1 reader of the chunked transfer
// coding, fed incrementally, plus the helpers that re-frame what it reads.
//
// Grammar accepted, byte for byte (nothing else; no lenient line ends):
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   chunk-size   = 1*HEXDIG                      (at most kMaxSizeDigits digits)
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
//   chunk-ext    = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
//   ext-name     = token
//   ext-val      = token / quoted-string
//   trailer-section = *( field-name ":" OWS field-value OWS CRLF )
//
// BWS/OWS are spaces and tabs. A chunk-size line (extensions included) longer
// than kMaxLineBytes is refused. Trailer field names are tokens, values are
// VCHAR / obs-text / SP / HTAB (no CTL, no bare CR or LF), a line starting
// with SP/HTAB (obs-fold) is refused, and the whole trailer section is capped
// by the caller's byte limit.
//
// Why so strict: the decoder decides where a message ends, and every other
// hop must agree. Debian's http-parser accepted any byte but CR in a chunk
// extension, so "3c;\nAAAA" ended the line for nginx and not for sluice: a
// smuggled request. Here the only line end is CRLF and the only bytes in a
// line are the ones the grammar names.
//
// The decoder reports what it read through a Sink: a chunk's size, its data,
// its end, each trailer field (validated), and the end of the body. Extensions
// are checked and dropped. The caller forwards a fresh framing built from
// those events (chunkSizeLine(), kChunkEnd, kLastChunk, trailerLine(),
// kTrailerEnd), so the next hop never sees a byte sluice did not understand.
//
// Owner: MessageParser (one per message body; reset() between messages).
// Thread: the owner's.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::http {

class ChunkedDecoder {
 public:
  static constexpr size_t kMaxSizeDigits = 16;   // 2^64 - 1: no overflow possible
  static constexpr size_t kMaxLineBytes = 4096;  // a chunk-size line, extensions included

  class Sink {
   public:
    virtual ~Sink() = default;
    // A chunk of `size` payload bytes follows; size 0 is the last chunk.
    // Return false to stop (Status::Error, Error::Stopped).
    virtual bool chunkBegin(uint64_t size) = 0;
    virtual void chunkData(const char* data, size_t len) = 0;  // len > 0
    virtual void chunkEnd() = 0;                               // the CRLF after data
    virtual void trailerField(std::string_view name, std::string_view value) = 0;
  };

  enum class Status : uint8_t { NeedMore, Done, Error };
  enum class Error : uint8_t {
    None,
    Syntax,           // anything outside the grammar above
    TrailerTooLarge,  // trailer section over the byte limit
    TooManyTrailers,  // more trailer fields than the field limit
    Stopped,          // the sink's chunkBegin() returned false
  };
  struct Result {
    size_t consumed = 0;  // Done: the body ended exactly here
    Status status = Status::NeedMore;
  };

  explicit ChunkedDecoder(uint64_t maxTrailerBytes = 64 * 1024)
      : maxTrailerBytes_(maxTrailerBytes) {}

  // Reads as much of `data` as belongs to the body. After Done or Error it
  // takes nothing more until reset().
  Result feed(const char* data, size_t len, Sink& sink);
  void reset();
  // Bounds the trailer section like a head: bytes, and fields (0 = no cap).
  void setTrailerLimits(uint64_t bytes, uint32_t fields) {
    maxTrailerBytes_ = bytes;
    maxTrailerFields_ = fields;
  }

  Error error() const { return error_; }
  bool done() const { return state_ == State::Done; }

 private:
  enum class State : uint8_t {
    Size,           // chunk-size digits
    AfterSize,      // after a digit, an ext-name or an ext-val: ";" / BWS / CR
    ExtSeparator,   // after BWS: only more BWS or ";"
    ExtNameStart,   // after ";": BWS then a token
    ExtName,        // inside an ext-name
    ExtAfterName,   // after ext-name + BWS: "=" or ";"
    ExtValueStart,  // after "=": BWS then a token or a quoted-string
    ExtToken,       // inside a token ext-val
    ExtQuoted,      // inside a quoted-string
    ExtQuotedPair,  // after a backslash in a quoted-string
    SizeLf,         // CR seen at the end of the size line
    Data,           // chunk-data
    DataCr,         // after the data: CR
    DataLf,         // after the data: LF
    TrailerStart,   // start of a trailer line, or the final CRLF
    TrailerName,    // inside a field name
    TrailerValue,   // after the colon
    TrailerLf,      // CR seen at the end of a trailer line
    FinalLf,        // CR seen on the empty line that ends the body
    Done,
    Failed,
  };

  // One byte outside Data; false on a syntax error (error_ is set).
  bool step(char c, Sink& sink);
  bool fail(Error error);
  bool endSizeLine(Sink& sink);
  bool finishTrailerLine(Sink& sink);

  uint64_t maxTrailerBytes_;
  State state_ = State::Size;
  Error error_ = Error::None;
  uint64_t size_ = 0;       // the current chunk's size
  uint64_t remaining_ = 0;  // Data: payload bytes still to come
  size_t digits_ = 0;       // digits of the current chunk-size
  size_t lineBytes_ = 0;    // bytes of the current chunk-size line
  uint64_t trailerBytes_ = 0;
  uint32_t maxTrailerFields_ = 0;
  uint32_t trailerFields_ = 0;
  std::string field_;      // the trailer line being read, "name:value"
  size_t nameLength_ = 0;  // field_[0, nameLength_) is the name
};

// Re-framing: the bytes sluice forwards for a chunked body.
// "1a2b\r\n" for a chunk of 0x1a2b bytes (lower-case hex, no extensions).
std::string chunkSizeLine(uint64_t size);
inline constexpr std::string_view kChunkEnd = "\r\n";    // after a chunk's data
inline constexpr std::string_view kLastChunk = "0\r\n";  // before the trailer fields
inline constexpr std::string_view kTrailerEnd = "\r\n";  // ends the body
// "name: value\r\n" for a validated trailer field.
std::string trailerLine(std::string_view name, std::string_view value);

// Trailer fields a proxy must not forward: they would change how the next
// hop frames, routes or connects (Content-Length, Transfer-Encoding, Host,
// Trailer) or are hop-by-hop (RFC 9110 §6.5.1, §7.6.1). Compared
// case-insensitively.
bool isForbiddenTrailer(std::string_view name);

}  // namespace sluice::http
