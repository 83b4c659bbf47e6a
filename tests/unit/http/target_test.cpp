#include "http/target.h"

#include <catch2/catch.hpp>

#include <string>

namespace sluice::http {
namespace {

TEST_CASE("RequestTargetsOfVisibleAsciiAreValid", "[http][target]") {
  for (std::string_view t :
       {"/", "*", "/a/b?c=d&e=%20f#x", "http://h:80/p", "h:443", "/~!$&'()*+,;=:@-._"}) {
    CHECK(isValidRequestTarget(t));
  }
}

TEST_CASE("RequestTargetsWithControlSpaceOrHighBytesAreInvalid", "[http][target]") {
  CHECK_FALSE(isValidRequestTarget(""));
  for (int b = 0; b < 256; ++b) {
    if (b >= 0x21 && b <= 0x7E) continue;
    const std::string t = "/a" + std::string(1, static_cast<char>(b)) + "b";
    CAPTURE(b);
    CHECK_FALSE(isValidRequestTarget(t));
  }
}

}  // namespace
}  // namespace sluice::http
