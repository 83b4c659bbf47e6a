#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <string_view>
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

TEST_CASE("HeadersRemoveKeepsTheOtherFieldsIntact", "[http][message]") {
  Headers h;
  h.add("Keep-1", "one");
  h.add("Drop", "xxxxxxxx");
  h.add("Keep-2", "two");
  h.add("drop", "y");
  h.add("Keep-3", "three");
  CHECK(h.remove("DROP") == 2);
  REQUIRE(h.size() == 3);
  CHECK(h.get("keep-1") == "one");
  CHECK(h.get("keep-2") == "two");
  CHECK(h.get("keep-3") == "three");
  CHECK(h.footprint() == 6 * 3 + 3 + 3 + 5 + 3 * Headers::kFieldOverhead);
  h.add("Keep-4", "four");
  CHECK(h[3].name == "Keep-4");
  CHECK(h[3].value == "four");
}

TEST_CASE("HeadersAddAcceptsViewsOfItself", "[http][message]") {
  Headers h;
  h.add("Name", "value");
  for (int i = 0; i < 100; ++i)  // enough to move the buffer
    h.add(h[0].value, h[0].name);
  REQUIRE(h.size() == 101);
  CHECK(h[100].name == "value");
  CHECK(h[100].value == "Name");
}

TEST_CASE("HeadersBuiltFromPiecesTrimTheValueEnd", "[http][message]") {
  Headers h;
  h.startField();
  h.appendName("X-Sp");
  h.appendName("lit");
  h.appendValue("a b");
  h.appendValue(" c \t ");
  h.endField();
  h.startField();
  h.appendName("Empty");
  h.appendValue("  ");
  h.endField();
  REQUIRE(h.size() == 2);
  CHECK(h[0].name == "X-Split");
  CHECK(h[0].value == "a b c");
  CHECK(h[1].name == "Empty");
  CHECK(h[1].value.empty());
  // The trimmed bytes are given back: only names and values are held.
  CHECK(h.footprint() == 7 + 5 + 5 + 2 * Headers::kFieldOverhead);
}

TEST_CASE("HeadersShowAnOpenFieldAsItIsSoFar", "[http][message]") {
  Headers h;
  h.add("Content-Length", "1");
  h.startField();
  h.appendName("Content-Len");
  CHECK(h.count("Content-Length") == 1);
  h.appendName("gth");
  CHECK(h.count("Content-Length") == 2);
  CHECK(h[1].value.empty());
  h.appendValue("2 ");
  CHECK(h[1].value == "2 ");
  h.endField();
  CHECK(h.joined("content-length") == "1, 2");
}

TEST_CASE("MovedFromHeadersAreEmpty", "[http][message]") {
  Headers a;
  a.add("A", "1");
  Headers b = std::move(a);
  CHECK(b.size() == 1);
  CHECK(a.size() == 0);  // NOLINT(bugprone-use-after-move): what this test is about
  CHECK(a.begin() == a.end());
  a = std::move(b);
  CHECK(a.get("a") == "1");
  CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("HeadersIterateInOrder", "[http][message]") {
  Headers h;
  h.add("A", "1");
  h.add("B", "2");
  std::string seen;
  for (const Header& f : h) {
    seen.append(f.name);
    seen.append("=");
    seen.append(f.value);
    seen.append(";");
  }
  CHECK(seen == "A=1;B=2;");
  CHECK(std::count_if(h.begin(), h.end(), [](const Header& f) { return f.value == "2"; }) == 1);
}

// Issue #13: a head of tiny fields cost two std::strings and vector slack
// per field, ~1.37 MiB for 64 KiB on the wire (~21x). One buffer plus an
// 8-byte index entry per field keeps it within a small multiple.
TEST_CASE("ManyTinyFieldsCostLittleMoreThanTheirWireBytes", "[http][message]") {
  constexpr size_t kFields = 21000;
  const size_t wire = kFields * std::string_view("a: b\r\n").size();
  Headers h;
  for (size_t i = 0; i < kFields; ++i)
    h.add("a", "b");
  CHECK(h.footprint() == kFields * (2 + Headers::kFieldOverhead));
  CHECK(h.allocatedBytes() <= 2 * h.footprint());  // growth by doubling, at most
  CHECK(h.allocatedBytes() < 3 * wire);
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
