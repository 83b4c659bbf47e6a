#include "http/parser.h"

#include <algorithm>
#include <limits>

#include "config/defaults.h"
#include "http/target.h"

namespace sluice::http {

namespace {

MessageParser* self(http_parser* p) {
  return static_cast<MessageParser*>(p->data);
}

// http-parser 2.9 keeps its header cap in a process-wide variable (no
// per-parser setting); lift it once, before this process parses anything.
// A function-local static makes that write happen-before every later
// parser's construction, on any thread.
void liftHttpParserHeaderCap() {
  static_assert(config::defaults::kMaxHeaderBytesLimit + 1024 * 1024 <= kHttpParserHeaderCap);
  [[maybe_unused]] static const bool lifted = [] {
    http_parser_set_max_header_size(kHttpParserHeaderCap);
    return true;
  }();
}

// RFC 9112 §6.1: a request's Transfer-Encoding must end with exactly one
// "chunked", the final coding.
bool finalCodingIsChunked(const Headers& headers) {
  size_t chunkedCount = 0;
  bool lastIsChunked = false;
  for (const Header& h : headers) {
    if (!equalsIgnoreCase(h.name, "Transfer-Encoding")) continue;
    forEachListToken(h.value, [&](std::string_view coding) {
      lastIsChunked = equalsIgnoreCase(coding, "chunked");
      if (lastIsChunked) ++chunkedCount;
    });
  }
  return lastIsChunked && chunkedCount == 1;
}

// RFC 9110 §5.6.2 tchar. The Debian http-parser is built non-strict and
// lets a space into a field name ("Content-Length : 5"), which another hop
// may read differently: refuse anything but a token.
bool isToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && std::string_view("!#$%&'*+-.^_`|~").find(c) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool allNamesAreTokens(const Headers& headers) {
  return std::all_of(headers.begin(), headers.end(),
                     [](const Header& h) { return isToken(h.name); });
}

// RFC 9110 §5.5: a field value is VCHAR / obs-text / SP / HTAB. The Debian
// http-parser lets other control bytes through; sluice re-serializes the
// value for the next hop, which may read a control byte as a separator.
bool allValuesAreClean(const Headers& headers) {
  return std::all_of(headers.begin(), headers.end(), [](const Header& h) {
    return std::all_of(h.value.begin(), h.value.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u >= 0x20 ? u != 0x7F : c == '\t';
    });
  });
}

bool keepAliveFor(Version version, const Headers& headers) {
  if (headers.hasToken("Connection", "close")) return false;
  if (version.atLeast11()) return true;
  return headers.hasToken("Connection", "keep-alive");
}

}  // namespace

std::string_view parseErrorToken(ParseError error) {
  switch (error) {
    case ParseError::None:
      return "none";
    case ParseError::BadMessage:
      return "bad_request";
    case ParseError::HeaderTooLarge:
      return "header_too_large";
    case ParseError::TooManyHeaders:
      return "too_many_headers";
    case ParseError::InvalidContentLength:
      return "invalid_content_length";
    case ParseError::DuplicateContentLength:
      return "duplicate_content_length";
    case ParseError::ContentLengthWithTransferEncoding:
      return "content_length_with_transfer_encoding";
    case ParseError::BadTransferEncoding:
      return "bad_transfer_encoding";
    case ParseError::InvalidChunk:
      return "invalid_chunk";
    case ParseError::InvalidTarget:
      return "invalid_target";
    case ParseError::BodyTooLarge:
      return "body_too_large";
    case ParseError::MissingHost:
      return "missing_host";
    case ParseError::DuplicateHost:
      return "duplicate_host";
    case ParseError::UnsupportedVersion:
      return "unsupported_version";
    case ParseError::MethodNotAllowed:
      return "method_not_allowed";
    case ParseError::UnexpectedSwitch:
      return "unexpected_switch";
    case ParseError::Incomplete:
      return "incomplete";
    case ParseError::Rejected:
      return "rejected";
  }
  return "unknown";
}

uint16_t parseErrorStatus(ParseError error, ParserMode mode) {
  if (error == ParseError::None) return 0;
  if (mode == ParserMode::Response) return 502;
  switch (error) {
    case ParseError::HeaderTooLarge:
    case ParseError::TooManyHeaders:
      return 431;
    case ParseError::BodyTooLarge:
      return 413;
    case ParseError::UnsupportedVersion:
      return 505;
    case ParseError::MethodNotAllowed:
      return 405;
    default:
      return 400;
  }
}

const http_parser_settings MessageParser::kSettings = {
    &MessageParser::onMessageBeginCb,
    &MessageParser::onUrlCb,
    &MessageParser::onStatusCb,
    &MessageParser::onHeaderFieldCb,
    &MessageParser::onHeaderValueCb,
    &MessageParser::onHeadersCompleteCb,
    // No body callbacks: http-parser stops at the end of the head (see feed()).
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

MessageParser::MessageParser(ParserMode mode, ParserCallbacks& callbacks, ParserLimits limits)
    : mode_(mode), callbacks_(callbacks), limits_(limits) {
  liftHttpParserHeaderCap();
  http_parser_init(&parser_, mode == ParserMode::Request ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
}

void MessageParser::expectResponseTo(const RequestHead& request) {
  headRequest_ = request.method == "HEAD";
  upgradeRequested_ = request.upgrade;
}

uint16_t MessageParser::errorStatus() const {
  if (error_ == ParseError::Rejected) return rejectStatus_;
  return parseErrorStatus(error_, mode_);
}

std::string_view MessageParser::errorToken() const {
  if (error_ == ParseError::Rejected) return rejectReason_;
  return parseErrorToken(error_);
}

void MessageParser::resume() {
  if (state_ != State::Complete) return;
  state_ = messageKeepAlive_ ? State::Head : State::Closed;
  headerBytes_ = 0;
  bodyBytes_ = 0;
  messageBegun_ = false;
  // http-parser is paused on the previous head's final LF and never saw the
  // body: start it afresh for the next head.
  http_parser_init(&parser_, mode_ == ParserMode::Request ? HTTP_REQUEST : HTTP_RESPONSE);
  parser_.data = this;
  startLine_.clear();
  startLineDone_ = false;
  obsFold_ = false;
}

size_t MessageParser::execute(const char* data, size_t len) {
  return http_parser_execute(&parser_, &kSettings, data, len);
}

ParseResult MessageParser::fail(ParseError error, size_t consumed) {
  state_ = State::Failed;
  error_ = error;
  return {consumed, ParseStatus::Error};
}

ParseResult MessageParser::feed(const char* data, size_t len) {
  switch (state_) {
    case State::Head:
    case State::Body:
      break;
    case State::Complete:
      return {0, ParseStatus::MessageComplete};
    case State::Upgraded:
      return {0, ParseStatus::Upgraded};
    case State::Closed:
      return {0, ParseStatus::Closed};
    case State::Failed:
      return {0, ParseStatus::Error};
  }

  size_t used = 0;
  while (state_ == State::Head) {
    if (used == len) return {used, ParseStatus::NeedMore};
    // Never show http-parser more header bytes than the limit allows.
    const uint64_t allowance =
        limits_.maxHeaderBytes - std::min(headerBytes_, limits_.maxHeaderBytes);
    if (allowance == 0) {
      return fail(limitError_ != ParseError::None ? limitError_ : ParseError::HeaderTooLarge, used);
    }
    const size_t slice = static_cast<size_t>(std::min<uint64_t>(len - used, allowance));
    const size_t n = execute(data + used, slice);
    scanHead(data + used, headersDone_ ? n + 1 : n);
    if (!headersDone_) {
      if (HTTP_PARSER_ERRNO(&parser_) != HPE_OK) return fail(errorFromParser(), used + n);
      headerBytes_ += n;
      used += n;
      continue;
    }
    // Paused on the final LF of the header section: it belongs to the head.
    headersDone_ = false;
    http_parser_pause(&parser_, 0);
    headerBytes_ += n + 1;
    used += n;
    // Lenient http-parser ends the head at CR + any byte; only LF may end it.
    if (data[used] != '\n') return fail(ParseError::BadMessage, used);
    if (limitError_ != ParseError::None) return fail(limitError_, used + 1);
    previousByte_ = '\n';
    const ParseError invalid =
        mode_ == ParserMode::Request ? finishRequestHead() : finishResponseHead();
    if (invalid != ParseError::None) return fail(invalid, used + 1);
    // Keep what the rest of the message needs: the callee may move the head.
    if (mode_ == ParserMode::Request) {
      if (request_.chunked) {
        bodyFraming_ = BodyFraming::Chunked;
      } else if (request_.contentLength.value_or(0) > 0) {
        bodyFraming_ = BodyFraming::ContentLength;
      } else {
        bodyFraming_ = BodyFraming::None;
      }
      remaining_ = request_.contentLength.value_or(0);
      messageKeepAlive_ = request_.keepAlive;
    } else {
      bodyFraming_ = response_.framing;
      remaining_ = response_.contentLength.value_or(0);
      if (bodyFraming_ == BodyFraming::ContentLength && remaining_ == 0) {
        bodyFraming_ = BodyFraming::None;
      }
      messageKeepAlive_ = response_.interim() || response_.keepAlive;
      responseStatus_ = response_.status;
    }
    chunked_.reset();
    chunked_.setTrailerLimits(limits_.maxHeaderBytes, limits_.maxHeaderCount);
    const HeadAction action = mode_ == ParserMode::Request ? callbacks_.onRequestHead(request_)
                                                           : callbacks_.onResponseHead(response_);
    if (action.rejected()) {
      rejectStatus_ = action.rejectStatus;
      rejectReason_ = action.rejectReason;
      return fail(ParseError::Rejected, used + 1);
    }
    state_ = State::Body;
    ++used;  // the head's final LF; http-parser stays paused on it until resume()
  }

  return feedBody(data, len, used);
}

// The body is framed by sluice alone; http-parser has stopped at the head's
// final LF and is re-initialized for the next message (resume()).
ParseResult MessageParser::feedBody(const char* data, size_t len, size_t used) {
  switch (bodyFraming_) {
    case BodyFraming::None:
      return completeMessage(used);
    case BodyFraming::ContentLength: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - used));
      if (n > 0 && !deliverPayload(data + used, n)) return fail(ParseError::BodyTooLarge, used + n);
      used += n;
      remaining_ -= n;
      if (remaining_ == 0) return completeMessage(used);
      return {used, ParseStatus::NeedMore};
    }
    case BodyFraming::CloseDelimited:
      if (len > used && !deliverPayload(data + used, len - used)) {
        return fail(ParseError::BodyTooLarge, len);
      }
      return {len, ParseStatus::NeedMore};
    case BodyFraming::Chunked: {
      const ChunkedDecoder::Result r = chunked_.feed(data + used, len - used, *this);
      used += r.consumed;
      if (r.status == ChunkedDecoder::Status::Error) {
        switch (chunked_.error()) {
          case ChunkedDecoder::Error::TrailerTooLarge:
            return fail(ParseError::HeaderTooLarge, used);
          case ChunkedDecoder::Error::TooManyTrailers:
            return fail(ParseError::TooManyHeaders, used);
          case ChunkedDecoder::Error::Stopped:
            return fail(ParseError::BodyTooLarge, used);
          default:
            return fail(ParseError::InvalidChunk, used);
        }
      }
      if (r.status == ChunkedDecoder::Status::Done) {
        emitFraming(kTrailerEnd);
        return completeMessage(used);
      }
      return {used, ParseStatus::NeedMore};
    }
  }
  return fail(ParseError::BadMessage, used);
}

bool MessageParser::deliverPayload(const char* data, size_t len) {
  bodyBytes_ += len;
  if (limits_.maxBodyBytes != 0 && bodyBytes_ > limits_.maxBodyBytes) return false;
  callbacks_.onBody(data, len);
  return true;
}

void MessageParser::emitFraming(std::string_view bytes) {
  if (bodyMode_ == BodyMode::Raw) callbacks_.onBody(bytes.data(), bytes.size());
}

// ---- ChunkedDecoder::Sink: the re-framed chunked body ----

bool MessageParser::chunkBegin(uint64_t size) {
  if (size == 0) {
    emitFraming(kLastChunk);
    return true;
  }
  // Refused before its data arrives: the declared size alone is over the limit.
  if (limits_.maxBodyBytes != 0 &&
      size > limits_.maxBodyBytes - std::min(bodyBytes_, limits_.maxBodyBytes)) {
    return false;
  }
  emitFraming(chunkSizeLine(size));
  return true;
}

void MessageParser::chunkData(const char* data, size_t len) {
  bodyBytes_ += len;  // chunkBegin() checked the whole chunk against the limit
  callbacks_.onBody(data, len);
}

void MessageParser::chunkEnd() {
  emitFraming(kChunkEnd);
}

void MessageParser::trailerField(std::string_view name, std::string_view value) {
  if (isForbiddenTrailer(name)) return;
  emitFraming(trailerLine(name, value));
}

void MessageParser::scanHead(const char* data, size_t len) {
  for (size_t i = 0; i < len; ++i) {
    const char c = data[i];
    if (startLineDone_) {
      // A line that starts with whitespace continues the previous field
      // (obs-fold, RFC 9112 §5.2).
      if (previousByte_ == '\n' && (c == ' ' || c == '\t')) obsFold_ = true;
    } else if (startLine_.empty() && (c == '\r' || c == '\n')) {
      // tolerated leading CRLFs
    } else if (c == '\n') {
      startLineDone_ = true;
      if (!startLine_.empty() && startLine_.back() == '\r') startLine_.pop_back();
    } else {
      startLine_.push_back(c);
    }
    previousByte_ = c;
  }
}

// The non-strict http-parser skips extra spaces and lets odd bytes end the
// URL; sluice forwards "method SP target SP version" rebuilt from the parsed
// pieces, so the line must have been exactly that (RFC 9112 §3).
bool MessageParser::startLineIsExact() const {
  const std::string_view line = startLine_;
  const std::string_view method = request_.method;
  const std::string_view target = request_.target;
  return line.size() == method.size() + 1 + target.size() + 9 && line.starts_with(method) &&
         line[method.size()] == ' ' && line.substr(method.size() + 1, target.size()) == target;
}

// The non-strict http-parser checks the digits of "HTTP/1.1" but not the
// letters; check the protocol name here.
bool MessageParser::startLineNamesHttp() const {
  const std::string_view line = startLine_;
  auto version = [](std::string_view v) {
    return v.size() == 8 && v.substr(0, 5) == "HTTP/" && v[5] >= '0' && v[5] <= '9' &&
           v[6] == '.' && v[7] >= '0' && v[7] <= '9';
  };
  if (mode_ == ParserMode::Request) {
    return line.size() > 9 && line[line.size() - 9] == ' ' && version(line.substr(line.size() - 8));
  }
  return line.size() > 9 && line[8] == ' ' && version(line.substr(0, 8));
}

ParseResult MessageParser::onEof() {
  switch (state_) {
    case State::Head:
      if (!messageBegun_) {
        state_ = State::Closed;
        return {0, ParseStatus::Closed};
      }
      return fail(ParseError::Incomplete, 0);
    case State::Body: {
      // Only a close-delimited body ends at EOF.
      if (bodyFraming_ == BodyFraming::CloseDelimited) {
        ParseResult result = completeMessage(0);
        if (state_ == State::Complete) state_ = State::Closed;
        return result;
      }
      return fail(ParseError::Incomplete, 0);
    }
    case State::Complete:
    case State::Closed:
      state_ = State::Closed;
      return {0, ParseStatus::Closed};
    case State::Upgraded:
      return {0, ParseStatus::Upgraded};
    case State::Failed:
      return {0, ParseStatus::Error};
  }
  return {0, ParseStatus::Error};
}

ParseResult MessageParser::completeMessage(size_t consumed) {
  ParseStatus status = ParseStatus::MessageComplete;
  state_ = State::Complete;
  if (mode_ == ParserMode::Response) {
    if (responseStatus_ == 101) {
      state_ = State::Upgraded;
      status = ParseStatus::Upgraded;
    } else if (responseStatus_ >= 200) {
      headRequest_ = false;
      upgradeRequested_ = false;
    }
  }
  callbacks_.onMessageComplete();
  return {consumed, status};
}

ParseError MessageParser::errorFromParser() const {
  switch (HTTP_PARSER_ERRNO(&parser_)) {
    case HPE_HEADER_OVERFLOW:
      return ParseError::HeaderTooLarge;
    case HPE_INVALID_CONTENT_LENGTH:
      return ParseError::InvalidContentLength;
    case HPE_UNEXPECTED_CONTENT_LENGTH: {
      // http-parser uses one code for both; the fields seen so far tell them
      // apart (it stops at the second Content-Length's value).
      const Headers& headers = mode_ == ParserMode::Request ? request_.headers : response_.headers;
      return headers.count("Content-Length") > 1 ? ParseError::DuplicateContentLength
                                                 : ParseError::ContentLengthWithTransferEncoding;
    }
    case HPE_INVALID_TRANSFER_ENCODING:
      return ParseError::BadTransferEncoding;
    case HPE_INVALID_CHUNK_SIZE:
      return ParseError::InvalidChunk;
    case HPE_INVALID_EOF_STATE:
      return ParseError::Incomplete;
    default:
      return ParseError::BadMessage;
  }
}

ParseError MessageParser::finishRequestHead() {
  RequestHead& head = request_;
  head.method = http_method_str(static_cast<http_method>(parser_.method));
  head.version = Version{parser_.http_major, parser_.http_minor};
  if (!startLineNamesHttp() || !allNamesAreTokens(head.headers)) return ParseError::BadMessage;
  if (!isValidRequestTarget(head.target) || !startLineIsExact()) return ParseError::InvalidTarget;
  if (!allValuesAreClean(head.headers)) return ParseError::BadMessage;
  // http-parser joins folded lines with a space but runs its framing logic
  // on the pieces; a request has no excuse for obs-fold: refuse it.
  if (obsFold_) return ParseError::BadMessage;
  if (head.version.major != 1) return ParseError::UnsupportedVersion;
  if (parser_.method == HTTP_CONNECT) return ParseError::MethodNotAllowed;

  const size_t hosts = head.headers.count("Host");
  if (hosts > 1) return ParseError::DuplicateHost;
  if (hosts == 0 && head.version.atLeast11()) return ParseError::MissingHost;

  if (head.headers.has("Transfer-Encoding")) {
    // RFC 9112 §6.1: HTTP/1.0 has no chunked coding; a request body of
    // unknown length cannot be delimited.
    if (!head.version.atLeast11()) return ParseError::BadTransferEncoding;
    // Both readings must agree: this one and http-parser's, which frames the body.
    if (!finalCodingIsChunked(head.headers) || (parser_.flags & F_CHUNKED) == 0) {
      return ParseError::BadTransferEncoding;
    }
    head.chunked = true;
  }
  if (parser_.flags & F_CONTENTLENGTH) {
    head.contentLength = parser_.content_length;
    if (limits_.maxBodyBytes != 0 && parser_.content_length > limits_.maxBodyBytes) {
      return ParseError::BodyTooLarge;
    }
  }

  head.keepAlive = keepAliveFor(head.version, head.headers);
  const bool http11 = head.version.atLeast11();
  head.expectContinue = http11 && head.headers.hasToken("Expect", "100-continue");
  head.upgrade =
      http11 && head.headers.has("Upgrade") && head.headers.hasToken("Connection", "upgrade");
  return ParseError::None;
}

ParseError MessageParser::finishResponseHead() {
  ResponseHead& head = response_;
  head.status = static_cast<uint16_t>(parser_.status_code);
  head.version = Version{parser_.http_major, parser_.http_minor};
  if (!startLineNamesHttp() || !allNamesAreTokens(head.headers)) return ParseError::BadMessage;
  // The client reads the re-serialized head: a control byte in a value (a
  // bare CR above all) could end a line there. obs-fold is joined with a
  // space, as RFC 9112 §5.2 allows a proxy.
  if (!allValuesAreClean(head.headers)) return ParseError::BadMessage;
  if (head.version.major != 1) return ParseError::UnsupportedVersion;
  if (head.status < 100) return ParseError::BadMessage;
  if (head.switchingProtocols() && !upgradeRequested_) return ParseError::UnexpectedSwitch;

  if (parser_.flags & F_CONTENTLENGTH) head.contentLength = parser_.content_length;
  // RFC 9112 §6.3, in order.
  if (headRequest_ || head.interim() || head.status == 204 || head.status == 304) {
    head.framing = BodyFraming::None;
  } else if (parser_.flags & F_CHUNKED) {
    head.framing = BodyFraming::Chunked;
  } else if (head.headers.has("Transfer-Encoding")) {
    head.framing = BodyFraming::CloseDelimited;  // a coding we cannot delimit
  } else if (head.contentLength) {
    head.framing = BodyFraming::ContentLength;
  } else {
    head.framing = BodyFraming::CloseDelimited;
  }
  head.keepAlive =
      head.framing != BodyFraming::CloseDelimited && keepAliveFor(head.version, head.headers);
  return ParseError::None;
}

// ---- http-parser callbacks (run inside http_parser_execute) ----

int MessageParser::onMessageBeginCb(http_parser* p) {
  MessageParser& m = *self(p);
  m.messageBegun_ = true;
  m.lastWasValue_ = true;
  m.limitError_ = ParseError::None;
  if (m.mode_ == ParserMode::Request) {
    m.request_ = RequestHead{};
  } else {
    m.response_ = ResponseHead{};
  }
  return 0;
}

int MessageParser::onUrlCb(http_parser* p, const char* at, size_t len) {
  self(p)->request_.target.append(at, len);
  return 0;
}

int MessageParser::onStatusCb(http_parser* p, const char* at, size_t len) {
  self(p)->response_.reason.append(at, len);
  return 0;
}

// A head's fields are counted before each is stored, and what they hold
// (Headers::footprint(): names, values and an index entry each) is charged
// against the header limit as it grows, like the wire bytes in feed(): a
// head of tiny fields cannot hold much more than the limit. Passing a limit
// stops the storing, not http-parser: the head is still read to its end (the
// wire-byte cap bounds that), so whether the answer is 431 or http-parser's
// own 400 depends only on the bytes, never on how reads happened to split
// them (a callback sees a field in as many pieces as there were reads).
// http-parser never sees a trailer section: the chunked decoder bounds it.
bool MessageParser::chargeHead() {
  if (currentHeaders().footprint() > limits_.maxHeaderBytes) {
    limitError_ = ParseError::HeaderTooLarge;
    return false;
  }
  return true;
}

int MessageParser::onHeaderFieldCb(http_parser* p, const char* at, size_t len) {
  MessageParser& m = *self(p);
  const bool newField = m.lastWasValue_;
  m.lastWasValue_ = false;
  if (m.limitError_ != ParseError::None) return 0;
  Headers& headers = m.currentHeaders();
  if (newField) {
    if (m.limits_.maxHeaderCount != 0 && headers.size() >= m.limits_.maxHeaderCount) {
      m.limitError_ = ParseError::TooManyHeaders;
      return 0;
    }
    headers.endField();
    headers.startField();
  }
  headers.appendName(std::string_view(at, len));
  m.chargeHead();
  return 0;
}

int MessageParser::onHeaderValueCb(http_parser* p, const char* at, size_t len) {
  MessageParser& m = *self(p);
  m.lastWasValue_ = true;
  if (m.limitError_ != ParseError::None) return 0;
  m.currentHeaders().appendValue(std::string_view(at, len));
  m.chargeHead();
  return 0;
}

int MessageParser::onHeadersCompleteCb(http_parser* p) {
  MessageParser& m = *self(p);
  m.currentHeaders().endField();
  m.headersDone_ = true;
  // http-parser stops here for good: the body (and whether there is one:
  // HEAD, 1xx, 204, 304, a 101) is framed by sluice, see feedBody().
  http_parser_pause(p, 1);
  return 0;
}

}  // namespace sluice::http
