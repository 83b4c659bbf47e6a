// Differential fuzz target for sluice's request framing (issue #13, item 1).
//
// Input: byte 0 picks the feeding pattern (bit 0: one byte at a time),
// bytes 1-2 a split point, the rest is what a client sends. MessageParser
// reads it the way HttpSession does; forwardRequest() models what the
// session then writes to the backend (the re-serialized head, then every
// onBody() byte). An independent strict RFC 9112 reader (strict_http1.h)
// must read the forwarded bytes as exactly the same requests: same method
// and target, same payload, and the stream must end exactly where the last
// request ends, nothing left over that a backend could take for another
// request. On the input side: a request whose head sluice accepted and whose
// body the strict reader refuses must not complete in sluice, and one the
// strict reader accepts must end where sluice says it ends.
// Any mismatch: __builtin_trap().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"
#include "http/rewrite.h"
#include "strict_http1.h"

namespace {

using namespace sluice::http;

void check(bool ok) {
  if (!ok) __builtin_trap();
}

// What HttpSession::onRequestHead() + onRequestBody() put on the upstream
// connection for one request.
std::string forwardRequest(const RequestHead& head, std::string_view forwardedBody) {
  RequestRewrite rewrite;
  rewrite.clientIp = "127.0.0.1";
  rewrite.forwardUpgrade = head.upgrade;
  rewrite.fallbackHost = "app";
  return serializeRequestHead(head, rewrite) + std::string(forwardedBody);
}

struct Message {
  RequestHead head;
  std::string body;  // onBody() bytes: what is forwarded after the head
  size_t begin = 0;  // input offset of the first byte
  size_t end = 0;    // input offset just past the last byte
  uint64_t payload = 0;
  bool complete = false;
};

class Recorder : public ParserCallbacks {
 public:
  HeadAction onRequestHead(RequestHead& head) override {
    messages.emplace_back();
    messages.back().head = head;
    return HeadAction::proceed();
  }
  void onBody(const char* data, size_t len) override {
    check(len > 0 && !messages.empty());
    messages.back().body.append(data, len);
  }
  void onMessageComplete() override { check(!messages.empty()); }
  std::vector<Message> messages;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const bool byteAtATime = (data[0] & 1) != 0;
  const std::string_view input(reinterpret_cast<const char*>(data + 3), size - 3);
  const size_t split = input.empty() ? 0 : ((size_t{data[1]} << 8) | data[2]) % (input.size() + 1);

  Recorder rec;
  ParserLimits limits;
  limits.maxHeaderBytes = 8 * 1024;
  MessageParser parser(ParserMode::Request, rec, limits);

  // The session's buffer: what arrived and was not consumed yet.
  std::string pending;
  size_t pendingAt = 0;  // input offset of pending[0]
  bool stop = false;
  size_t messageBegin = 0;
  auto pump = [&] {
    while (!stop) {
      const ParseResult r = parser.feed(pending);
      pending.erase(0, r.consumed);
      pendingAt += r.consumed;
      if (r.status == ParseStatus::MessageComplete) {
        check(!rec.messages.empty());
        Message& m = rec.messages.back();
        m.complete = true;
        m.begin = messageBegin;
        m.end = pendingAt;
        m.payload = parser.bodyBytes();
        messageBegin = pendingAt;
        // An upgrade request hands the connection over after its response.
        if (m.head.upgrade || rec.messages.size() >= 8) {
          stop = true;
          return;
        }
        parser.resume();
        continue;
      }
      if (r.status != ParseStatus::NeedMore) stop = true;
      return;
    }
  };
  auto deliver = [&](size_t from, size_t to) {
    for (size_t i = from; i < to && !stop;) {
      const size_t n = byteAtATime ? 1 : to - i;
      pending.append(input.substr(i, n));
      i += n;
      pump();
    }
  };
  deliver(0, split);
  deliver(split, input.size());

  // Output side: the forwarded stream reads back as the same requests.
  std::string forwarded;
  size_t completed = 0;
  for (const Message& m : rec.messages) {
    if (!m.complete) break;
    forwarded += forwardRequest(m.head, m.body);
    ++completed;
  }
  std::string_view rest = forwarded;
  for (size_t i = 0; i < completed; ++i) {
    const Message& m = rec.messages[i];
    strict_http1::Request out;
    check(strict_http1::read(rest, out) == strict_http1::Status::Ok);
    check(out.method == m.head.method);
    check(out.target == m.head.target);
    check(out.payload.size() == m.payload);
    rest.remove_prefix(out.end);

    // Input side, for the same request.
    strict_http1::Request in;
    const strict_http1::Status status = strict_http1::read(input.substr(m.begin), in);
    check(status != strict_http1::Status::BadBody);
    check(status != strict_http1::Status::Incomplete);
    if (status == strict_http1::Status::Ok) {
      check(m.begin + in.end == m.end);
      check(in.payload == out.payload);
    }
  }
  check(rest.empty());

  // A request whose head sluice accepted and whose body is strictly valid and
  // complete must not fail in the body.
  if (rec.messages.size() > completed) {
    const Message& m = rec.messages[completed];
    strict_http1::Request in;
    if (strict_http1::read(input.substr(messageBegin), in) == strict_http1::Status::Ok &&
        !m.complete && parser.error() == ParseError::InvalidChunk) {
      check(false);
    }
  }
  return 0;
}
