#include "config/host_port.h"

#include <catch2/catch.hpp>

using sluice::config::HostPort;
using sluice::config::isWildcard;
using sluice::config::parseHostPort;

namespace {

std::string errorOf(const char* text) {
  auto parsed = parseHostPort(text);
  return parsed.value ? "(parsed)" : parsed.error;
}

}  // namespace

TEST_CASE("IPv4 literals parse with their port", "[config][address]") {
  auto parsed = parseHostPort("127.0.0.1:9000");
  REQUIRE(parsed.value);
  CHECK(parsed.value->host == "127.0.0.1");
  CHECK(parsed.value->port == 9000);
  CHECK_FALSE(parsed.value->isName);
  CHECK(parsed.value->toString() == "127.0.0.1:9000");
}

TEST_CASE("IPv6 literals need brackets and print with them", "[config][address]") {
  auto parsed = parseHostPort("[::1]:80");
  REQUIRE(parsed.value);
  CHECK(parsed.value->host == "::1");
  CHECK(parsed.value->port == 80);
  CHECK_FALSE(parsed.value->isName);
  CHECK(parsed.value->toString() == "[::1]:80");
  CHECK(errorOf("::1:80") ==
        "invalid address '::1:80': IPv6 addresses need brackets, e.g. [::1]:8080");
}

TEST_CASE("IPv6 literals are stored in canonical form", "[config][address]") {
  auto parsed = parseHostPort("[0:0:0:0:0:0:0:1]:80");
  REQUIRE(parsed.value);
  CHECK(parsed.value->toString() == "[::1]:80");
  CHECK(isWildcard(*parseHostPort("[0::0]:80").value));
}

TEST_CASE("DNS names parse as names", "[config][address]") {
  for (const char* text : {"db:5432", "db.internal:5432", "a-b.example.com:1", "x1.y2:65535"}) {
    INFO(text);
    auto parsed = parseHostPort(text);
    REQUIRE(parsed.value);
    CHECK(parsed.value->isName);
    CHECK(parsed.value->toString() == text);
  }
}

TEST_CASE("bad addresses are rejected with the reason", "[config][address]") {
  CHECK(errorOf("1.2.3:80") == "invalid address '1.2.3:80': '1.2.3' is not a valid IPv4 address");
  CHECK(errorOf("256.1.1.1:80") ==
        "invalid address '256.1.1.1:80': '256.1.1.1' is not a valid IPv4 address");
  CHECK(errorOf("[::1") == "invalid address '[::1': missing ']' after the IPv6 address");
  CHECK(errorOf("[::1]80") == "invalid address '[::1]80': missing ':port' after ']'");
  CHECK(errorOf("[::1]:") == "invalid address '[::1]:': missing port");
  CHECK(errorOf("[zz]:80") == "invalid address '[zz]:80': 'zz' is not a valid IPv6 address");
  CHECK(errorOf("127.0.0.1") == "invalid address '127.0.0.1': missing ':port'");
  CHECK(errorOf("127.0.0.1:") == "invalid address '127.0.0.1:': missing port");
  CHECK(errorOf(":8080") == "invalid address ':8080': missing host before ':'");
  CHECK(errorOf("host:http") == "invalid address 'host:http': port 'http' is not a number");
  CHECK(errorOf("host:0") == "invalid address 'host:0': port 0 is out of range (1..65535)");
  CHECK(errorOf("host:65536") ==
        "invalid address 'host:65536': port 65536 is out of range (1..65535)");
  CHECK(errorOf("host:-1") == "invalid address 'host:-1': port '-1' is not a number");
  CHECK(errorOf("bad_name:80") ==
        "invalid address 'bad_name:80': 'bad_name' is not a valid host name or IP address");
  CHECK(errorOf("-a.b:80") ==
        "invalid address '-a.b:80': '-a.b' is not a valid host name or IP address");
  CHECK(errorOf("a..b:80") ==
        "invalid address 'a..b:80': 'a..b' is not a valid host name or IP address");
  CHECK(errorOf("http://x:80") ==
        "invalid address 'http://x:80': IPv6 addresses need brackets, e.g. [::1]:8080");
}

TEST_CASE("wildcards are 0.0.0.0 and ::", "[config][address]") {
  CHECK(isWildcard(*parseHostPort("0.0.0.0:80").value));
  CHECK(isWildcard(*parseHostPort("[::]:80").value));
  CHECK_FALSE(isWildcard(*parseHostPort("127.0.0.1:80").value));
  CHECK_FALSE(isWildcard(*parseHostPort("[::1]:80").value));
}
