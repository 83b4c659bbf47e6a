#include "admin/token.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using namespace sluice::admin;
namespace fs = std::filesystem;

namespace {

std::string tokenFile(const std::string& content) {
  const auto path = fs::temp_directory_path() / ("sluice-token-" + std::to_string(::getpid()));
  std::ofstream(path, std::ios::binary) << content;
  return path.string();
}

}  // namespace

TEST_CASE("a token file yields its one word", "[admin][token]") {
  std::string error;
  const std::string path = tokenFile("  0123456789abcdef-XYZ\n");
  CHECK(readTokenFile(path, &error) == "0123456789abcdef-XYZ");
  fs::remove(path);
}

TEST_CASE("unusable token files are refused with a reason", "[admin][token]") {
  std::string error;
  CHECK_FALSE(readTokenFile("/nonexistent/token", &error));
  CHECK(error.find("No such file") != std::string::npos);
  CHECK_FALSE(readTokenFile("/dev/zero", &error));
  CHECK(error.find("not a regular file") != std::string::npos);
  for (const std::string& content :
       {std::string("short"), std::string("two words in here!!"), std::string(5000, 'a')}) {
    const std::string path = tokenFile(content);
    CHECK_FALSE(readTokenFile(path, &error));
    fs::remove(path);
  }
}

TEST_CASE("tokens match only when equal", "[admin][token]") {
  CHECK(tokenMatches("0123456789abcdef", "0123456789abcdef"));
  CHECK_FALSE(tokenMatches("0123456789abcdef", "0123456789abcdeX"));
  CHECK_FALSE(tokenMatches("0123456789abcdef", "0123456789abcdef0123456789abcdef"));
  CHECK_FALSE(tokenMatches("0123456789abcdef", "0123456789abcde"));
  CHECK_FALSE(tokenMatches("0123456789abcdef", ""));
  CHECK_FALSE(tokenMatches("", ""));
}
