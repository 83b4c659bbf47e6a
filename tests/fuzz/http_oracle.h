#pragma once

// The split-point oracle of the HTTP parser targets (http_request_fuzz,
// http_response_fuzz): the same bytes fed to a MessageParser whole, split in
// two, or one byte at a time must give the same transcript: the same heads,
// the same body bytes, each message ending at the same stream offset, and
// the same final status, error and (unless it failed) consumed count.
//
// The driver plays a session: it keeps what the parser did not consume,
// appends each new piece, feeds the lot, and after every MessageComplete
// calls resume() and feeds what is left (pipelining). Only the rendering of
// a head (describe() in each target) knows the shape of RequestHead and
// ResponseHead.

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "http/parser.h"

namespace sluice::fuzz {

// One run, rendered as text so that a mismatch prints readably.
struct Transcript {
  std::string messages;  // every finished message: head, body, where it ended
  std::string openHead;  // the unfinished message's head (empty if none)
  std::string openBody;  // its body bytes so far
  std::string end;       // final status and error
  size_t consumed = 0;   // stream bytes consumed in all
  bool error = false;
};

// Records what the parser reports. The target's onRequestHead/onResponseHead
// calls beginMessage() with the rendered head.
class Recorder : public http::ParserCallbacks {
 public:
  // `chunked`: the body is chunked on the wire; `decoded`: the parser is in
  // BodyMode::Decoded for it.
  void beginMessage(std::string head, bool chunked, bool decoded) {
    check(!headSeen_, "a second head before the message completed");
    headSeen_ = true;
    head_ = std::move(head);
    chunked_ = chunked;
    decoded_ = decoded;
  }
  void onBody(const char* data, size_t len) override {
    check(headSeen_, "body bytes before a head");
    check(len > 0, "onBody with no bytes");
    body_.append(data, len);
  }
  void onMessageComplete() override {
    check(headSeen_ && !completeSeen_, "onMessageComplete without a head, or twice");
    completeSeen_ = true;
  }

  // The parser returned MessageComplete with the stream at `offset`.
  void endMessage(const http::MessageParser& parser, size_t offset) {
    check(completeSeen_, "MessageComplete without onMessageComplete");
    const size_t span = offset - lastEnd_;
    if (decoded_) {
      check(body_.size() == parser.bodyBytes(), "decoded body size differs from bodyBytes()");
    } else if (!chunked_) {
      // Raw mode forwards a Content-Length or close-delimited body as it was
      // on the wire: the head and the body bytes reported must be exactly
      // the bytes the message took. (A chunked body may be re-framed.)
      check(span == parser.headerBytes() + body_.size(),
            "message span differs from headerBytes() + raw body bytes");
      check(body_.size() == parser.bodyBytes(), "raw body size != bodyBytes()");
    }
    transcript_.messages += head_ + "body (" + std::to_string(body_.size()) + " bytes): " + body_ +
                            "\nends at " + std::to_string(offset) + "\n\n";
    lastEnd_ = offset;
    head_.clear();
    body_.clear();
    headSeen_ = completeSeen_ = false;
  }

  Transcript finish(const http::MessageParser& parser, http::ParseStatus status, size_t offset) {
    transcript_.openHead = head_;
    transcript_.openBody = body_;
    transcript_.error = status == http::ParseStatus::Error;
    transcript_.end = "status " + std::to_string(static_cast<int>(status)) + ", error " +
                      std::string(http::parseErrorToken(parser.error())) + ", answer " +
                      std::to_string(parser.errorStatus()) + " " + std::string(parser.errorToken());
    transcript_.consumed = offset;
    return transcript_;
  }

 private:
  Transcript transcript_;
  std::string head_;
  std::string body_;
  size_t lastEnd_ = 0;
  bool headSeen_ = false;
  bool completeSeen_ = false;
  bool chunked_ = false;
  bool decoded_ = false;
};

// Feeds `pieces` in order (and EOF after them if `eof`); `afterMessage` runs
// after every MessageComplete, before resume().
inline Transcript feedPieces(http::MessageParser& parser, Recorder& recorder,
                             const std::vector<std::string_view>& pieces, bool eof,
                             const std::function<void()>& afterMessage) {
  using http::ParseStatus;
  std::string buffer;  // fed but not consumed, like a session's input buffer
  size_t offset = 0;   // stream bytes consumed so far
  ParseStatus status = ParseStatus::NeedMore;
  // Feeds the buffer until the parser wants more bytes (true) or is done
  // with the connection (false).
  auto pump = [&] {
    while (true) {
      const http::ParseResult result = parser.feed(buffer);
      check(result.consumed <= buffer.size(), "consumed more than fed");
      buffer.erase(0, result.consumed);
      offset += result.consumed;
      status = result.status;
      if (status == ParseStatus::NeedMore) {
        check(buffer.empty(), "NeedMore left bytes unconsumed");
        return true;
      }
      if (status != ParseStatus::MessageComplete) return false;
      recorder.endMessage(parser, offset);
      // Until resume(), nothing more is taken.
      const http::ParseResult again = parser.feed(buffer);
      check(again.consumed == 0 && again.status == ParseStatus::MessageComplete,
            "feed() before resume() took bytes");
      afterMessage();
      parser.resume();
    }
  };
  bool open = true;
  for (const std::string_view piece : pieces) {
    buffer.append(piece);
    open = pump();
    if (!open) break;
  }
  if (open && eof) {
    const http::ParseResult result = parser.onEof();
    check(result.consumed == 0, "onEof() consumed bytes");
    status = result.status;
    if (status == ParseStatus::MessageComplete) recorder.endMessage(parser, offset);
  }
  return recorder.finish(parser, status, offset);
}

// `bytes` whole; split at `split`; one byte at a time.
inline std::vector<std::string_view> whole(std::string_view bytes) {
  return {bytes};
}
inline std::vector<std::string_view> splitAt(std::string_view bytes, size_t split) {
  return {bytes.substr(0, split), bytes.substr(split)};
}
inline std::vector<std::string_view> byteByByte(std::string_view bytes) {
  std::vector<std::string_view> pieces;
  pieces.reserve(bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i)
    pieces.push_back(bytes.substr(i, 1));
  return pieces;
}

// Inputs up to this size are also fed one byte at a time.
inline constexpr size_t kByteByByteMax = 512;

inline void print(const Transcript& transcript) {
  std::fprintf(stderr, "%s\nunfinished: %s\nbody so far: %s\nend: %s, consumed %zu\n",
               printable(transcript.messages).c_str(), printable(transcript.openHead).c_str(),
               printable(transcript.openBody).c_str(), transcript.end.c_str(), transcript.consumed);
}

// `other` fed the same bytes differently than `reference` (whole).
inline void compareTranscripts(const Transcript& reference, const Transcript& other,
                               const char* how) {
  const std::string what = std::string("fed ") + how + " vs whole: ";
  checkEqual(reference.messages, other.messages, (what + "finished messages differ").c_str());
  checkEqual(reference.end, other.end, (what + "final state differs").c_str());
  checkEqual(reference.openHead, other.openHead, (what + "unfinished head differs").c_str());
  if (!reference.error) {
    checkEqual(std::to_string(reference.consumed), std::to_string(other.consumed),
               (what + "consumed counts differ").c_str());
    checkEqual(reference.openBody, other.openBody, (what + "unfinished body differs").c_str());
    return;
  }
  // After an error the consumed count is only indicative (parser.h): a
  // whole feed() may count the bytes http-parser was given, a split one
  // stops earlier. Likewise a split run may have reported body bytes from
  // earlier pieces that a whole run drops with the failing feed(); both must
  // still be a prefix of the same wire body.
  const std::string& shorter =
      reference.openBody.size() < other.openBody.size() ? reference.openBody : other.openBody;
  const std::string& longer =
      reference.openBody.size() < other.openBody.size() ? other.openBody : reference.openBody;
  if (longer.compare(0, shorter.size(), shorter) != 0) {
    fail((what + "body bytes before the error differ").c_str(), reference.openBody, other.openBody);
  }
}

// The oracle both HTTP targets run: the bytes fed whole are the reference;
// split once at the fuzzer's point, and (when short) one byte at a time, they
// must give the same transcript. `run(options, pieces)` parses one way.
template <class Options, class Run>
void checkSplitsAgree(const Options& options, Run&& run) {
  const Transcript reference = run(options, whole(options.bytes));
  if (verbose()) print(reference);
  compareTranscripts(reference, run(options, splitAt(options.bytes, options.split)), "split");
  if (options.bytes.size() <= kByteByByteMax) {
    compareTranscripts(reference, run(options, byteByByte(options.bytes)), "byte by byte");
  }
}

}  // namespace sluice::fuzz
