#include <catch2/catch.hpp>

#include <string>

#include "http/parser.h"
#include "http/rewrite.h"

namespace sluice::http {
namespace {

RequestHead request(std::string method, std::string target, Version version,
                    std::initializer_list<Header> headers) {
  RequestHead head;
  head.method = std::move(method);
  head.target = std::move(target);
  head.version = version;
  for (const Header& h : headers)
    head.headers.add(h.name, h.value);
  return head;
}

ResponseHead response(uint16_t status, std::string reason, std::initializer_list<Header> headers,
                      BodyFraming framing = BodyFraming::ContentLength) {
  ResponseHead head;
  head.status = status;
  head.reason = std::move(reason);
  head.framing = framing;
  for (const Header& h : headers)
    head.headers.add(h.name, h.value);
  return head;
}

// ------------------------------------------------------------ requests

TEST_CASE("RequestHeadGoesUpstreamAsHttp11KeepAliveWithForwardingHeaders", "[http][rewrite]") {
  const RequestHead head =
      request("GET", "/p?q=1", {1, 1}, {{"Host", "example.com"}, {"Accept", "*/*"}});
  CHECK(serializeRequestHead(head, {.clientIp = "10.0.0.7"}) ==
        "GET /p?q=1 HTTP/1.1\r\n"
        "Host: example.com\r\n"
        "Accept: */*\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 10.0.0.7\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("RequestHopByHopHeadersAreStripped", "[http][rewrite]") {
  const RequestHead head = request("POST", "/", {1, 1},
                                   {{"Host", "h"},
                                    {"Connection", "keep-alive"},
                                    {"Keep-Alive", "timeout=5"},
                                    {"TE", "trailers"},
                                    {"Trailer", "X-Sum"},
                                    {"Upgrade", "websocket"},
                                    {"Proxy-Connection", "keep-alive"},
                                    {"Proxy-Authorization", "Basic eA=="},
                                    {"Proxy-Authenticate", "Basic"},
                                    {"Transfer-Encoding", "chunked"},
                                    {"Content-Type", "text/plain"}});
  CHECK(serializeRequestHead(head, {.clientIp = "1.2.3.4"}) ==
        "POST / HTTP/1.1\r\n"
        "Host: h\r\n"
        "Transfer-Encoding: chunked\r\n"  // framing travels with the unchanged body
        "Content-Type: text/plain\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 1.2.3.4\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("HeadersNamedByConnectionAreStripped", "[http][rewrite]") {
  const RequestHead head = request("GET", "/", {1, 1},
                                   {{"Host", "h"},
                                    {"Connection", "X-Secret, close"},
                                    {"x-secret", "1"},
                                    {"Connection", "X-Other"},
                                    {"X-Other", "2"},
                                    {"X-Kept", "3"}});
  CHECK(serializeRequestHead(head, {.clientIp = "::1"}) ==
        "GET / HTTP/1.1\r\n"
        "Host: h\r\n"
        "X-Kept: 3\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: ::1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("ConnectionCannotStripFramingOrHost", "[http][rewrite]") {
  const RequestHead head =
      request("POST", "/", {1, 1},
              {{"Host", "h"}, {"Connection", "Content-Length, Host"}, {"Content-Length", "3"}});
  CHECK(serializeRequestHead(head, {}) ==
        "POST / HTTP/1.1\r\n"
        "Host: h\r\n"
        "Content-Length: 3\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("AppendModeXForwardedForAppendsToEveryExistingValue", "[http][rewrite]") {
  const RequestHead head = request("GET", "/", {1, 1},
                                   {{"X-Forwarded-For", "203.0.113.1"},
                                    {"Host", "h"},
                                    {"x-forwarded-for", "10.1.1.1, 10.2.2.2"}});
  CHECK(serializeRequestHead(head, {.clientIp = "192.0.2.9", .appendForwardedFor = true}) ==
        "GET / HTTP/1.1\r\n"
        "Host: h\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 203.0.113.1, 10.1.1.1, 10.2.2.2, 192.0.2.9\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("ReplaceModeDropsEveryClientForwardingField", "[http][rewrite]") {
  const RequestHead head = request("GET", "/", {1, 1},
                                   {{"X-Forwarded-For", "203.0.113.1"},
                                    {"Host", "h"},
                                    {"X-Real-IP", "203.0.113.2"},
                                    {"forwarded", "for=203.0.113.3"},
                                    {"X-Forwarded-Proto", "https"},
                                    {"x-forwarded-for", "10.1.1.1"}});
  CHECK(serializeRequestHead(head, {.clientIp = "192.0.2.9"}) ==
        "GET / HTTP/1.1\r\n"
        "Host: h\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 192.0.2.9\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("ExpectIsDroppedWhenSluiceAnswersTheContinue", "[http][rewrite]") {
  const RequestHead head =
      request("POST", "/", {1, 1}, {{"Host", "h"}, {"expect", "100-continue"}});
  CHECK(serializeRequestHead(head, {.dropExpect = true}) ==
        "POST / HTTP/1.1\r\n"
        "Host: h\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
  CHECK(serializeRequestHead(head, {}).find("expect: 100-continue\r\n") != std::string::npos);
}

TEST_CASE("UnderscoreAliasesOfForwardingFieldsAreNeverForwarded", "[http][rewrite]") {
  // CGI, WSGI and Rack map '_' and '-' to the same HTTP_X_FORWARDED_FOR.
  const RequestHead head = request("GET", "/", {1, 1},
                                   {{"Host", "h"},
                                    {"X_Forwarded_For", "203.0.113.1"},
                                    {"x-forwarded_proto", "https"},
                                    {"X_REAL_IP", "203.0.113.2"},
                                    {"X_Custom", "kept"}});
  const std::string expected =
      "GET / HTTP/1.1\r\n"
      "Host: h\r\n"
      "X_Custom: kept\r\n"
      "Connection: keep-alive\r\n"
      "X-Forwarded-For: 192.0.2.9\r\n"
      "X-Forwarded-Proto: http\r\n"
      "\r\n";
  CHECK(serializeRequestHead(head, {.clientIp = "192.0.2.9"}) == expected);
  CHECK(serializeRequestHead(head, {.clientIp = "192.0.2.9", .appendForwardedFor = true}) ==
        expected);
}

TEST_CASE("AppendModeKeepsXRealIpAndForwardedButNotTheProto", "[http][rewrite]") {
  const RequestHead head = request("GET", "/", {1, 1},
                                   {{"Host", "h"},
                                    {"X-Real-IP", "10.0.0.2"},
                                    {"Forwarded", "for=10.0.0.3"},
                                    {"X-Forwarded-Proto", "https"}});
  CHECK(serializeRequestHead(head, {.clientIp = "10.0.0.1", .appendForwardedFor = true}) ==
        "GET / HTTP/1.1\r\n"
        "Host: h\r\n"
        "X-Real-IP: 10.0.0.2\r\n"
        "Forwarded: for=10.0.0.3\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 10.0.0.1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("ClientXForwardedProtoIsReplaced", "[http][rewrite]") {
  const RequestHead head =
      request("GET", "/", {1, 1}, {{"Host", "h"}, {"X-Forwarded-Proto", "https"}});
  const std::string out = serializeRequestHead(head, {.clientIp = "1.1.1.1"});
  CHECK(out.find("https") == std::string::npos);
  CHECK(out.find("X-Forwarded-Proto: http\r\n") != std::string::npos);
}

TEST_CASE("UpgradeIsForwardedOnlyWhenTheSessionForwardsAnUpgrade", "[http][rewrite]") {
  const RequestHead head = request("GET", "/ws", {1, 1},
                                   {{"Host", "h"},
                                    {"Connection", "Upgrade"},
                                    {"Upgrade", "websocket"},
                                    {"Sec-WebSocket-Key", "k"}});
  CHECK(serializeRequestHead(head, {.clientIp = "1.1.1.1", .forwardUpgrade = true}) ==
        "GET /ws HTTP/1.1\r\n"
        "Host: h\r\n"
        "Upgrade: websocket\r\n"
        "Sec-WebSocket-Key: k\r\n"
        "Connection: upgrade\r\n"
        "X-Forwarded-For: 1.1.1.1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
  CHECK(serializeRequestHead(head, {.clientIp = "1.1.1.1"}) ==
        "GET /ws HTTP/1.1\r\n"
        "Host: h\r\n"
        "Sec-WebSocket-Key: k\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 1.1.1.1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("Http10RequestWithoutHostGetsTheFallbackHost", "[http][rewrite]") {
  const RequestHead head =
      request("GET", "/old", {1, 0}, {{"Connection", "keep-alive"}, {"Accept", "*/*"}});
  CHECK(serializeRequestHead(head, {.clientIp = "1.1.1.1", .fallbackHost = "backend:8080"}) ==
        "GET /old HTTP/1.1\r\n"
        "Host: backend:8080\r\n"
        "Accept: */*\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 1.1.1.1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

TEST_CASE("ParsedRequestRoundTripsThroughTheRewrite", "[http][rewrite]") {
  class Keep : public ParserCallbacks {
   public:
    HeadAction onRequestHead(RequestHead& h) override {
      head = std::move(h);
      return HeadAction::proceed();
    }
    void onBody(const char*, size_t) override {}
    void onMessageComplete() override {}
    RequestHead head;
  } keep;
  MessageParser parser(ParserMode::Request, keep);
  REQUIRE(parser
              .feed("PUT /x HTTP/1.1\r\nHost: h\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\n"
                    "Content-Length: 2\r\nX-Forwarded-For: 9.9.9.9\r\n\r\nok")
              .status == ParseStatus::MessageComplete);
  CHECK(serializeRequestHead(keep.head, {.clientIp = "127.0.0.1", .appendForwardedFor = true}) ==
        "PUT /x HTTP/1.1\r\n"
        "Host: h\r\n"
        "Content-Length: 2\r\n"
        "Connection: keep-alive\r\n"
        "X-Forwarded-For: 9.9.9.9, 127.0.0.1\r\n"
        "X-Forwarded-Proto: http\r\n"
        "\r\n");
}

// ----------------------------------------------------------- responses

TEST_CASE("ResponseStatusLineUsesTheClientVersion", "[http][rewrite]") {
  ResponseHead head = response(200, "OK", {{"Content-Length", "0"}});
  head.version = {1, 1};
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 0}, .keepAlive = false}) ==
        "HTTP/1.0 200 OK\r\n"
        "Content-Length: 0\r\n"
        "Connection: close\r\n"
        "\r\n");
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 1}, .keepAlive = true}) ==
        "HTTP/1.1 200 OK\r\n"
        "Content-Length: 0\r\n"
        "\r\n");
}

TEST_CASE("ResponseConnectionHeaderFollowsTheSessionsDecision", "[http][rewrite]") {
  const ResponseHead head = response(
      404, "Not Found",
      {{"Connection", "keep-alive"}, {"Keep-Alive", "timeout=5"}, {"Content-Length", "9"}});
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 1}, .keepAlive = false}) ==
        "HTTP/1.1 404 Not Found\r\n"
        "Content-Length: 9\r\n"
        "Connection: close\r\n"
        "\r\n");
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 0}, .keepAlive = true}) ==
        "HTTP/1.0 404 Not Found\r\n"
        "Content-Length: 9\r\n"
        "Connection: keep-alive\r\n"
        "\r\n");
}

TEST_CASE("ResponseHopByHopAndNominatedHeadersAreStripped", "[http][rewrite]") {
  const ResponseHead head = response(200, "",
                                     {{"Connection", "close, X-Backend-Secret"},
                                      {"X-Backend-Secret", "s"},
                                      {"Proxy-Authenticate", "Basic"},
                                      {"Trailer", "X-Sum"},
                                      {"Upgrade", "h2c"},
                                      {"Transfer-Encoding", "chunked"},
                                      {"Set-Cookie", "a=b"}},
                                     BodyFraming::Chunked);
  // An empty reason gets the standard phrase.
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 1}, .keepAlive = true}) ==
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "Set-Cookie: a=b\r\n"
        "\r\n");
}

TEST_CASE("ChunkedResponseToAnHttp10ClientIsDechunkedAndClosed", "[http][rewrite]") {
  const ResponseHead head =
      response(200, "OK", {{"Transfer-Encoding", "chunked"}, {"Content-Type", "text/html"}},
               BodyFraming::Chunked);
  CHECK(needsDechunk(head, {1, 0}));
  CHECK_FALSE(needsDechunk(head, {1, 1}));
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 0}, .keepAlive = true}) ==
        "HTTP/1.0 200 OK\r\n"
        "Content-Type: text/html\r\n"
        "Connection: close\r\n"
        "\r\n");
}

TEST_CASE("SwitchingProtocolsResponseKeepsUpgrade", "[http][rewrite]") {
  const ResponseHead head = response(
      101, "Switching Protocols",
      {{"Upgrade", "websocket"}, {"Connection", "Upgrade"}, {"Sec-WebSocket-Accept", "abc="}},
      BodyFraming::None);
  CHECK(serializeResponseHead(head, {.clientVersion = {1, 1}, .forwardUpgrade = true}) ==
        "HTTP/1.1 101 Switching Protocols\r\n"
        "Upgrade: websocket\r\n"
        "Sec-WebSocket-Accept: abc=\r\n"
        "Connection: upgrade\r\n"
        "\r\n");
}

// -------------------------------------------------------------- errors

TEST_CASE("ErrorResponseHasShortBodyReasonHeaderAndClose", "[http][rewrite]") {
  CHECK(buildErrorResponse({.status = 503, .reason = "queue_timeout"}) ==
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 40\r\n"
        "X-Sluice-Reason: queue_timeout\r\n"
        "Connection: close\r\n"
        "\r\n"
        "503 Service Unavailable (queue_timeout)\n");
  CHECK(buildErrorResponse({.status = 400, .reason = "bad_request"}) ==
        "HTTP/1.1 400 Bad Request\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 30\r\n"
        "X-Sluice-Reason: bad_request\r\n"
        "Connection: close\r\n"
        "\r\n"
        "400 Bad Request (bad_request)\n");
}

TEST_CASE("ErrorResponsesForEverySluiceStatus", "[http][rewrite]") {
  CHECK(statusReason(408) == "Request Timeout");
  CHECK(statusReason(413) == "Payload Too Large");
  CHECK(statusReason(431) == "Request Header Fields Too Large");
  CHECK(statusReason(502) == "Bad Gateway");
  CHECK(statusReason(504) == "Gateway Timeout");
  CHECK(statusReason(799) == "Unknown");
  const std::string out = buildErrorResponse({.status = 504, .reason = "connect_failed"});
  CHECK(out.rfind("HTTP/1.1 504 Gateway Timeout\r\n", 0) == 0);
  CHECK(out.find("X-Sluice-Reason: connect_failed\r\n") != std::string::npos);
}

TEST_CASE("ErrorResponseThatKeepsTheConnection", "[http][rewrite]") {
  CHECK(buildErrorResponse({.status = 503,
                            .reason = "no_healthy_backend",
                            .close = false,
                            .clientVersion = {1, 0}}) ==
        "HTTP/1.0 503 Service Unavailable\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 45\r\n"
        "X-Sluice-Reason: no_healthy_backend\r\n"
        "Connection: keep-alive\r\n"
        "\r\n"
        "503 Service Unavailable (no_healthy_backend)\n");
  const std::string http11 = buildErrorResponse({.status = 503, .reason = "x", .close = false});
  CHECK(http11.find("Connection") == std::string::npos);
}

TEST_CASE("ErrorResponseToHeadHasNoBody", "[http][rewrite]") {
  CHECK(buildErrorResponse(
            {.status = 408, .reason = "request_header_timeout", .headRequest = true}) ==
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 45\r\n"
        "X-Sluice-Reason: request_header_timeout\r\n"
        "Connection: close\r\n"
        "\r\n");
}

// ------------------------------------------------- many fields (issue #13)

// `fields` fields x-0..x-(n-1), and one Connection header nominating every
// tenth of them in upper case.
Headers manyFields(size_t fields) {
  Headers headers;
  headers.add("Host", "h");
  std::string nominated;
  for (size_t i = 0; i < fields; ++i) {
    const std::string name = "x-" + std::to_string(i);
    headers.add(name, "v");
    if (i % 10 == 0) nominated += (nominated.empty() ? "X-" : ", X-") + std::to_string(i);
  }
  headers.add("Connection", nominated);
  return headers;
}

size_t linesOf(const std::string& head) {
  size_t n = 0;
  for (size_t at = head.find("\r\n"); at != std::string::npos; at = head.find("\r\n", at + 2))
    ++n;
  return n;
}

// Serializing asked Headers::hasToken("Connection", name) per field: fields x
// fields steps, ~2 s of a worker for a 64 KiB head of ~21,800 tiny fields.
// Counted, not timed: the lookups a serialization makes must grow with the
// number of fields, not with its square.
TEST_CASE("SerializingAHeadIsLinearInItsFields", "[http][rewrite]") {
  auto requestSteps = [](size_t fields) {
    RequestHead head = request("GET", "/", {1, 1}, {});
    head.headers = manyFields(fields);
    const std::string out = serializeRequestHead(head, {.clientIp = "10.0.0.1"});
    // start line, Host, the fields not nominated, Connection, X-F-F, X-F-P, end
    CHECK(linesOf(out) == 1 + 1 + fields - fields / 10 + 3 + 1);
    CHECK(out.find("x-10: v") == std::string::npos);
    CHECK(out.find("x-11: v") != std::string::npos);
    return head.headers.lookupSteps();
  };
  auto responseSteps = [](size_t fields) {
    ResponseHead head = response(200, "OK", {});
    head.headers = manyFields(fields);
    const std::string out =
        serializeResponseHead(head, {.clientVersion = {1, 1}, .keepAlive = true});
    // status line, Host, the fields not nominated, end
    CHECK(linesOf(out) == 1 + 1 + fields - fields / 10 + 1);
    return head.headers.lookupSteps();
  };
  const uint64_t request1k = requestSteps(1000);
  const uint64_t request2k = requestSteps(2000);
  CHECK(request2k <= 2 * request1k + 16);
  const uint64_t response1k = responseSteps(1000);
  const uint64_t response2k = responseSteps(2000);
  CHECK(response2k <= 2 * response1k + 16);
  // The head of the report: a handful of passes over the fields.
  CHECK(requestSteps(21800) <= 4 * 21800);
  CHECK(responseSteps(21800) <= 4 * 21800);
}

TEST_CASE("HopByHopListIsCaseInsensitive", "[http][rewrite]") {
  CHECK(isHopByHop("connection"));
  CHECK(isHopByHop("KEEP-ALIVE"));
  CHECK(isHopByHop("proxy-authorization"));
  CHECK(isHopByHop("te"));
  CHECK_FALSE(isHopByHop("Transfer-Encoding"));
  CHECK_FALSE(isHopByHop("Content-Length"));
  CHECK_FALSE(isHopByHop("Host"));
}

}  // namespace
}  // namespace sluice::http
