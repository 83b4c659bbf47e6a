#include "config/diagnostics.h"

#include <algorithm>

namespace sluice::config {

std::string ConfigError::format() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

void Diagnostics::error(const YAML::Mark& mark, const std::string& path,
                        const std::string& message) {
  ConfigError error;
  error.file = file_;
  if (!mark.is_null()) {
    error.line = mark.line + 1;
    error.column = mark.column + 1;
  }
  error.message = path.empty() ? message : path + ": " + message;
  // The message quotes the file's text; keep control bytes off the terminal.
  for (char& c : error.message) {
    if ((c >= 0 && c < 0x20) || c == 0x7F) c = '?';
  }
  errors_.push_back(std::move(error));
  failed_.insert(path);
}

void Diagnostics::errorAt(const std::string& path, const std::string& message) {
  error(find(path), path, message);
}

void Diagnostics::remember(const std::string& path, const YAML::Mark& mark) {
  if (!mark.is_null()) marks_[path] = mark;
}

bool Diagnostics::failed(const std::string& path) const {
  for (auto it = failed_.lower_bound(path); it != failed_.end(); ++it) {
    const std::string& failedPath = *it;
    if (failedPath.compare(0, path.size(), path) != 0) break;
    if (failedPath.size() == path.size() || failedPath[path.size()] == '.' ||
        failedPath[path.size()] == '[') {
      return true;
    }
  }
  return false;
}

std::vector<ConfigError> Diagnostics::takeErrors() {
  std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
    return a.line != b.line ? a.line < b.line : a.column < b.column;
  });
  return std::move(errors_);
}

YAML::Mark Diagnostics::find(std::string path) const {
  while (true) {
    auto it = marks_.find(path);
    if (it != marks_.end()) return it->second;
    if (path.empty()) return YAML::Mark::null_mark();
    path = parentPath(path);
  }
}

std::string parentPath(const std::string& path) {
  const size_t cut = path.find_last_of(".[");
  return cut == std::string::npos ? std::string() : path.substr(0, cut);
}

std::string childPath(const std::string& parent, std::string_view key) {
  return parent.empty() ? std::string(key) : parent + "." + std::string(key);
}

std::string itemPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

}  // namespace sluice::config
