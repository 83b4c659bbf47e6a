#pragma once

// MessageParser: incremental HTTP/1.x request or response parsing: the head
// through http-parser, the body framed by sluice itself (strict RFC 9112),
// for a proxy that forwards every body in a framing it re-creates.
//
// Theory of operation
// -------------------
// The session feeds whatever bytes its input evbuffer holds (one byte or a
// megabyte at a time) and drains exactly `ParseResult::consumed` of them.
// The parser walks one message at a time:
//
//      feed()                onHead()=proceed         message end
//   +--------+ head done +-----------------+  ...  +----------+
//   |  Head  |---------->|      Body       |------>| Complete |--resume()--> Head
//   +--------+           +-----------------+       +----------+
//       |  \ EOF before any byte: Closed       |      |  101 response: Upgraded
//       |   `-- any violation --> Failed <-----'      |  (later bytes are tunnel bytes)
//       `-- onHead()=reject ----> Failed              `-- onEof(): Closed
//
// * Head: http-parser collects the start line and header fields; the parser
//   counts the header bytes itself and never hands http-parser more than the
//   configured limit allows, so "one byte over" is detected exactly (431).
//   Fields are stored as they arrive (Headers: one buffer plus 8 bytes of
//   index a field) and what they hold is charged against the same limit, so
//   a head of many tiny fields costs no more memory than the limit says; a
//   field over maxHeaderCount is a 431 before it is stored. Trailer fields
//   get the same two limits (the chunked decoder counts them) and are
//   forwarded, never kept.
//   http-parser's own process-wide cap (80 KiB) is lifted once
//   (kHttpParserHeaderCap) so that it never undercuts the limit.
//   When http-parser reports the end of the header section the parser pauses
//   it (http_parser_pause) on the final LF, validates the head (framing,
//   Host, request-target, limits), derives keep-alive/framing/expect/upgrade,
//   and calls onRequestHead()/onResponseHead() outside of http-parser.
// * Body: http-parser is never fed a body byte (it stays paused and is
//   re-initialized by resume()). The parser frames the body itself from the
//   head's verdict: none, Content-Length (count down), close-delimited
//   (until onEof()), or chunked through ChunkedDecoder (chunked.h), which
//   accepts exactly the RFC 9112 §7.1 grammar (CRLF only, token/quoted-string
//   extensions, capped size digits and line length, trailer fields parsed
//   like header fields). Why not http-parser's own body parsing: Debian
//   builds it non-strict, and "3c;\nAAAA" ended a chunk-size line for nginx
//   but not for it (request smuggling); see docs/http-parsing.md.
//   onBody() in BodyMode::Raw (the default) reports what the session
//   forwards: Content-Length and close-delimited payload unchanged; a chunked
//   body RE-FRAMED: "hex(size)\r\n" without extensions, the data, "\r\n",
//   then "0\r\n", the validated trailer fields ("Name: value\r\n"; framing,
//   routing and hop-by-hop names dropped) and "\r\n". So the next hop can
//   only read the body one way: sluice's. BodyMode::Decoded reports the
//   payload only (for relaying a chunked response to an HTTP/1.0 client,
//   which cannot read chunks); trailers are then dropped.
// * Complete: feed() returns right after the last byte of the message;
//   pipelined bytes behind it are left unconsumed in the caller's buffer
//   until resume() (one request in flight at a time). A 1xx interim response
//   completes like any message; a 101 ends HTTP on the connection (Upgraded).
// * A close-delimited response body ends with onEof(), which completes it;
//   EOF anywhere else inside a message is an error (Incomplete).
//
// * resume() after a message whose keep-alive is false (Connection: close,
//   HTTP/1.0 without keep-alive, a close-delimited response) goes to Closed:
//   nothing after such a message is parsed.
//
// Validation decisions (each a distinct ParseError, see below):
// * Any second Content-Length is refused, even with an identical value
//   (RFC 9112 §6.3 allows merging; refusing leaves no room for two hops to
//   disagree, and http-parser refuses it anyway). Content-Length together
//   with Transfer-Encoding is refused (no "TE wins" fallback).
// * A request's Transfer-Encoding must end in exactly one "chunked", HTTP/1.1
//   only, and sluice's reading of the list must agree with http-parser's.
//   A response with another final coding is close-delimited (RFC 9112 §6.3).
// * CONNECT is refused with 405: a reverse proxy opens no tunnels.
// * Debian builds http-parser non-strict (HTTP_PARSER_STRICT=0), which would
//   accept "HTTX/1.1", spaces in field names, CR + any byte as a line end,
//   and control bytes or bytes >= 0x80 in the URL. The parser checks those
//   itself: the protocol name in the start line, the start line is exactly
//   "method SP target SP version", the request-target is visible ASCII only
//   (target.h; else InvalidTarget), field names are tokens, values hold no
//   control byte but HTAB, the head ends in LF, and requests with obs-fold
//   are refused (a response's folded lines are joined with a space). Bare-LF line ends in the
//   head stay tolerated (RFC 9112 §2.2); in a chunked body nothing but CRLF
//   ends a line.
// * Anything outside the chunked grammar is InvalidChunk (400/502); a
//   trailer section over maxHeaderBytes is HeaderTooLarge; a chunk whose
//   declared size alone takes the payload over maxBodyBytes is BodyTooLarge
//   before its data is read.
//
// Errors never throw: feed() returns ParseStatus::Error and error(),
// errorStatus() and errorToken() say what and which status to answer with.
// In Response mode every failure maps to 502 (the session answers the
// client with a bad-gateway error and closes the upstream connection).
//
// Owner: an HTTP session (one per direction). Thread: the session's worker.
// Callbacks run synchronously inside feed()/onEof(); they may call resume()
// or expectResponseTo() but must not destroy the parser.

#include <http_parser.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/chunked.h"
#include "http/message.h"

namespace sluice::http {

enum class ParserMode : uint8_t { Request, Response };

// How onBody() sees the body.
enum class BodyMode : uint8_t {
  Raw,      // wire bytes, chunk framing included (the default: forward unchanged)
  Decoded,  // payload only, chunk framing removed
};

struct ParserLimits {
  // Start line + fields + final CRLF on the wire, and also what the parsed
  // fields hold (Headers::footprint()); over either -> 431.
  uint64_t maxHeaderBytes = 64 * 1024;
  uint64_t maxBodyBytes = 0;    // payload bytes; 0 = unlimited; over -> 413
  uint32_t maxHeaderCount = 0;  // header fields; 0 = unlimited; over -> 431
};

// http-parser's own header cap is process-wide (80 KiB by default); the
// first MessageParser lifts it to this, above any limit sluice accepts, so
// that maxHeaderBytes alone decides (exactly, per parser).
inline constexpr uint32_t kHttpParserHeaderCap = 32 * 1024 * 1024;

// Each failure is distinct so tests, logs and metrics can tell them apart.
enum class ParseError : uint8_t {
  None,
  BadMessage,                         // malformed start line / header, junk after close
  HeaderTooLarge,                     // header section over maxHeaderBytes
  TooManyHeaders,                     // more header fields than maxHeaderCount
  InvalidContentLength,               // not a decimal number, or overflow
  DuplicateContentLength,             // two Content-Length fields (even identical)
  ContentLengthWithTransferEncoding,  // both present: ambiguous framing
  BadTransferEncoding,                // request: final coding not chunked, or HTTP/1.0
  InvalidChunk,                       // bad chunk size / chunk framing / trailer
  InvalidTarget,                      // request-target with CTL, space-like or >= 0x80 bytes
  BodyTooLarge,                       // payload over maxBodyBytes
  MissingHost,                        // HTTP/1.1 request without Host
  DuplicateHost,                      // more than one Host field
  UnsupportedVersion,                 // HTTP major version other than 1
  MethodNotAllowed,                   // CONNECT: a reverse proxy opens no tunnels
  UnexpectedSwitch,                   // 101 to a request that asked no upgrade
  Incomplete,                         // EOF inside a message
  Rejected,                           // onRequestHead()/onResponseHead() said reject
};

// snake_case token for logs and X-Sluice-Reason, e.g. "duplicate_content_length".
std::string_view parseErrorToken(ParseError error);
// The status sluice answers with: 400/405/413/431/505 for requests, 502 for
// anything wrong in a response. (Rejected carries its own status.)
uint16_t parseErrorStatus(ParseError error, ParserMode mode);

// What onRequestHead()/onResponseHead() want done with the message.
struct HeadAction {
  uint16_t rejectStatus = 0;        // 0: proceed with the body
  std::string_view rejectReason{};  // a static token such as "forbidden"

  static HeadAction proceed() { return {}; }
  static HeadAction reject(uint16_t status, std::string_view reason) { return {status, reason}; }
  bool rejected() const { return rejectStatus != 0; }
};

class ParserCallbacks {
 public:
  virtual ~ParserCallbacks() = default;
  // The head is complete and valid. The callee may move from `head`.
  virtual HeadAction onRequestHead(RequestHead& head) {
    (void)head;
    return HeadAction::proceed();
  }
  virtual HeadAction onResponseHead(ResponseHead& head) {
    (void)head;
    return HeadAction::proceed();
  }
  // Body bytes (see BodyMode); never called with len == 0.
  virtual void onBody(const char* data, size_t len) = 0;
  virtual void onMessageComplete() = 0;
};

enum class ParseStatus : uint8_t {
  NeedMore,         // all bytes consumed, the message is not finished yet
  MessageComplete,  // stopped right after a message: drain `consumed`, resume(), feed the rest
  Upgraded,         // a 101 response ended HTTP here; later bytes are tunnel bytes
  Closed,           // onEof() between messages: a clean end
  Error,            // see error(); the connection cannot be used further
};

struct ParseResult {
  // Bytes of `data` taken: drain exactly this many from the input buffer.
  // After Error the connection is unusable and the count is only indicative.
  size_t consumed = 0;
  ParseStatus status = ParseStatus::NeedMore;
};

class MessageParser : private ChunkedDecoder::Sink {
 public:
  MessageParser(ParserMode mode, ParserCallbacks& callbacks, ParserLimits limits = {});
  // http-parser keeps a pointer to this object.
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  ParseResult feed(const char* data, size_t len);
  ParseResult feed(std::string_view bytes) { return feed(bytes.data(), bytes.size()); }
  // The peer closed its sending side. Completes a close-delimited response
  // body; between messages it is a clean Closed; inside a message an Error.
  ParseResult onEof();
  // After MessageComplete: accept the next message.
  void resume();

  // Response mode: describes the request the next response answers. A HEAD
  // request makes the response bodiless whatever its headers say; a 101 is
  // only accepted if the request asked for an upgrade. Holds through 1xx
  // interim responses until the final response completes.
  void expectResponseTo(const RequestHead& request);
  void setBodyMode(BodyMode mode) { bodyMode_ = mode; }
  void setLimits(ParserLimits limits) { limits_ = limits; }

  ParserMode mode() const { return mode_; }
  bool failed() const { return error_ != ParseError::None; }
  ParseError error() const { return error_; }
  uint16_t errorStatus() const;
  std::string_view errorToken() const;

  // The current (or last) message's head; valid until the next message begins.
  const RequestHead& requestHead() const { return request_; }
  const ResponseHead& responseHead() const { return response_; }
  // Header bytes of the current message seen so far (leading CRLFs included).
  uint64_t headerBytes() const { return headerBytes_; }
  // Payload bytes of the current message (chunk framing excluded).
  uint64_t bodyBytes() const { return bodyBytes_; }

 private:
  enum class State : uint8_t { Head, Body, Complete, Upgraded, Closed, Failed };

  static int onMessageBeginCb(http_parser* p);
  static int onUrlCb(http_parser* p, const char* at, size_t len);
  static int onStatusCb(http_parser* p, const char* at, size_t len);
  static int onHeaderFieldCb(http_parser* p, const char* at, size_t len);
  static int onHeaderValueCb(http_parser* p, const char* at, size_t len);
  static int onHeadersCompleteCb(http_parser* p);
  static const http_parser_settings kSettings;

  Headers& currentHeaders() {
    return mode_ == ParserMode::Request ? request_.headers : response_.headers;
  }
  size_t execute(const char* data, size_t len);
  // Charges the head's fields against the header limit as they arrive; false
  // (limitError_ set) when over it.
  bool chargeHead();
  // Validates the head and derives its fields; ParseError::None if good.
  ParseError finishRequestHead();
  ParseError finishResponseHead();
  ParseError errorFromParser() const;
  ParseResult fail(ParseError error, size_t consumed);
  ParseResult completeMessage(size_t consumed);
  // Frames the body from data[used] on; see the theory of operation.
  ParseResult feedBody(const char* data, size_t len, size_t used);
  // Counts payload against the limit (false if over) and reports it.
  bool deliverPayload(const char* data, size_t len);
  // Raw mode: re-framed chunk lines and trailers go out through onBody().
  void emitFraming(std::string_view bytes);
  // ChunkedDecoder::Sink
  bool chunkBegin(uint64_t size) override;
  void chunkData(const char* data, size_t len) override;
  void chunkEnd() override;
  void trailerField(std::string_view name, std::string_view value) override;
  // Records the start line and spots obs-fold in head bytes as they go by.
  void scanHead(const char* data, size_t len);
  bool startLineNamesHttp() const;
  bool startLineIsExact() const;

  ParserMode mode_;
  ParserCallbacks& callbacks_;
  ParserLimits limits_;
  BodyMode bodyMode_ = BodyMode::Raw;
  http_parser parser_{};
  State state_ = State::Head;

  RequestHead request_;
  ResponseHead response_;
  bool lastWasValue_ = false;                    // the next header-field piece starts a new field
  bool messageBegun_ = false;                    // on_message_begin seen for the current message
  bool headersDone_ = false;                     // set inside execute(): paused on the final LF
  bool messageKeepAlive_ = true;                 // the current message allows another one after it
  BodyFraming bodyFraming_ = BodyFraming::None;  // the current message's body
  uint64_t remaining_ = 0;                       // ContentLength: payload bytes still to come
  ChunkedDecoder chunked_;                       // Chunked: the body's decoder
  uint16_t responseStatus_ = 0;                  // response mode: the current message's status
  char previousByte_ = 0;                        // last head byte scanned (obs-fold detection)
  std::string startLine_;                        // the current message's first line, CRLF stripped
  bool startLineDone_ = false;
  bool obsFold_ = false;  // a header line of this head began with SP/HT
  uint64_t headerBytes_ = 0;
  uint64_t bodyBytes_ = 0;
  // A field limit the head passed (431): fields are no longer stored, and it
  // is reported once the head ends, unless http-parser finds an error first.
  ParseError limitError_ = ParseError::None;

  bool headRequest_ = false;       // response mode: answering a HEAD
  bool upgradeRequested_ = false;  // response mode: the request asked for an upgrade

  ParseError error_ = ParseError::None;
  uint16_t rejectStatus_ = 0;
  std::string_view rejectReason_;
};

}  // namespace sluice::http
