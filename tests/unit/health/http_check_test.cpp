#include "health/http_check.h"

#include <catch2/catch.hpp>

namespace sluice::health {
namespace {

TEST_CASE("HttpCheck reads the status code of an HTTP/1.x status line", "[health]") {
  CHECK(HttpCheck::parseStatusLine("HTTP/1.1 200 OK") == 200);
  CHECK(HttpCheck::parseStatusLine("HTTP/1.0 503 Service Unavailable") == 503);
  CHECK(HttpCheck::parseStatusLine("HTTP/1.1 204") == 204);
  CHECK(HttpCheck::parseStatusLine("HTTP/1.1 20 OK") == -1);
  CHECK(HttpCheck::parseStatusLine("HTTP/2 200 OK") == -1);
  CHECK(HttpCheck::parseStatusLine("SSH-2.0-OpenSSH") == -1);
  CHECK(HttpCheck::parseStatusLine("HTTP/1.1 2000 OK") == -1);
  CHECK(HttpCheck::parseStatusLine("") == -1);
}

}  // namespace
}  // namespace sluice::health
