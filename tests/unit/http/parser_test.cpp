#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace sluice::http {
namespace {

using namespace std::literals;

// Records everything the parser reports.
class Recorder : public ParserCallbacks {
 public:
  HeadAction onRequestHead(RequestHead& head) override {
    if (watched != nullptr) headerBytesAtHead.push_back(watched->headerBytes());
    requests.push_back(head);
    events.push_back("head");
    return action;
  }
  HeadAction onResponseHead(ResponseHead& head) override {
    responses.push_back(head);
    events.push_back("head");
    return action;
  }
  void onBody(const char* data, size_t len) override {
    REQUIRE(len > 0);
    body.append(data, len);
    bodies.back().append(data, len);
  }
  void onMessageComplete() override {
    if (watched != nullptr) payloadAtComplete.push_back(watched->bodyBytes());
    ++completed;
    events.push_back("complete");
    bodies.emplace_back();
  }

  HeadAction action = HeadAction::proceed();
  const MessageParser* watched = nullptr;  // if set, counters are sampled
  std::vector<uint64_t> headerBytesAtHead;
  std::vector<uint64_t> payloadAtComplete;
  std::vector<RequestHead> requests;
  std::vector<ResponseHead> responses;
  std::string body;                    // every body byte, all messages
  std::vector<std::string> bodies{1};  // body bytes per message
  std::vector<std::string> events;
  int completed = 0;
};

struct Drive {
  size_t consumed = 0;
  ParseStatus last = ParseStatus::NeedMore;
};

// Feeds `wire` in slices of `step` bytes the way a session drains an
// evbuffer: drop what was consumed, resume after each complete message, stop
// at anything but NeedMore/MessageComplete.
Drive drive(MessageParser& parser, std::string_view wire, size_t step = 1 << 20) {
  Drive d;
  while (d.consumed < wire.size()) {
    const size_t n = std::min(step, wire.size() - d.consumed);
    const ParseResult r = parser.feed(wire.data() + d.consumed, n);
    d.consumed += r.consumed;
    d.last = r.status;
    if (r.status == ParseStatus::MessageComplete) {
      parser.resume();
      continue;
    }
    if (r.status != ParseStatus::NeedMore) break;
  }
  return d;
}

// Feeds a whole request and returns the parser's error status (0 if none).
struct Outcome {
  ParseStatus status;
  ParseError error;
  uint16_t httpStatus;
};
Outcome parseRequest(std::string_view wire, ParserLimits limits = {}, size_t step = 1 << 20) {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, limits);
  const Drive d = drive(parser, wire, step);
  return {d.last, parser.error(), parser.errorStatus()};
}

Outcome parseResponse(std::string_view wire) {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  const Drive d = drive(parser, wire);
  return {d.last, parser.error(), parser.errorStatus()};
}

// ---------------------------------------------------------------- requests

TEST_CASE("ParsesSimpleGetRequest", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const std::string wire = "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t  \r\n\r\n";
  const ParseResult r = parser.feed(wire);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == wire.size());
  REQUIRE(rec.requests.size() == 1);
  const RequestHead& h = rec.requests[0];
  CHECK(h.method == "GET");
  CHECK(h.target == "/a/b?c=d");
  CHECK(h.version == Version{1, 1});
  CHECK(h.headers.size() == 2);
  CHECK(h.headers[0].name == "Host");
  CHECK(h.headers.get("host") == "example.com");
  CHECK(h.headers.get("user-agent") == "t");  // trailing whitespace trimmed
  CHECK(h.keepAlive);
  CHECK_FALSE(h.contentLength);
  CHECK_FALSE(h.chunked);
  CHECK_FALSE(h.hasBody());
  CHECK_FALSE(h.expectContinue);
  CHECK_FALSE(h.upgrade);
  CHECK(rec.events == std::vector<std::string>{"head", "complete"});
  CHECK(rec.body.empty());
  CHECK(parser.headerBytes() == wire.size());
}

TEST_CASE("Http11RequestIsKeepAliveUnlessConnectionClose", "[http][parser]") {
  const auto keepAlive = [](std::string_view connection) {
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec);
    std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
    if (!connection.empty()) wire += "Connection: " + std::string(connection) + "\r\n";
    wire += "\r\n";
    REQUIRE(parser.feed(wire).status == ParseStatus::MessageComplete);
    return rec.requests.at(0).keepAlive;
  };
  CHECK(keepAlive(""));
  CHECK(keepAlive("keep-alive"));
  CHECK_FALSE(keepAlive("close"));
  CHECK_FALSE(keepAlive("Close"));
  CHECK_FALSE(keepAlive("TE, close"));
  CHECK(keepAlive("closed"));  // a different token
}

TEST_CASE("Http10RequestIsKeepAliveOnlyWhenAsked", "[http][parser]") {
  const auto keepAlive = [](std::string_view connection) {
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec);
    std::string wire = "GET / HTTP/1.0\r\n";
    if (!connection.empty()) wire += "Connection: " + std::string(connection) + "\r\n";
    wire += "\r\n";
    REQUIRE(parser.feed(wire).status == ParseStatus::MessageComplete);
    CHECK(rec.requests.at(0).version == Version{1, 0});
    return rec.requests.at(0).keepAlive;
  };
  CHECK_FALSE(keepAlive(""));
  CHECK(keepAlive("keep-alive"));
  CHECK(keepAlive("Keep-Alive"));
  CHECK_FALSE(keepAlive("keep-alive, close"));
}

TEST_CASE("ByteAtATimeFeedingYieldsTheSameMessage", "[http][parser]") {
  const std::string wire =
      "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nX-Long-Header: "
      "abcdefghijklmnopqrstuvwxyz\r\n\r\nhello world";
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  size_t consumed = 0;
  ParseStatus last = ParseStatus::NeedMore;
  for (size_t i = 0; i < wire.size(); ++i) {
    const ParseResult r = parser.feed(wire.data() + i, 1);
    CHECK(r.consumed == 1);
    consumed += r.consumed;
    last = r.status;
    if (i + 1 < wire.size()) CHECK(r.status == ParseStatus::NeedMore);
  }
  CHECK(last == ParseStatus::MessageComplete);
  CHECK(consumed == wire.size());
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].target == "/upload");
  CHECK(rec.requests[0].headers.get("X-Long-Header") == "abcdefghijklmnopqrstuvwxyz");
  CHECK(rec.requests[0].contentLength == 11u);
  CHECK(rec.body == "hello world");
  CHECK(parser.bodyBytes() == 11);
  CHECK(parser.headerBytes() == wire.size() - 11);
}

TEST_CASE("PipelinedRequestsStopAfterEachMessageWithExactConsumedCounts", "[http][parser]") {
  const std::string first = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string second = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
  const std::string third = "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  std::string buffer = first + second + third;

  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);

  ParseResult r = parser.feed(buffer);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == first.size());
  buffer.erase(0, r.consumed);

  // Until resume() nothing more is taken.
  r = parser.feed(buffer);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == 0);

  parser.resume();
  r = parser.feed(buffer);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == second.size());
  buffer.erase(0, r.consumed);

  parser.resume();
  r = parser.feed(buffer);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == third.size());

  REQUIRE(rec.requests.size() == 3);
  CHECK(rec.requests[0].target == "/1");
  CHECK(rec.requests[1].target == "/2");
  CHECK(rec.requests[2].target == "/3");
  CHECK_FALSE(rec.requests[2].keepAlive);
  CHECK(rec.bodies[0].empty());
  CHECK(rec.bodies[1] == "abc");
  CHECK(rec.completed == 3);
}

TEST_CASE("PipelinedRequestsSplitAcrossFeedsKeepTheirBoundaries", "[http][parser]") {
  const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string b =
      "PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2\r\nhi\r\n0\r\n\r\n";
  const std::string c = "\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n";  // stray CRLF is tolerated
  for (size_t step : {1u, 2u, 7u, 64u}) {
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec);
    const Drive d = drive(parser, a + b + c, step);
    CAPTURE(step);
    CHECK(d.consumed == a.size() + b.size() + c.size());
    CHECK(d.last == ParseStatus::MessageComplete);
    REQUIRE(rec.requests.size() == 3);
    CHECK(rec.requests[2].target == "/c");
    CHECK(rec.bodies[1] == "2\r\nhi\r\n0\r\n\r\n");
  }
}

// Issue #13: a chunked body is forwarded re-framed (no extensions, lower-case
// hex, validated trailers), never as received.
TEST_CASE("ChunkedBodyIsReportedReFramed", "[http][parser]") {
  const std::string head =
      "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n";
  const std::string body = "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Sum:15\r\n\r\n";
  const std::string reframed = "5\r\nhello\r\na\r\n0123456789\r\n0\r\nX-Sum: 15\r\n\r\n";
  for (size_t step : {1u, 3u, 1000u}) {
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec);
    rec.watched = &parser;
    const Drive d = drive(parser, head + body, step);
    CAPTURE(step);
    CHECK(d.last == ParseStatus::MessageComplete);
    CHECK(d.consumed == head.size() + body.size());
    REQUIRE(rec.requests.size() == 1);
    CHECK(rec.requests[0].chunked);
    CHECK(rec.requests[0].hasBody());
    CHECK(rec.body == reframed);
    CHECK(rec.payloadAtComplete == std::vector<uint64_t>{15});  // payload only
  }
}

TEST_CASE("DecodedBodyModeReportsPayloadOnly", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.setBodyMode(BodyMode::Decoded);
  const std::string wire =
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
  const Drive d = drive(parser, wire, 2);
  CHECK(d.last == ParseStatus::MessageComplete);
  CHECK(rec.body == "abcde");
}

TEST_CASE("ExpectContinueIsReportedForHttp11Only", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const std::string head =
      "PUT /x HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\nContent-Length: 4\r\n\r\n";
  ParseResult r = parser.feed(head);
  // The head is reported before any body byte exists: the session can answer
  // 100 Continue (or forward the Expect) and wait.
  CHECK(r.status == ParseStatus::NeedMore);
  CHECK(r.consumed == head.size());
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].expectContinue);
  r = parser.feed("data");
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(rec.body == "data");

  Recorder rec10;
  MessageParser parser10(ParserMode::Request, rec10);
  parser10.feed("PUT /x HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(rec10.requests.size() == 1);
  CHECK_FALSE(rec10.requests[0].expectContinue);
}

TEST_CASE("UpgradeRequestCompletesAndLeavesFollowingBytesUnconsumed", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const std::string head =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
      "websocket\r\n\r\n";
  const std::string tunnel = "\x81\x05hello";
  const ParseResult r = parser.feed(head + tunnel);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == head.size());
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].upgrade);
  CHECK(rec.body.empty());

  // Without Connection: upgrade the Upgrade header is only an offer.
  Recorder rec2;
  MessageParser parser2(ParserMode::Request, rec2);
  parser2.feed("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n");
  REQUIRE(rec2.requests.size() == 1);
  CHECK_FALSE(rec2.requests[0].upgrade);
}

TEST_CASE("UpgradeRequestThatIsRefusedContinuesAsHttp", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const std::string first =
      "GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
  const std::string second = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  const Drive d = drive(parser, first + second);
  CHECK(d.consumed == first.size() + second.size());
  REQUIRE(rec.requests.size() == 2);
  CHECK(rec.requests[1].target == "/next");
  CHECK_FALSE(rec.requests[1].upgrade);
}

TEST_CASE("RequestWithoutFramingHasNoBody", "[http][parser]") {
  // A request body exists only with Content-Length or chunked; the bytes
  // after the head are the next request.
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const std::string head = "POST /x HTTP/1.1\r\nHost: h\r\n\r\n";
  const ParseResult r = parser.feed(head + "GET");
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == head.size());
}

TEST_CASE("EofBetweenRequestsIsACleanClose", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  CHECK(parser.onEof().status == ParseStatus::Closed);

  Recorder rec2;
  MessageParser parser2(ParserMode::Request, rec2);
  REQUIRE(parser2.feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status == ParseStatus::MessageComplete);
  parser2.resume();
  CHECK(parser2.onEof().status == ParseStatus::Closed);
  CHECK_FALSE(parser2.failed());
}

TEST_CASE("EofInsideARequestIsIncomplete", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  REQUIRE(parser.feed("GET / HTTP/1.1\r\nHo").status == ParseStatus::NeedMore);
  CHECK(parser.onEof().status == ParseStatus::Error);
  CHECK(parser.error() == ParseError::Incomplete);
  CHECK(parser.errorStatus() == 400);

  Recorder rec2;
  MessageParser parser2(ParserMode::Request, rec2);
  REQUIRE(parser2.feed("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc").status ==
          ParseStatus::NeedMore);
  CHECK(parser2.onEof().status == ParseStatus::Error);
  CHECK(parser2.error() == ParseError::Incomplete);
}

// -------------------------------------------------------------- validation

TEST_CASE("MalformedRequestLineIs400", "[http][parser][validation]") {
  for (std::string_view wire : {
           "GET\r\n\r\n",
           "GET /a HTTP/1.1 extra\r\nHost: h\r\n\r\n",
           "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
           "GET / HTTX/1.1\r\nHost: h\r\n\r\n",
           "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n",
       }) {
    CAPTURE(wire);
    const Outcome o = parseRequest(wire);
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.error == ParseError::BadMessage);
    CHECK(o.httpStatus == 400);
  }
}

TEST_CASE("MalformedHeaderIs400", "[http][parser][validation]") {
  for (std::string_view wire : {
           "GET / HTTP/1.1\r\nHost : h\r\n\r\n",        // space before the colon
           "GET / HTTP/1.1\r\nHost: h\r\nBad\r\n\r\n",  // no colon
           "GET / HTTP/1.1\r\nHo(st: h\r\n\r\n",        // not a token
           "GET / HTTP/1.1\r\nHost: h\rX\n\r\n",        // CR without LF
       }) {
    CAPTURE(wire);
    const Outcome o = parseRequest(wire);
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.error == ParseError::BadMessage);
    CHECK(o.httpStatus == 400);
  }
}

std::string requestWithHeaderSize(size_t total) {
  // "GET / HTTP/1.1\r\n" + "Host: h\r\n" + "X: <pad>\r\n" + "\r\n"
  const std::string fixed = "GET / HTTP/1.1\r\nHost: h\r\nX: \r\n\r\n";
  REQUIRE(total > fixed.size());
  return "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(total - fixed.size(), 'a') + "\r\n\r\n";
}

TEST_CASE("HeaderSectionExactlyAtTheLimitIsAccepted", "[http][parser][validation]") {
  const ParserLimits limits{1024, 0};
  const std::string wire = requestWithHeaderSize(1024);
  REQUIRE(wire.size() == 1024);
  for (size_t step : {1u, 100u, 4096u}) {
    CAPTURE(step);
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec, limits);
    rec.watched = &parser;
    const Drive d = drive(parser, wire, step);
    CHECK(d.last == ParseStatus::MessageComplete);
    CHECK(d.consumed == 1024);
    CHECK(rec.headerBytesAtHead == std::vector<uint64_t>{1024});
  }
}

TEST_CASE("HeaderSectionOneByteOverTheLimitIs431", "[http][parser][validation]") {
  const ParserLimits limits{1024, 0};
  const std::string wire = requestWithHeaderSize(1025);
  for (size_t step : {1u, 100u, 4096u}) {
    CAPTURE(step);
    const Outcome o = parseRequest(wire, limits, step);
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.error == ParseError::HeaderTooLarge);
    CHECK(o.httpStatus == 431);
  }
}

TEST_CASE("HeaderLimitIsOnlyHitWhenTheExtraByteArrives", "[http][parser][validation]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, ParserLimits{64, 0});
  const std::string wire = requestWithHeaderSize(200);
  ParseResult r = parser.feed(wire.data(), 64);
  CHECK(r.status == ParseStatus::NeedMore);
  CHECK(r.consumed == 64);
  r = parser.feed(wire.data() + 64, 1);
  CHECK(r.status == ParseStatus::Error);
  CHECK(parser.error() == ParseError::HeaderTooLarge);
}

TEST_CASE("HeaderLimitAppliesPerMessageNotPerConnection", "[http][parser][validation]") {
  const std::string one = requestWithHeaderSize(100);
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, ParserLimits{100, 0});
  const Drive d = drive(parser, one + one + one, 33);
  CHECK(d.last == ParseStatus::MessageComplete);
  CHECK(rec.completed == 3);
}

// http-parser caps every head at 80 KiB by default (issue #13): a limit
// above that used to answer 431 to a 100 KiB head. The limit alone decides.
TEST_CASE("HeaderLimitAboveHttpParsersOwnCapIsHonoured", "[http][parser][validation]") {
  const ParserLimits limits{200 * 1024, 0};
  for (size_t step : {1000u, 1u << 20}) {
    CAPTURE(step);
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec, limits);
    const Drive d = drive(parser, requestWithHeaderSize(150 * 1024), step);
    CHECK(d.last == ParseStatus::MessageComplete);
    REQUIRE(rec.requests.size() == 1);
    CHECK(rec.requests[0].headers.get("X")->size() == 150 * 1024 - 32);
    const Outcome over = parseRequest(requestWithHeaderSize(200 * 1024 + 1), limits, step);
    CHECK(over.error == ParseError::HeaderTooLarge);
    CHECK(over.httpStatus == 431);
  }
  // Response heads too (the session allows 256 KiB from a backend).
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec, ParserLimits{256 * 1024, 0});
  const std::string wire =
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(100 * 1024, 'b') + "\r\nContent-Length: 0\r\n\r\n";
  CHECK(drive(parser, wire).last == ParseStatus::MessageComplete);
}

// `fields` fields in all: Host and fields - 1 tiny ones.
std::string requestWithFields(size_t fields, std::string_view field = "a: b\r\n") {
  std::string wire = "GET / HTTP/1.1\r\nHost: h\r\n";
  for (size_t i = 1; i < fields; ++i)
    wire += field;
  return wire + "\r\n";
}

TEST_CASE("MoreFieldsThanMaxHeaderCountIs431", "[http][parser][validation]") {
  const ParserLimits limits{64 * 1024, 0, 10};
  for (size_t step : {1u, 7u, 4096u}) {
    CAPTURE(step);
    CHECK(parseRequest(requestWithFields(10), limits, step).status == ParseStatus::MessageComplete);
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec, limits);
    drive(parser, requestWithFields(11), step);
    CHECK(parser.error() == ParseError::TooManyHeaders);
    CHECK(parser.errorStatus() == 431);
    CHECK(parser.errorToken() == "too_many_headers");
    // Counted as they arrive: the eleventh field was never stored.
    CHECK(parser.requestHead().headers.size() == 10);
  }
  // 0: no cap.
  CHECK(parseRequest(requestWithFields(4000), ParserLimits{64 * 1024, 0, 0}).status ==
        ParseStatus::MessageComplete);
}

// Issue #13: what the parsed fields hold (names, values and 8 bytes of
// index each) counts against maxHeaderBytes as well as the wire bytes: a
// head of tiny fields held ~21x its wire bytes, now never much more than
// the limit.
TEST_CASE("TinyFieldsAreChargedTheirMemoryAgainstTheHeaderLimit", "[http][parser][validation]") {
  const ParserLimits limits{4096, 0, 0};
  // 500 fields "a:b": 2.5 KB on the wire, 5 KB parsed.
  const std::string wire = requestWithFields(500, "a:b\r\n");
  REQUIRE(wire.size() < 4096);
  for (size_t step : {1u, 64u, 8192u}) {
    CAPTURE(step);
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec, limits);
    drive(parser, wire, step);
    CHECK(parser.error() == ParseError::HeaderTooLarge);
    CHECK(parser.errorStatus() == 431);
    CHECK(parser.requestHead().headers.footprint() <= 4096 + 2 * Headers::kFieldOverhead);
  }
  // Half of them fit.
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, limits);
  CHECK(drive(parser, requestWithFields(250, "a:b\r\n")).last == ParseStatus::MessageComplete);
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].headers.footprint() <= 4096);
}

TEST_CASE("AParsedHeadHoldsNoMoreThanTheHeaderLimit", "[http][parser][validation]") {
  constexpr uint64_t kLimit = 64 * 1024;
  for (std::string_view field :
       {"a:\n", "a:\r\n", "a:b\r\n", "ab: c \t\r\n", "X-Long: value\r\n"}) {
    for (size_t fields : {1000u, 9000u}) {
      CAPTURE(field, fields);
      Recorder rec;
      MessageParser parser(ParserMode::Request, rec, ParserLimits{kLimit, 0, 10000});
      const ParseStatus status = drive(parser, requestWithFields(fields, field), 4096).last;
      CHECK(
          (status == ParseStatus::MessageComplete || parser.error() == ParseError::HeaderTooLarge));
      const Headers& headers = parser.requestHead().headers;
      CHECK(headers.footprint() <= kLimit + 4096);  // at most one piece over
      CHECK(headers.allocatedBytes() <= 2 * (kLimit + 4096));
    }
  }
}

TEST_CASE("TrailerFieldsAreBoundedLikeHeadFieldsAndNotKept", "[http][parser][validation]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string trailers;
  for (int i = 0; i < 20; ++i)
    trailers += "t: v\r\n";
  const std::string wire = head + "1\r\na\r\n0\r\n" + trailers + "\r\n";
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, ParserLimits{64 * 1024, 0, 100});
  CHECK(drive(parser, wire).last == ParseStatus::MessageComplete);
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].headers.size() == 2);
  CHECK(parser.requestHead().headers.size() == 2);
  CHECK(parseRequest(wire, ParserLimits{64 * 1024, 0, 10}).status == ParseStatus::Error);
  CHECK(parseRequest(head + "1\r\na\r\n0\r\nt: " + std::string(2000, 'v') + "\r\n\r\n",
                     ParserLimits{1024, 0})
            .status == ParseStatus::Error);
}

TEST_CASE("ContentLengthWithTransferEncodingIs400", "[http][parser][validation]") {
  for (std::string_view wire : {
           "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: "
           "chunked\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: "
           "3\r\n\r\n",
       }) {
    const Outcome o = parseRequest(wire);
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.error == ParseError::ContentLengthWithTransferEncoding);
    CHECK(o.httpStatus == 400);
  }
}

TEST_CASE("DuplicateContentLengthWithDifferentValuesIs400", "[http][parser][validation]") {
  const Outcome o =
      parseRequest("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
  CHECK(o.error == ParseError::DuplicateContentLength);
  CHECK(o.httpStatus == 400);
}

TEST_CASE("DuplicateContentLengthWithIdenticalValuesIsAlsoRejected", "[http][parser][validation]") {
  // Decision: reject, never merge (RFC 9112 §6.3 allows either; rejecting
  // leaves no room for two hops to disagree).
  const Outcome o = parseRequest(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc");
  CHECK(o.error == ParseError::DuplicateContentLength);
  CHECK(o.httpStatus == 400);
}

TEST_CASE("InvalidContentLengthIs400", "[http][parser][validation]") {
  for (std::string_view value : {"abc", "3, 3", "-1", "1 2", "99999999999999999999999"}) {
    CAPTURE(value);
    const Outcome o = parseRequest(
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: " + std::string(value) + "\r\n\r\n");
    CHECK(o.error == ParseError::InvalidContentLength);
    CHECK(o.httpStatus == 400);
  }
}

TEST_CASE("TransferEncodingWhoseFinalCodingIsNotChunkedIs400", "[http][parser][validation]") {
  for (std::string_view te : {"gzip", "chunked, gzip", "chunked, chunked", "identity"}) {
    CAPTURE(te);
    const Outcome o = parseRequest(
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(te) + "\r\n\r\n");
    CHECK(o.error == ParseError::BadTransferEncoding);
    CHECK(o.httpStatus == 400);
  }
  // Accepted: a coding list ending in chunked, and case differences.
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const Drive d = drive(parser,
                        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n"
                        "Transfer-Encoding: Chunked\r\n\r\n0\r\n\r\n");
  CHECK(d.last == ParseStatus::MessageComplete);
  REQUIRE(rec.requests.size() == 1);
  CHECK(rec.requests[0].chunked);
}

TEST_CASE("TransferEncodingInAnHttp10RequestIs400", "[http][parser][validation]") {
  const Outcome o = parseRequest("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
  CHECK(o.error == ParseError::BadTransferEncoding);
  CHECK(o.httpStatus == 400);
}

TEST_CASE("InvalidChunkSizeIs400", "[http][parser][validation]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::string_view body :
       {"zz\r\nab\r\n0\r\n\r\n", "-1\r\n", "2\r\nabc\r\n0\r\n\r\n", "fffffffffffffffffff\r\n"}) {
    CAPTURE(body);
    for (size_t step : {1u, 1000u}) {
      const Outcome o = parseRequest(head + std::string(body), {}, step);
      CHECK(o.status == ParseStatus::Error);
      CHECK(o.error == ParseError::InvalidChunk);
      CHECK(o.httpStatus == 400);
    }
  }
}

TEST_CASE("ChunkLinesMustEndInCrlf", "[http][parser][validation]") {
  // http-parser as built by Debian is not strict: it takes any two bytes
  // after chunk data and any byte after a CR. sluice checks those itself.
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (std::string_view body : {
           "2\r\nabXY0\r\n\r\n",   // data not followed by CRLF
           "2\r\nab\rX0\r\n\r\n",  // CR then junk after data
           "2\rXab\r\n0\r\n\r\n",  // chunk-size line ends in CR + junk
           "2\r\nab\r\n0\r\n\rX",  // last line ends in CR + junk
       }) {
    CAPTURE(body);
    for (size_t step : {1u, 2u, 1000u}) {
      CAPTURE(step);
      Recorder rec;
      MessageParser parser(ParserMode::Request, rec);
      const Drive d = drive(parser, head + std::string(body), step);
      CHECK(d.last == ParseStatus::Error);
      CHECK(parser.error() == ParseError::InvalidChunk);
      CHECK(parser.errorStatus() == 400);
      CHECK(rec.completed == 0);
    }
  }
}

TEST_CASE("HeadSectionMustEndInLf", "[http][parser][validation]") {
  const Outcome o = parseRequest("GET / HTTP/1.1\r\nHost: h\r\n\rXGET / HTTP/1.1\r\n\r\n");
  CHECK(o.error == ParseError::BadMessage);
  CHECK(o.httpStatus == 400);
  // Bare LF line endings are tolerated (RFC 9112 §2.2 allows it).
  CHECK(parseRequest("GET / HTTP/1.1\nHost: h\n\n").status == ParseStatus::MessageComplete);
}

TEST_CASE("ContentLengthOverTheBodyLimitIs413AtTheHead", "[http][parser][validation]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, ParserLimits{64 * 1024, 10});
  const ParseResult r = parser.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n");
  CHECK(r.status == ParseStatus::Error);
  CHECK(parser.error() == ParseError::BodyTooLarge);
  CHECK(parser.errorStatus() == 413);
  CHECK(rec.requests.empty());  // rejected before the session sees it
  CHECK(rec.body.empty());

  const Outcome atLimit = parseRequest(
      "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", {64 * 1024, 10});
  CHECK(atLimit.status == ParseStatus::MessageComplete);
}

TEST_CASE("ChunkedBodyOverTheBodyLimitIs413WhenExceeded", "[http][parser][validation]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec, ParserLimits{64 * 1024, 10});
  ParseResult r = parser.feed(head + "6\r\nabcdef\r\n");
  CHECK(r.status == ParseStatus::NeedMore);
  CHECK(rec.requests.size() == 1);
  r = parser.feed("5\r\nghijk\r\n0\r\n\r\n");
  CHECK(r.status == ParseStatus::Error);
  CHECK(parser.error() == ParseError::BodyTooLarge);
  CHECK(parser.errorStatus() == 413);
  CHECK(parser.errorToken() == "body_too_large");

  const Outcome atLimit =
      parseRequest(head + "6\r\nabcdef\r\n4\r\nghij\r\n0\r\n\r\n", {64 * 1024, 10}, 1);
  CHECK(atLimit.status == ParseStatus::MessageComplete);
}

TEST_CASE("Http11RequestWithoutHostIs400", "[http][parser][validation]") {
  const Outcome o = parseRequest("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
  CHECK(o.error == ParseError::MissingHost);
  CHECK(o.httpStatus == 400);
  // HTTP/1.0 does not require Host.
  CHECK(parseRequest("GET / HTTP/1.0\r\n\r\n").status == ParseStatus::MessageComplete);
}

TEST_CASE("RequestWithTwoHostHeadersIs400", "[http][parser][validation]") {
  for (std::string_view version : {"1.1", "1.0"}) {
    const Outcome o =
        parseRequest("GET / HTTP/" + std::string(version) + "\r\nHost: a\r\nhost: b\r\n\r\n");
    CHECK(o.error == ParseError::DuplicateHost);
    CHECK(o.httpStatus == 400);
  }
}

TEST_CASE("ConnectRequestIs405", "[http][parser][validation]") {
  const Outcome o = parseRequest("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n");
  CHECK(o.error == ParseError::MethodNotAllowed);
  CHECK(o.httpStatus == 405);
}

TEST_CASE("UnsupportedHttpVersionIs505", "[http][parser][validation]") {
  const Outcome o = parseRequest("GET / HTTP/2.0\r\nHost: h\r\n\r\n");
  CHECK(o.error == ParseError::UnsupportedVersion);
  CHECK(o.httpStatus == 505);
}

TEST_CASE("HeadCallbackCanRejectWithItsOwnStatus", "[http][parser]") {
  Recorder rec;
  rec.action = HeadAction::reject(403, "forbidden");
  MessageParser parser(ParserMode::Request, rec);
  const ParseResult r = parser.feed("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab");
  CHECK(r.status == ParseStatus::Error);
  CHECK(parser.error() == ParseError::Rejected);
  CHECK(parser.errorStatus() == 403);
  CHECK(parser.errorToken() == "forbidden");
  CHECK(rec.body.empty());
  // A failed parser stays failed.
  CHECK(parser.feed("GET / HTTP/1.1\r\n").status == ParseStatus::Error);
}

TEST_CASE("BytesAfterAConnectionCloseRequestAreNeverParsed", "[http][parser][validation]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const Drive d = drive(parser,
                        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
                        "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  // The connection is over after a Connection: close request; what follows
  // is never parsed.
  CHECK(d.last == ParseStatus::Closed);
  CHECK_FALSE(parser.failed());
  CHECK(rec.completed == 1);
}

TEST_CASE("ErrorTokensAndStatusesAreDistinct", "[http][parser]") {
  CHECK(parseErrorToken(ParseError::DuplicateContentLength) == "duplicate_content_length");
  CHECK(parseErrorToken(ParseError::HeaderTooLarge) == "header_too_large");
  CHECK(parseErrorStatus(ParseError::HeaderTooLarge, ParserMode::Request) == 431);
  CHECK(parseErrorStatus(ParseError::BodyTooLarge, ParserMode::Request) == 413);
  CHECK(parseErrorStatus(ParseError::InvalidChunk, ParserMode::Request) == 400);
  CHECK(parseErrorStatus(ParseError::HeaderTooLarge, ParserMode::Response) == 502);
  CHECK(parseErrorStatus(ParseError::None, ParserMode::Request) == 0);
}

// --------------------------------------------------------------- responses

RequestHead requestFor(std::string method, bool upgrade = false) {
  RequestHead r;
  r.method = std::move(method);
  r.target = "/";
  r.upgrade = upgrade;
  return r;
}

TEST_CASE("ResponseWithContentLengthIsFramedAndKeepAlive", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello";
  const ParseResult r = parser.feed(wire + "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == wire.size());
  REQUIRE(rec.responses.size() == 1);
  const ResponseHead& h = rec.responses[0];
  CHECK(h.status == 200);
  CHECK(h.reason == "OK");
  CHECK(h.framing == BodyFraming::ContentLength);
  CHECK(h.contentLength == 5u);
  CHECK(h.keepAlive);
  CHECK(rec.body == "hello");
}

TEST_CASE("ChunkedResponseBodyIsReportedUnchanged", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  const std::string body = "4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n";
  const Drive d = drive(parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, 1);
  CHECK(d.last == ParseStatus::MessageComplete);
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].framing == BodyFraming::Chunked);
  CHECK(rec.responses[0].keepAlive);
  CHECK(rec.body == body);
}

TEST_CASE("ResponseToHeadHasNoBodyWhateverItsHeadersSay", "[http][parser][response]") {
  for (std::string_view framing : {"Content-Length: 1234", "Transfer-Encoding: chunked", ""}) {
    CAPTURE(framing);
    Recorder rec;
    MessageParser parser(ParserMode::Response, rec);
    parser.expectResponseTo(requestFor("HEAD"));
    std::string head = "HTTP/1.1 200 OK\r\n";
    if (!framing.empty()) head += std::string(framing) + "\r\n";
    head += "\r\n";
    const ParseResult r = parser.feed(head + "HTTP/1.1 200 OK\r\n");
    CHECK(r.status == ParseStatus::MessageComplete);
    CHECK(r.consumed == head.size());
    REQUIRE(rec.responses.size() == 1);
    CHECK(rec.responses[0].framing == BodyFraming::None);
    CHECK(rec.responses[0].keepAlive);
    CHECK(rec.body.empty());
  }
}

TEST_CASE("HeadContextEndsWithTheFinalResponse", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.expectResponseTo(requestFor("HEAD"));
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n";
  const std::string second = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  const Drive d = drive(parser, first + second);
  CHECK(d.consumed == first.size() + second.size());
  CHECK(rec.bodies.at(0).empty());
  CHECK(rec.bodies.at(1) == "abc");
}

TEST_CASE("NoContentAndNotModifiedResponsesHaveNoBody", "[http][parser][response]") {
  for (std::string_view status : {"204 No Content", "304 Not Modified"}) {
    CAPTURE(status);
    Recorder rec;
    MessageParser parser(ParserMode::Response, rec);
    const std::string head = "HTTP/1.1 " + std::string(status) + "\r\nContent-Length: 10\r\n\r\n";
    const ParseResult r = parser.feed(head + "HTTP/1.1 200 OK\r\n\r\n");
    CHECK(r.status == ParseStatus::MessageComplete);
    CHECK(r.consumed == head.size());
    REQUIRE(rec.responses.size() == 1);
    CHECK(rec.responses[0].framing == BodyFraming::None);
    CHECK(rec.responses[0].contentLength == 10u);  // kept: it describes the resource
    CHECK(rec.responses[0].keepAlive);
  }
}

TEST_CASE("ContinueIsAnInterimResponseBeforeTheFinalOne", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok";
  ParseResult r = parser.feed(interim + final);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == interim.size());
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].interim());
  CHECK(rec.responses[0].framing == BodyFraming::None);
  parser.resume();
  r = parser.feed(final);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == final.size());
  REQUIRE(rec.responses.size() == 2);
  CHECK(rec.responses[1].status == 201);
  CHECK(rec.body == "ok");
}

TEST_CASE("SwitchingProtocolsStopsTheParserAndLeavesTunnelBytes", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.expectResponseTo(requestFor("GET", /*upgrade=*/true));
  const std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
  const std::string tunnel = "\x81\x02hi then more";
  for (size_t step : {1u, 1000u}) {
    CAPTURE(step);
    Recorder rec2;
    MessageParser p2(ParserMode::Response, rec2);
    p2.expectResponseTo(requestFor("GET", true));
    const Drive d = drive(p2, head + tunnel, step);
    CHECK(d.last == ParseStatus::Upgraded);
    CHECK(d.consumed == head.size());
    CHECK(rec2.completed == 1);
    CHECK(rec2.body.empty());
  }
  ParseResult r = parser.feed(head + tunnel);
  CHECK(r.status == ParseStatus::Upgraded);
  CHECK(r.consumed == head.size());
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].switchingProtocols());
  // Further feeding consumes nothing: those bytes are the tunnel's.
  r = parser.feed(tunnel);
  CHECK(r.status == ParseStatus::Upgraded);
  CHECK(r.consumed == 0);
}

TEST_CASE("SwitchingProtocolsWithoutAnUpgradeRequestIs502", "[http][parser][response]") {
  const Outcome o = parseResponse(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  CHECK(o.error == ParseError::UnexpectedSwitch);
  CHECK(o.httpStatus == 502);
}

TEST_CASE("UpgradeOfferInAFinalResponseDoesNotEndHttp", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  const std::string wire =
      "HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nContent-Length: 2\r\n\r\nok";
  const ParseResult r = parser.feed(wire);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == wire.size());
  CHECK(rec.body == "ok");
}

TEST_CASE("CloseDelimitedResponseCompletesOnEof", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  ParseResult r = parser.feed("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ");
  CHECK(r.status == ParseStatus::NeedMore);
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].framing == BodyFraming::CloseDelimited);
  CHECK_FALSE(rec.responses[0].keepAlive);
  r = parser.feed("bytes");
  CHECK(r.status == ParseStatus::NeedMore);
  CHECK(rec.completed == 0);
  r = parser.onEof();
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(rec.completed == 1);
  CHECK(rec.body == "some bytes");
  CHECK(parser.feed("x").status == ParseStatus::Closed);
}

TEST_CASE("Http10ResponseFramingAndKeepAlive", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.feed("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].version == Version{1, 0});
  CHECK_FALSE(rec.responses[0].keepAlive);

  Recorder rec2;
  MessageParser parser2(ParserMode::Response, rec2);
  parser2.feed("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(rec2.responses.size() == 1);
  CHECK(rec2.responses[0].keepAlive);

  Recorder rec3;
  MessageParser parser3(ParserMode::Response, rec3);
  parser3.feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(rec3.responses.size() == 1);
  CHECK_FALSE(rec3.responses[0].keepAlive);
}

TEST_CASE("ResponseWithUnknownTransferCodingIsCloseDelimited", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz");
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].framing == BodyFraming::CloseDelimited);
  CHECK(parser.onEof().status == ParseStatus::MessageComplete);
  CHECK(rec.body == "zz");
}

TEST_CASE("EofInsideALengthDelimitedResponseIs502", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  const ParseResult r = parser.onEof();
  CHECK(r.status == ParseStatus::Error);
  CHECK(parser.error() == ParseError::Incomplete);
  CHECK(parser.errorStatus() == 502);
}

TEST_CASE("MalformedResponseFramingIs502", "[http][parser][response]") {
  for (std::string_view wire : {
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nqq\r\n",
           "HTTP/1.1 2OO OK\r\n\r\n",
           "HTTP/2.0 200 OK\r\n\r\n",
           "SSH-2.0-OpenSSH\r\n",
       }) {
    CAPTURE(wire);
    const Outcome o = parseResponse(wire);
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.httpStatus == 502);
  }
}

}  // namespace
}  // namespace sluice::http

namespace sluice::http {
namespace {

TEST_CASE("CalleeMayMoveTheHeadOut", "[http][parser]") {
  class Taker : public ParserCallbacks {
   public:
    HeadAction onRequestHead(RequestHead& h) override {
      taken.push_back(std::move(h));
      return HeadAction::proceed();
    }
    void onBody(const char* data, size_t len) override { body.append(data, len); }
    void onMessageComplete() override { ++completed; }
    std::vector<RequestHead> taken;
    std::string body;
    int completed = 0;
  } taker;
  MessageParser parser(ParserMode::Request, taker);
  const std::string wire =
      "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "1\r\nx\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  ParseResult r = parser.feed(wire);
  CHECK(r.status == ParseStatus::MessageComplete);
  CHECK(r.consumed == wire.find("GET /b"));
  CHECK(taker.body == "1\r\nx\r\n0\r\n\r\n");
  REQUIRE(taker.taken.size() == 1);
  CHECK(taker.taken[0].target == "/a");
  CHECK_FALSE(taker.taken[0].keepAlive);
  // Connection: close was the last message: resume() ends the connection.
  parser.resume();
  r = parser.feed(std::string_view(wire).substr(r.consumed));
  CHECK(r.status == ParseStatus::Closed);
  CHECK(r.consumed == 0);
}

TEST_CASE("ResponseWithConnectionCloseEndsTheUpstreamConnection", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  REQUIRE(
      parser.feed("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx").status ==
      ParseStatus::MessageComplete);
  parser.resume();
  CHECK(parser.feed("HTTP/1.1 200 OK\r\n\r\n").status == ParseStatus::Closed);
  CHECK(parser.onEof().status == ParseStatus::Closed);
}

}  // namespace
}  // namespace sluice::http

namespace sluice::http {
namespace {

TEST_CASE("ObsFoldInARequestIs400", "[http][parser][validation]") {
  for (std::string_view wire : {
           "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\t,chunked\r\n\r\n0\r\n\r\n",
       }) {
    CAPTURE(wire);
    for (size_t step : {1u, 1000u}) {
      const Outcome o = parseRequest(wire, {}, step);
      CHECK(o.error == ParseError::BadMessage);
      CHECK(o.httpStatus == 400);
    }
  }
}

TEST_CASE("ObsFoldInAResponseIsJoinedWithASpace", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  const ParseResult r =
      parser.feed("HTTP/1.1 200 OK\r\nX-Old: a\r\n b\r\nContent-Length: 0\r\n\r\n");
  CHECK(r.status == ParseStatus::MessageComplete);
  REQUIRE(rec.responses.size() == 1);
  CHECK(rec.responses[0].headers.get("X-Old") == "a b");
}

TEST_CASE("TransferEncodingIsAcceptedOnlyWhenBothReadingsSayChunked",
          "[http][parser][validation]") {
  // sluice's reading of the coding list and http-parser's (which frames the
  // body) must agree, or the request is refused rather than forwarded.
  const auto outcome = [](std::string_view te) {
    return parseRequest("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + std::string(te) +
                        "\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  };
  for (std::string_view ok : {"chunked", "CHUNKED", "gzip,chunked", "gzip, chunked"}) {
    CAPTURE(ok);
    CHECK(outcome(ok).status == ParseStatus::MessageComplete);
  }
  for (std::string_view bad : {"chunked ,", ", chunked", "chunked;q=1", "chunkedx", "xchunked"}) {
    CAPTURE(bad);
    const Outcome o = outcome(bad);
    CHECK(o.error == ParseError::BadTransferEncoding);
    CHECK(o.httpStatus == 400);
  }
}

}  // namespace
}  // namespace sluice::http

namespace sluice::http {
namespace {

TEST_CASE("EverySplitPointGivesTheSameMessages", "[http][parser]") {
  // A pipelined stream cut in two at every possible offset (the way reads
  // land in an evbuffer) is parsed exactly as in one piece.
  const std::string wire =
      "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"
      "PUT /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nwxyz"
      "GET /4 HTTP/1.0\r\n\r\n";
  Recorder whole;
  MessageParser reference(ParserMode::Request, whole);
  const Drive ref = drive(reference, wire);
  REQUIRE(ref.consumed == wire.size());
  REQUIRE(whole.completed == 4);

  for (size_t cut = 1; cut < wire.size(); ++cut) {
    CAPTURE(cut);
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec);
    // First slice, then everything that is left (including what the first
    // slice did not consume), as a session does with its buffer.
    std::string buffer = wire.substr(0, cut);
    size_t fed = cut;
    size_t total = 0;
    ParseStatus last = ParseStatus::NeedMore;
    for (int guard = 0; guard < 100 && (fed < wire.size() || !buffer.empty()); ++guard) {
      const ParseResult r = parser.feed(buffer);
      total += r.consumed;
      buffer.erase(0, r.consumed);
      last = r.status;
      if (r.status == ParseStatus::MessageComplete) {
        parser.resume();
      } else if (r.status != ParseStatus::NeedMore) {
        break;
      }
      if (r.status == ParseStatus::NeedMore || buffer.empty()) {
        if (fed == wire.size()) break;
        buffer += wire.substr(fed);
        fed = wire.size();
      }
    }
    CHECK(total == wire.size());
    CHECK(last == ParseStatus::MessageComplete);
    CHECK(rec.completed == 4);
    CHECK(rec.bodies == whole.bodies);
  }
}

}  // namespace
}  // namespace sluice::http

namespace sluice::http {
namespace {

TEST_CASE("HeadContextHoldsThroughInterimResponses", "[http][parser][response]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  RequestHead head;
  head.method = "HEAD";
  parser.expectResponseTo(head);
  const std::string hints = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
  const std::string final = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
  const std::string next = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
  const Drive d = drive(parser, hints + final + next);
  CHECK(d.consumed == hints.size() + final.size() + next.size());
  REQUIRE(rec.responses.size() == 3);
  CHECK(rec.responses[0].interim());
  CHECK(rec.responses[1].framing == BodyFraming::None);  // still the HEAD's answer
  CHECK(rec.responses[2].framing == BodyFraming::ContentLength);
  CHECK(rec.bodies.at(2) == "x");
}

TEST_CASE("Http10RequestBodyWithContentLength", "[http][parser]") {
  Recorder rec;
  MessageParser parser(ParserMode::Request, rec);
  const std::string wire = "POST /f HTTP/1.0\r\nContent-Length: 5\r\n\r\nhello";
  const Drive d = drive(parser, wire, 4);
  CHECK(d.last == ParseStatus::MessageComplete);
  CHECK(d.consumed == wire.size());
  REQUIRE(rec.requests.size() == 1);
  CHECK_FALSE(rec.requests[0].keepAlive);
  CHECK(rec.body == "hello");
}

// ---------------------------------------------------------------- strict framing (issue #13)

// Feeds `wire` in two pieces split at `split`, draining what was consumed,
// the way a session's buffer works; resumes after complete messages.
Drive driveSplit(MessageParser& parser, std::string_view wire, size_t split) {
  Drive d;
  std::string pending;
  for (std::string_view piece : {wire.substr(0, split), wire.substr(split)}) {
    pending.append(piece);
    while (true) {
      const ParseResult r = parser.feed(pending);
      pending.erase(0, r.consumed);
      d.consumed += r.consumed;
      d.last = r.status;
      if (r.status == ParseStatus::MessageComplete) {
        parser.resume();
        continue;
      }
      break;
    }
    if (d.last != ParseStatus::NeedMore && d.last != ParseStatus::MessageComplete) break;
  }
  return d;
}

TEST_CASE("MalformedChunkedRequestBodiesAre400AtEverySplit",
          "[http][parser][validation][framing]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  // The attack: nginx ends the size line at the bare LF and reads the
  // smuggled request as the next one; sluice must refuse the body.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
  std::string attack = "3c;\n" + std::string(0x3c, 'A') + "\r\n0\r\n\r\n" + smuggled;
  attack += std::string(0x3c - (attack.size() - 4 - 0x3c - 2), 'B') + "\r\n0\r\n\r\n";
  for (std::string_view body : {
           std::string_view(attack),
           std::string_view("3;\nabc\r\n0\r\n\r\n"),          // bare LF in an extension
           std::string_view("3;a\0b\r\nabc\r\n0\r\n\r\n"sv),  // NUL in an extension
           std::string_view("3;a\x0b\r\nabc\r\n0\r\n\r\n"),   // CTL in an extension
           std::string_view("\x83\r\nabc\r\n0\r\n\r\n"),  // 0x80+ read as a digit by http-parser
           std::string_view("3\x80\r\nabc\r\n0\r\n\r\n"),
           std::string_view("10000000000000003\r\nabc\r\n"),  // overflowing size
           std::string_view("3\r\nabcXY0\r\n\r\n"),           // no CRLF after the data
           std::string_view("3\r\nabc\n0\r\n\r\n"),
           std::string_view("0\r\nA: b\r\n c\r\n\r\n"),            // obs-fold trailer
           std::string_view("0\r\nA b: c\r\n\r\n"),                // bad trailer name
           std::string_view("0\r\nA: b\x01\r\n\r\n"),              // CTL in a trailer
           std::string_view("0\r\nA: b\nGET / HTTP/1.1\r\n\r\n"),  // bare LF in a trailer
       }) {
    const std::string wire = head + std::string(body);
    for (size_t split = 0; split <= wire.size(); ++split) {
      CAPTURE(body, split);
      Recorder rec;
      MessageParser parser(ParserMode::Request, rec);
      const Drive d = driveSplit(parser, wire, split);
      CHECK(d.last == ParseStatus::Error);
      CHECK(parser.error() == ParseError::InvalidChunk);
      CHECK(parser.errorStatus() == 400);
      CHECK(rec.completed == 0);
      CHECK(rec.requests.size() == 1);  // nothing of the smuggled request was parsed
    }
  }
}

TEST_CASE("HugeChunkSizeLineIs400", "[http][parser][validation][framing]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string wire = head + "1;" + std::string(10000, 'a') + "\r\nz\r\n0\r\n\r\n";
  for (size_t step : {1u, 7u, 100000u}) {
    const Outcome o = parseRequest(wire, {}, step);
    CHECK(o.error == ParseError::InvalidChunk);
    CHECK(o.httpStatus == 400);
  }
}

TEST_CASE("TrailerSectionOverTheHeaderLimitIs431", "[http][parser][validation][framing]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string wire = head + "0\r\nA: " + std::string(2000, 'b') + "\r\n\r\n";
  const Outcome o = parseRequest(wire, {1024, 0});
  CHECK(o.error == ParseError::HeaderTooLarge);
  CHECK(o.httpStatus == 431);
}

TEST_CASE("ValidChunkedRequestIsReFramedAtEverySplit", "[http][parser][framing]") {
  const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string body =
      "3 ; a = b ;c;d=\"q \\\" x\"\r\nabc\r\n00A\r\n0123456789\r\n"
      "0;last\r\nX-Sum: 13 \r\nContent-Length: 5\r\nhost: evil\r\nServer-Timing: a;dur=1\r\n\r\n";
  const std::string next = "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
  const std::string wire = head + body + next;
  for (size_t split = 0; split <= wire.size(); ++split) {
    CAPTURE(split);
    Recorder rec;
    MessageParser parser(ParserMode::Request, rec);
    rec.watched = &parser;
    const Drive d = driveSplit(parser, wire, split);
    CHECK(rec.completed == 2);
    CHECK(d.consumed == wire.size());
    REQUIRE(rec.requests.size() == 2);
    CHECK(rec.requests[1].target == "/next");
    // Framing and routing trailers are dropped, the rest re-serialized.
    CHECK(rec.bodies[0] ==
          "3\r\nabc\r\na\r\n0123456789\r\n0\r\nX-Sum: 13\r\nServer-Timing: a;dur=1\r\n\r\n");
    CHECK(rec.payloadAtComplete[0] == 13);
  }
}

TEST_CASE("DecodedModeDropsTrailers", "[http][parser][framing]") {
  Recorder rec;
  MessageParser parser(ParserMode::Response, rec);
  parser.setBodyMode(BodyMode::Decoded);
  const Drive d = drive(parser,
                        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
                        1);
  CHECK(d.last == ParseStatus::MessageComplete);
  CHECK(rec.body == "abc");
}

TEST_CASE("MalformedChunkedResponseIs502", "[http][parser][response][framing]") {
  for (std::string_view body :
       {"3;\nabc\r\n0\r\n\r\n", "\x83\r\nabc\r\n0\r\n\r\n", "0\r\nA: b\r\n c\r\n\r\n"}) {
    CAPTURE(body);
    const Outcome o =
        parseResponse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + std::string(body));
    CHECK(o.error == ParseError::InvalidChunk);
    CHECK(o.httpStatus == 502);
  }
}

TEST_CASE("RequestTargetWithControlSpaceOrHighBytesIs400", "[http][parser][validation][framing]") {
  for (std::string_view line : {
           std::string_view("GET /a\x01 HTTP/1.1"),
           std::string_view("GET /a\x7f HTTP/1.1"),
           std::string_view("GET /a\tb HTTP/1.1"),
           std::string_view("GET /a\x0b HTTP/1.1"),
           std::string_view("GET /a\x0c HTTP/1.1"),
           std::string_view("GET /\xc3\xa9 HTTP/1.1"),
           std::string_view("GET /\xff HTTP/1.1"),
           std::string_view("GET  /a HTTP/1.1"),  // two spaces
           std::string_view("GET /a  HTTP/1.1"),
       }) {
    CAPTURE(line);
    const std::string wire = std::string(line) + "\r\nHost: h\r\n\r\n";
    for (size_t step : {1u, 1000u}) {
      Recorder rec;
      MessageParser parser(ParserMode::Request, rec);
      const Drive d = drive(parser, wire, step);
      CHECK(d.last == ParseStatus::Error);
      CHECK(parser.errorStatus() == 400);
      CHECK(rec.requests.empty());
    }
  }
  const Outcome ok = parseRequest("GET /a?b=%20c HTTP/1.1\r\nHost: h\r\n\r\n");
  CHECK(ok.status == ParseStatus::MessageComplete);
  CHECK(parseErrorToken(ParseError::InvalidTarget) == "invalid_target");
}

TEST_CASE("HeaderValueWithControlBytesIs400", "[http][parser][validation][framing]") {
  for (std::string_view field : {std::string_view("X: a\x01"), std::string_view("X: a\x7f b"),
                                 std::string_view("X: \x05POST / HTTP/1.1")}) {
    CAPTURE(field);
    const Outcome o =
        parseRequest("GET / HTTP/1.1\r\nHost: h\r\n" + std::string(field) + "\r\n\r\n");
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.httpStatus == 400);
  }
  CHECK(parseRequest("GET / HTTP/1.1\r\nHost: h\r\nX: a\tb \xe9\r\n\r\n").status ==
        ParseStatus::MessageComplete);
}

// Found by http_request_fuzz: a field limit passed in a callback used to stop
// http-parser at once, so a head with a bad byte after the limit got 431 when
// read byte by byte (the callback saw the piece first) but 400 when read whole
// (http-parser failed before the callback ran). Now only the bytes decide.
TEST_CASE("AFieldLimitAndABadByteGiveOneAnswerHoweverTheHeadIsSplit",
          "[http][parser][validation]") {
  const std::string wire =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 012345678123451.1\r\nHost: a\r\nX-\n\r\n";
  const ParserLimits footprint{64, 0, 100};
  const ParserLimits count{64 * 1024, 0, 3};
  for (const ParserLimits& limits : {footprint, count}) {
    const Outcome whole = parseRequest(wire, limits);
    CHECK(whole.status == ParseStatus::Error);
    CHECK(whole.httpStatus == 400);
    for (size_t step = 1; step < wire.size(); ++step) {
      const Outcome split = parseRequest(wire, limits, step);
      CHECK(split.error == whole.error);
      CHECK(split.httpStatus == whole.httpStatus);
    }
  }
  // Without the bad byte the same heads are over a limit: 431 however split.
  const std::string good =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: 012345678123451.1\r\nHost: a\r\nX-Y: z\r\n\r\n";
  for (const ParserLimits& limits : {footprint, count}) {
    for (size_t step = 1; step <= good.size(); ++step)
      CHECK(parseRequest(good, limits, step).httpStatus == 431);
  }
}

// The client reads the head sluice re-serializes: a control byte in a value
// must not reach it (a bare CR could end a line there).
TEST_CASE("AResponseWithAControlByteInAValueIs502", "[http][parser][validation]") {
  for (std::string_view wire : {
           "HTTP/1.1 200 OK\r\nX: a\x01b\r\nContent-Length: 0\r\n\r\n"sv,
           "HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n"sv,
           "HTTP/1.1 200 OK\r\nX: a\rSet-Cookie: b\r\nContent-Length: 0\r\n\r\n"sv,
       }) {
    const Outcome o = parseResponse(wire);
    CHECK(o.status == ParseStatus::Error);
    CHECK(o.httpStatus == 502);
  }
  CHECK(parseResponse("HTTP/1.1 200 OK\r\nX: a\tb \x80\r\nContent-Length: 0\r\n\r\n").status ==
        ParseStatus::MessageComplete);
}

}  // namespace
}  // namespace sluice::http
