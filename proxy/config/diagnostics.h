#pragma once

// Collects the loader's errors while it walks the YAML tree, and remembers
// where each config path ("clusters[0].pool.min_idle") was written, so that
// validate.cpp, which sees only the typed structs, can still point at the
// line and column a user has to edit.
//
// Paths are dotted YAML keys with list indexes: "listeners[1].timeouts.idle".
// A message about a path reads "listeners[1].timeouts.idle: <problem>"; the
// top level (path "") has no prefix.

#include <map>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/mark.h>

#include "config/loader.h"

namespace sluice::config {

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  // An error at a yaml-cpp mark (0-based; a null mark means "no position").
  void error(const YAML::Mark& mark, const std::string& path, const std::string& message);
  // An error at the recorded position of `path`, or of its nearest recorded
  // ancestor when `path` itself was never written (a default).
  void errorAt(const std::string& path, const std::string& message);

  void remember(const std::string& path, const YAML::Mark& mark);
  // True if the file itself set `path` (as opposed to a default).
  bool written(const std::string& path) const { return marks_.count(path) != 0; }
  // Notes that `path` had a problem reported elsewhere (e.g. a missing key
  // reported on its parent), so cross-field checks skip it.
  void markFailed(const std::string& path) { failed_.insert(path); }
  // True if an error was reported at `path` or anywhere below it.
  bool failed(const std::string& path) const;
  bool empty() const { return errors_.empty(); }

  // Every error so far, ordered by position (unpositioned first).
  std::vector<ConfigError> takeErrors();

 private:
  YAML::Mark find(std::string path) const;

  std::string file_;
  std::vector<ConfigError> errors_;
  std::map<std::string, YAML::Mark> marks_;
  std::set<std::string> failed_;
};

// "a.b[2].c" -> "a.b[2]" -> "a.b" -> "a" -> "".
std::string parentPath(const std::string& path);
std::string childPath(const std::string& parent, std::string_view key);
std::string itemPath(const std::string& parent, size_t index);

}  // namespace sluice::config
