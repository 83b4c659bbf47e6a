// Every example in config/ must load cleanly: globbed at test time, so a new
// example is covered without touching this file.

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <catch2/catch.hpp>

#include "config/loader.h"

namespace fs = std::filesystem;
using namespace sluice::config;

namespace {

std::vector<fs::path> exampleFiles() {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(fs::path(SLUICE_SOURCE_DIR) / "config")) {
    if (entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("every example config loads with zero errors", "[config][examples]") {
  const auto files = exampleFiles();
  REQUIRE(files.size() >= 4);
  for (const auto& file : files) {
    INFO(file.string());
    auto result = loadFile(file.string());
    for (const auto& error : result.errors)
      FAIL_CHECK(error.format());
    CHECK(result.ok());
  }
}

TEST_CASE("the annotated default serves the README demo", "[config][examples]") {
  auto result = loadFile(SLUICE_SOURCE_DIR "/config/sluice.yaml");
  REQUIRE(result.ok());
  const Config& config = *result.config;
  REQUIRE(config.listeners.size() == 1);
  CHECK(config.listeners[0].name == "web");
  CHECK(config.listeners[0].address.toString() == "0.0.0.0:8080");
  // The demo's protocol is not pinned: it moves from tcp to http with HTTP mode.
  CHECK(config.listeners[0].cluster == "legacy");
  const Cluster* legacy = config.findCluster("legacy");
  REQUIRE(legacy != nullptr);
  REQUIRE(legacy->backends.size() == 1);
  CHECK(legacy->backends[0].address.toString() == "127.0.0.1:9000");
  CHECK(legacy->pool.minIdle == 4);
  CHECK(config.admin.address.toString() == "127.0.0.1:9901");
  CHECK((!legacy->healthCheck || legacy->healthCheck->type == HealthCheckType::Tcp));
}

TEST_CASE("the annotated default documents exactly the built-in defaults", "[config][examples]") {
  // sluice.yaml spells out every key with its default value; the same config
  // written with only the required keys must come out identical.
  // The listener's protocol is the one key whose value is the demo's choice
  // rather than the default, so it is copied over.
  auto annotated = loadFile(SLUICE_SOURCE_DIR "/config/sluice.yaml");
  REQUIRE(annotated.ok());
  REQUIRE(annotated.config->listeners.size() == 1);
  const std::string minimal =
      "listeners:\n"
      "  - name: web\n"
      "    address: 0.0.0.0:8080\n"
      "    cluster: legacy\n"
      "    protocol: " +
      std::string(toString(annotated.config->listeners[0].protocol)) +
      "\n"
      "clusters:\n"
      "  - name: legacy\n"
      "    backends:\n"
      "      - address: 127.0.0.1:9000\n"
      "    health_check: {}\n"
      "    outlier_detection: {}\n";
  auto defaults = loadString(minimal, "minimal.yaml");
  REQUIRE(defaults.ok());
  CHECK(toJson(*annotated.config) == toJson(*defaults.config));
}

TEST_CASE("every prefix of the annotated default loads or fails cleanly", "[config][examples]") {
  auto full = loadFile(SLUICE_SOURCE_DIR "/config/sluice.yaml");
  REQUIRE(full.ok());
  std::string text;
  {
    std::ifstream in(SLUICE_SOURCE_DIR "/config/sluice.yaml");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  for (size_t cut = 0; cut < text.size(); cut += 7) {
    auto result = loadString(text.substr(0, cut), "cut.yaml");
    CHECK(result.ok() == result.errors.empty());
    for (const auto& error : result.errors)
      CHECK(error.line >= 1);
  }
}
