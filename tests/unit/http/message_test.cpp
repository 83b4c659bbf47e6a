#include <catch2/catch.hpp>

#include <string>
#include <vector>

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
  CHECK(h.has("CONTENT-TYPE"));
  CHECK(h.joined("x-A") == "1, 2");
  CHECK_FALSE(h.get("missing").has_value());
  CHECK(h.joined("missing").empty());
  CHECK(h[1].name == "X-A");
  CHECK(h[2].name == "x-a");
}

TEST_CASE("HeadersRemoveDropsEveryFieldOfThatName", "[http][message]") {
  Headers h;
  h.add("A", "1");
  h.add("B", "2");
  h.add("a", "3");
  CHECK(h.remove("A") == 2);
  REQUIRE(h.size() == 1);
  CHECK(h[0].name == "B");
  CHECK(h.remove("A") == 0);
}

TEST_CASE("HasTokenMatchesCommaSeparatedElementsAcrossFields", "[http][message]") {
  Headers h;
  h.add("Connection", "keep-alive");
  h.add("connection", " Upgrade ,\tX-Foo");
  CHECK(h.hasToken("Connection", "upgrade"));
  CHECK(h.hasToken("Connection", "KEEP-ALIVE"));
  CHECK(h.hasToken("Connection", "x-foo"));
  CHECK_FALSE(h.hasToken("Connection", "close"));
  CHECK_FALSE(h.hasToken("Connection", "keep"));
  CHECK_FALSE(h.hasToken("Upgrade", "upgrade"));
}

TEST_CASE("ListTokensAreTrimmedAndEmptyElementsSkipped", "[http][message]") {
  std::vector<std::string> tokens;
  forEachListToken(" a, ,b ,\t c,,", [&](std::string_view t) { tokens.emplace_back(t); });
  CHECK(tokens == std::vector<std::string>{"a", "b", "c"});
  tokens.clear();
  forEachListToken("", [&](std::string_view t) { tokens.emplace_back(t); });
  CHECK(tokens.empty());
}

TEST_CASE("EqualsIgnoreCaseComparesAsciiOnly", "[http][message]") {
  CHECK(equalsIgnoreCase("Transfer-Encoding", "transfer-encoding"));
  CHECK_FALSE(equalsIgnoreCase("chunked", "chunke"));
  CHECK_FALSE(equalsIgnoreCase("a-b", "a_b"));
}

TEST_CASE("VersionAndHeadHelpers", "[http][message]") {
  CHECK(Version{1, 1}.atLeast11());
  CHECK_FALSE(Version{1, 0}.atLeast11());
  RequestHead req;
  CHECK_FALSE(req.hasBody());
  req.contentLength = 0;
  CHECK_FALSE(req.hasBody());
  req.contentLength = 1;
  CHECK(req.hasBody());
  ResponseHead res;
  res.status = 103;
  CHECK(res.interim());
  res.status = 101;
  CHECK(res.switchingProtocols());
  CHECK(bodyFramingName(BodyFraming::CloseDelimited) == "close_delimited");
}

}  // namespace
}  // namespace sluice::http
