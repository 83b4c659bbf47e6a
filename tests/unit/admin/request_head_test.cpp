#include "admin/request_head.h"

#include <catch2/catch.hpp>

using namespace sluice::admin;
using Status = ParsedHead::Status;

TEST_CASE("a complete admin request head parses with its fields", "[admin][request]") {
  const std::string text =
      "POST /drain?now=1 HTTP/1.1\r\nHost: x\r\nAuthorization: bearer  s3cr3t \r\n"
      "Content-Length: 3\r\n\r\nabcGET";
  auto parsed = parseRequestHead(text);
  REQUIRE(parsed.status == Status::Complete);
  CHECK(parsed.headBytes == text.size() - 6);
  CHECK(parsed.head.method == "POST");
  CHECK(parsed.head.path == "/drain");
  CHECK(parsed.head.keepAlive);
  CHECK(parsed.head.contentLength == 3);
  CHECK(parsed.head.bearer == "s3cr3t");
}

TEST_CASE("keep-alive follows the version and Connection", "[admin][request]") {
  CHECK_FALSE(parseRequestHead("GET / HTTP/1.0\r\n\r\n").head.keepAlive);
  CHECK(parseRequestHead("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").head.keepAlive);
  CHECK_FALSE(parseRequestHead("GET / HTTP/1.1\r\nConnection: x, Close\r\n\r\n").head.keepAlive);
}

TEST_CASE("a head without its blank line is incomplete until the cap", "[admin][request]") {
  CHECK(parseRequestHead("GET / HTTP/1.1\r\nHost: x\r\n").status == Status::Incomplete);
  const std::string big = "GET / HTTP/1.1\r\nX: " + std::string(kMaxHeadBytes, 'a');
  auto parsed = parseRequestHead(big);
  CHECK(parsed.status == Status::Error);
  CHECK(parsed.errorStatus == 431);
}

TEST_CASE("too many fields are 431, a long body 413, before any body byte", "[admin][request]") {
  std::string many = "GET / HTTP/1.1\r\n";
  for (size_t i = 0; i <= kMaxFields; ++i)
    many += "a: b\r\n";
  CHECK(parseRequestHead(many + "\r\n").errorStatus == 431);
  CHECK(parseRequestHead("POST /reload HTTP/1.1\r\nContent-Length: 65537\r\n\r\n").errorStatus ==
        413);
  CHECK(parseRequestHead("POST /reload HTTP/1.1\r\nContent-Length: 65536\r\n\r\n").status ==
        Status::Complete);
}

TEST_CASE("malformed heads are 400", "[admin][request]") {
  for (const char* bad : {
           "GET / HTTP/1.1\nHost: x\r\n\r\n",                // bare LF
           "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n",           // bare CR
           "GET /a b HTTP/1.1\r\n\r\n",                      // space in target
           "GET \x80 HTTP/1.1\r\n\r\n",                      // not origin-form
           "GET / HTTP/2.0\r\n\r\n",                         // version
           "G(T / HTTP/1.1\r\n\r\n",                         // method not a token
           "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",   // obs-fold
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",          // name not a token
           "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n",            // CTL in a value
           "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",  // length
           "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",  // no chunked bodies
       }) {
    INFO(bad);
    auto parsed = parseRequestHead(bad);
    CHECK(parsed.status == Status::Error);
    CHECK(parsed.errorStatus == 400);
  }
}

TEST_CASE("a bare LF is refused before the head is complete", "[admin][request]") {
  auto parsed = parseRequestHead("GET /live HTTP/1.1\nHost: a\n\n");
  CHECK(parsed.status == Status::Error);
  CHECK(parsed.errorStatus == 400);
  // LFs in a body after the head are the body's business.
  CHECK(parseRequestHead("POST /drain HTTP/1.1\r\nContent-Length: 2\r\n\r\n\n\n").status ==
        Status::Complete);
}
