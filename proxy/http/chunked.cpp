#include "http/chunked.h"

#include <algorithm>
#include <array>

#include "http/message.h"

namespace sluice::http {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool isWhitespace(char c) {
  return c == ' ' || c == '\t';
}

// RFC 9110 §5.6.2 tchar.
bool isTchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// RFC 9110 §5.6.4 qdtext: HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text.
bool isQdtext(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || u == 0x21 || (u >= 0x23 && u <= 0x5B) ||
         (u >= 0x5D && u <= 0x7E) || u >= 0x80;
}

// quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
bool isQuotedPairChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || (u >= 0x21 && u <= 0x7E) || u >= 0x80;
}

// field-value bytes: VCHAR / obs-text / SP / HTAB (RFC 9110 §5.5).
bool isFieldValueChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return c == '\t' || c == ' ' || (u >= 0x21 && u <= 0x7E) || u >= 0x80;
}

}  // namespace

void ChunkedDecoder::reset() {
  state_ = State::Size;
  error_ = Error::None;
  size_ = 0;
  remaining_ = 0;
  digits_ = 0;
  lineBytes_ = 0;
  trailerBytes_ = 0;
  trailerFields_ = 0;
  field_.clear();
  nameLength_ = 0;
}

bool ChunkedDecoder::fail(Error error) {
  state_ = State::Failed;
  error_ = error;
  return false;
}

ChunkedDecoder::Result ChunkedDecoder::feed(const char* data, size_t len, Sink& sink) {
  size_t used = 0;
  while (used < len) {
    if (state_ == State::Done) return {used, Status::Done};
    if (state_ == State::Failed) return {used, Status::Error};
    if (state_ == State::Data) {
      // The payload goes through in one piece, unexamined.
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, len - used));
      sink.chunkData(data + used, n);
      used += n;
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::DataCr;
      continue;
    }
    const bool ok = step(data[used], sink);
    ++used;
    if (!ok) return {used, Status::Error};
  }
  if (state_ == State::Done) return {used, Status::Done};
  return {used, state_ == State::Failed ? Status::Error : Status::NeedMore};
}

bool ChunkedDecoder::step(char c, Sink& sink) {
  switch (state_) {
    case State::Size:
    case State::AfterSize:
    case State::ExtSeparator:
    case State::ExtNameStart:
    case State::ExtName:
    case State::ExtAfterName:
    case State::ExtValueStart:
    case State::ExtToken:
    case State::ExtQuoted:
    case State::ExtQuotedPair:
    case State::SizeLf:
      if (++lineBytes_ > kMaxLineBytes) return fail(Error::Syntax);
      break;
    case State::TrailerStart:
    case State::TrailerName:
    case State::TrailerValue:
    case State::TrailerLf:
    case State::FinalLf:
      if (++trailerBytes_ > maxTrailerBytes_) return fail(Error::TrailerTooLarge);
      break;
    default:
      break;
  }

  switch (state_) {
    case State::Size: {
      const int digit = hexValue(c);
      if (digit >= 0) {
        if (++digits_ > kMaxSizeDigits) return fail(Error::Syntax);
        size_ = size_ * 16 + static_cast<uint64_t>(digit);
        return true;
      }
      if (digits_ == 0) return fail(Error::Syntax);
      state_ = State::AfterSize;
      [[fallthrough]];  // the same byte ends the size
    }
    case State::AfterSize:
    case State::ExtToken:
      if (state_ == State::ExtToken && isTchar(c)) return true;
      if (isWhitespace(c)) {
        state_ = State::ExtSeparator;
      } else if (c == ';') {
        state_ = State::ExtNameStart;
      } else if (c == '\r') {
        state_ = State::SizeLf;
      } else {
        return fail(Error::Syntax);
      }
      return true;
    case State::ExtSeparator:
      if (isWhitespace(c)) return true;
      if (c != ';') return fail(Error::Syntax);
      state_ = State::ExtNameStart;
      return true;
    case State::ExtNameStart:
      if (isWhitespace(c)) return true;
      if (!isTchar(c)) return fail(Error::Syntax);
      state_ = State::ExtName;
      return true;
    case State::ExtName:
      if (isTchar(c)) return true;
      if (c == '=') {
        state_ = State::ExtValueStart;
      } else if (isWhitespace(c)) {
        state_ = State::ExtAfterName;
      } else if (c == ';') {
        state_ = State::ExtNameStart;
      } else if (c == '\r') {
        state_ = State::SizeLf;
      } else {
        return fail(Error::Syntax);
      }
      return true;
    case State::ExtAfterName:
      if (isWhitespace(c)) return true;
      if (c == '=') {
        state_ = State::ExtValueStart;
      } else if (c == ';') {
        state_ = State::ExtNameStart;
      } else {
        return fail(Error::Syntax);
      }
      return true;
    case State::ExtValueStart:
      if (isWhitespace(c)) return true;
      if (c == '"') {
        state_ = State::ExtQuoted;
      } else if (isTchar(c)) {
        state_ = State::ExtToken;
      } else {
        return fail(Error::Syntax);
      }
      return true;
    case State::ExtQuoted:
      if (c == '"') {
        state_ = State::AfterSize;  // after a closing quote: what may follow a value
      } else if (c == '\\') {
        state_ = State::ExtQuotedPair;
      } else if (!isQdtext(c)) {
        return fail(Error::Syntax);
      }
      return true;
    case State::ExtQuotedPair:
      if (!isQuotedPairChar(c)) return fail(Error::Syntax);
      state_ = State::ExtQuoted;
      return true;
    case State::SizeLf:
      if (c != '\n') return fail(Error::Syntax);
      return endSizeLine(sink);
    case State::DataCr:
      if (c != '\r') return fail(Error::Syntax);
      state_ = State::DataLf;
      return true;
    case State::DataLf:
      if (c != '\n') return fail(Error::Syntax);
      sink.chunkEnd();
      state_ = State::Size;
      size_ = 0;
      digits_ = 0;
      lineBytes_ = 0;
      return true;
    case State::TrailerStart:
      if (c == '\r') {
        state_ = State::FinalLf;
      } else if (isTchar(c)) {
        field_.assign(1, c);
        state_ = State::TrailerName;
      } else {
        return fail(Error::Syntax);  // obs-fold, a bare LF, a CTL, a separator
      }
      return true;
    case State::TrailerName:
      if (isTchar(c)) {
        field_.push_back(c);
      } else if (c == ':') {
        nameLength_ = field_.size();
        field_.push_back(':');
        state_ = State::TrailerValue;
      } else {
        return fail(Error::Syntax);  // "Name :" or a CTL in the name
      }
      return true;
    case State::TrailerValue:
      if (c == '\r') {
        state_ = State::TrailerLf;
      } else if (isFieldValueChar(c)) {
        field_.push_back(c);
      } else {
        return fail(Error::Syntax);
      }
      return true;
    case State::TrailerLf:
      if (c != '\n') return fail(Error::Syntax);
      return finishTrailerLine(sink);
    case State::FinalLf:
      if (c != '\n') return fail(Error::Syntax);
      state_ = State::Done;
      return true;
    case State::Data:
    case State::Done:
    case State::Failed:
      break;
  }
  return fail(Error::Syntax);
}

bool ChunkedDecoder::endSizeLine(Sink& sink) {
  if (!sink.chunkBegin(size_)) return fail(Error::Stopped);
  if (size_ == 0) {
    state_ = State::TrailerStart;
  } else {
    state_ = State::Data;
    remaining_ = size_;
  }
  return true;
}

bool ChunkedDecoder::finishTrailerLine(Sink& sink) {
  if (maxTrailerFields_ != 0 && ++trailerFields_ > maxTrailerFields_) {
    return fail(Error::TooManyTrailers);
  }
  const std::string_view name = std::string_view(field_).substr(0, nameLength_);
  std::string_view value = std::string_view(field_).substr(nameLength_ + 1);
  while (!value.empty() && isWhitespace(value.front()))
    value.remove_prefix(1);
  while (!value.empty() && isWhitespace(value.back()))
    value.remove_suffix(1);
  sink.trailerField(name, value);
  field_.clear();
  nameLength_ = 0;
  state_ = State::TrailerStart;
  return true;
}

std::string chunkSizeLine(uint64_t size) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::array<char, 20> buf{};
  size_t pos = buf.size();
  buf[--pos] = '\n';
  buf[--pos] = '\r';
  do {
    buf[--pos] = kDigits[size & 0xF];
    size >>= 4;
  } while (size != 0);
  return std::string(buf.data() + pos, buf.size() - pos);
}

std::string trailerLine(std::string_view name, std::string_view value) {
  std::string line;
  line.reserve(name.size() + value.size() + 4);
  line.append(name).append(": ").append(value).append("\r\n");
  return line;
}

bool isForbiddenTrailer(std::string_view name) {
  static constexpr std::array<std::string_view, 11> kForbidden = {
      "Content-Length",
      "Transfer-Encoding",
      "Host",
      "Trailer",
      "Connection",
      "Keep-Alive",
      "TE",
      "Upgrade",
      "Proxy-Connection",
      "Proxy-Authenticate",
      "Proxy-Authorization",
  };
  return std::any_of(kForbidden.begin(), kForbidden.end(),
                     [&](std::string_view f) { return equalsIgnoreCase(f, name); });
}

}  // namespace sluice::http
