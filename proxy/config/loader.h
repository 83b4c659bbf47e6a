#pragma once

// YAML -> Config. Reports every problem at once, each with the position of
// the offending node, so `sluice check` can print `file:line:col: message`
// lines that an editor jumps to.

#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::config {

struct ConfigError {
  std::string file;
  int line = 0;  // 1-based; 0 when the error has no position (e.g. unreadable file)
  int column = 0;
  std::string message;

  std::string format() const;  // "file:line:col: message" (or "file: message")
};

struct LoadResult {
  ConfigPtr config;  // null when errors is not empty
  std::vector<ConfigError> errors;

  bool ok() const { return config != nullptr; }
};

LoadResult loadFile(const std::string& path);
// `name` stands in for the file name in error messages.
LoadResult loadString(const std::string& yaml, const std::string& name);

// One line for `sluice check`: "config ok: 2 listeners, 1 cluster, 3 backends".
std::string summarize(const Config& config);

// The effective config as JSON (for GET /config).
std::string toJson(const Config& config);

}  // namespace sluice::config
