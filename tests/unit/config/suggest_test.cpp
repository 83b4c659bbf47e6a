#include "config/suggest.h"

#include <catch2/catch.hpp>

using sluice::config::closestMatch;
using sluice::config::editDistance;

TEST_CASE("edit distance counts insertions, deletions and substitutions", "[config][suggest]") {
  CHECK(editDistance("", "") == 0);
  CHECK(editDistance("abc", "") == 3);
  CHECK(editDistance("adress", "address") == 1);
  CHECK(editDistance("kitten", "sitting") == 3);
  CHECK(editDistance("Address", "address") == 0);
}

TEST_CASE("close typos get a suggestion, unrelated words do not", "[config][suggest]") {
  const std::vector<std::string> keys{"address", "weight"};
  CHECK(closestMatch("adress", keys) == "address");
  CHECK(closestMatch("wieght", keys) == "weight");
  CHECK(closestMatch("colour", keys) == std::nullopt);
  CHECK(closestMatch("x", keys) == std::nullopt);
  CHECK(closestMatch("anything", {}) == std::nullopt);
}
