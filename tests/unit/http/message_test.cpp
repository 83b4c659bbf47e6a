#include <catch2/catch.hpp>

#include "http/message.h"

namespace sluice::http {
namespace {

TEST_CASE("HeadersLookupIsCaseInsensitiveAndKeepsOrder", "[http][message]") {
  Headers h;
  h.add("Content-Type", "text/plain");
  h.add("X-A", "1");
  h.add("x-a", "2");
  CHECK(h.size() == 3);
  CHECK(h.get("content-type") == "text/plain");
  CHECK(h.get("X-A") == "1");
  CHECK(h.count("X-a") == 2);
  CHECK(h.joined("x-A") == "1, 2");
  CHECK_FALSE(h.get("missing").has_value());
  CHECK(h[1].name == "X-A");
  CHECK(h[2].name == "x-a");
}

}  // namespace
}  // namespace sluice::http
