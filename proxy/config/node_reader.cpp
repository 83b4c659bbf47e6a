#include "config/node_reader.h"

#include <algorithm>

#include "config/defaults.h"
#include "config/host_port.h"
#include "config/suggest.h"
#include "config/units.h"

namespace sluice::config {
namespace {

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar: {
      constexpr size_t kShown = 60;
      const std::string& text = node.Scalar();
      if (text.size() <= kShown) return "the value '" + text + "'";
      return "the value '" + text.substr(0, kShown) + "...'";
    }
    case YAML::NodeType::Null:
      return "an empty value";
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

std::string rangeText(uint64_t min, uint64_t max) {
  return "(" + std::to_string(min) + ".." + std::to_string(max) + ")";
}

}  // namespace

ValueReader::ValueReader(YAML::Node node, YAML::Mark mark, std::string path, Diagnostics& diag)
    : node_(std::move(node)), mark_(mark), path_(std::move(path)), diag_(diag) {
  diag_.remember(path_, mark_);
}

bool ValueReader::expectMap() const {
  if (node_.IsMap()) return true;
  fail("expected a mapping, got " + describe(node_));
  return false;
}

bool ValueReader::expectList() const {
  if (node_.IsSequence()) return true;
  fail("expected a list, got " + describe(node_));
  return false;
}

std::optional<std::string> ValueReader::text() const {
  if (!node_.IsScalar()) {
    fail("expected a value, got " + describe(node_));
    return std::nullopt;
  }
  if (node_.Scalar().empty()) {
    fail("expected a value, got an empty string");
    return std::nullopt;
  }
  return node_.Scalar();
}

std::optional<uint64_t> ValueReader::integer(uint64_t min, uint64_t max) const {
  auto value = text();
  if (!value) return std::nullopt;
  auto number = parseDigits(*value);
  if (!number) {
    // All digits but unparsable means too large; "-5" is a number below 0.
    const size_t start = value->starts_with('-') ? 1 : 0;
    const bool numeric =
        value->size() > start && value->find_first_not_of("0123456789", start) == std::string::npos;
    fail(numeric ? *value + " is out of range " + rangeText(min, max)
                 : "expected a whole number, got '" + *value + "'");
    return std::nullopt;
  }
  if (*number < min || *number > max) {
    fail(*value + " is out of range " + rangeText(min, max));
    return std::nullopt;
  }
  return number;
}

std::optional<Duration> ValueReader::duration(Duration min) const {
  auto value = text();
  if (!value) return std::nullopt;
  auto parsed = parseDuration(*value);
  if (!parsed.value) {
    fail(parsed.error);
    return std::nullopt;
  }
  if (*parsed.value < min) {
    fail(min == kPositive ? "must be greater than 0s" : "must be at least " + formatDuration(min));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<uint64_t> ValueReader::size(uint64_t min, uint64_t max) const {
  auto value = text();
  if (!value) return std::nullopt;
  auto parsed = parseSize(*value);
  if (!parsed.value) {
    fail(parsed.error);
    return std::nullopt;
  }
  if (*parsed.value < min || *parsed.value > max) {
    fail("size '" + *value + "' is out of range (" + std::to_string(min) + ".." +
         std::to_string(max) + " bytes)");
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<bool> ValueReader::boolean() const {
  auto value = text();
  if (!value) return std::nullopt;
  if (*value == "true" || *value == "True" || *value == "TRUE") return true;
  if (*value == "false" || *value == "False" || *value == "FALSE") return false;
  fail("expected true or false, got '" + *value + "'");
  return std::nullopt;
}

std::optional<HostPort> ValueReader::address(bool allowName) const {
  auto value = text();
  if (!value) return std::nullopt;
  auto parsed = parseHostPort(*value);
  if (!parsed.value) {
    fail(parsed.error);
    return std::nullopt;
  }
  if (parsed.value->isName && !allowName) {
    fail("invalid address '" + *value +
         "': must be an IP address, e.g. 127.0.0.1:" + std::to_string(parsed.value->port));
    return std::nullopt;
  }
  return parsed.value;
}

std::optional<std::string> ValueReader::name() const {
  auto value = text();
  if (!value) return std::nullopt;
  bool valid = value->size() <= defaults::kMaxNameLength;
  for (char c : *value)
    valid = valid && isNameChar(c);
  if (!valid) {
    fail("invalid name '" + *value + "': use at most " + std::to_string(defaults::kMaxNameLength) +
         " letters, digits, '_', '-' or '.'");
  }
  return value;
}

MapReader::MapReader(YAML::Node node, std::string path, Diagnostics& diag)
    : MapReader(ValueReader(std::move(node), YAML::Mark::null_mark(), std::move(path), diag)) {}

MapReader::MapReader(const ValueReader& value)
    : path_(value.path()), diag_(value.diagnostics()), mark_(value.mark()) {
  if (mark_.is_null()) mark_ = value.node().Mark();
  diag_.remember(path_, mark_);
  ok_ = value.expectMap();
  if (!ok_) return;
  for (const auto& pair : value.node()) {
    const YAML::Node& key = pair.first;
    if (!key.IsScalar()) {
      diag_.error(key.Mark(), path_, "keys must be plain text, got " + describe(key));
      continue;
    }
    bool duplicate = false;
    for (const auto& entry : entries_) {
      if (entry.key == key.Scalar()) {
        diag_.error(key.Mark(), path_,
                    "duplicate key '" + key.Scalar() + "' (first at line " +
                        std::to_string(entry.keyMark.line + 1) + ")");
        duplicate = true;
        break;
      }
    }
    if (!duplicate) entries_.push_back(Entry{key.Scalar(), key.Mark(), pair.second});
  }
}

std::optional<ValueReader> MapReader::take(std::string_view key) {
  known_.emplace_back(key);
  for (auto& entry : entries_) {
    if (entry.key != key) continue;
    entry.taken = true;
    const bool useKeyMark = entry.value.IsNull() || entry.value.Mark().is_null();
    return ValueReader(entry.value, useKeyMark ? entry.keyMark : entry.value.Mark(),
                       childPath(path_, key), diag_);
  }
  return std::nullopt;
}

std::optional<ValueReader> MapReader::require(std::string_view key) {
  auto value = take(key);
  if (!value && ok_) {
    missing_.emplace_back(key);
    diag_.markFailed(childPath(path_, key));
  }
  return value;
}

void MapReader::finish() {
  std::vector<std::string> explained;  // missing keys that an unknown key misspells
  for (const auto& entry : entries_) {
    if (entry.taken) continue;
    std::string message = "unknown key '" + entry.key + "'";
    if (auto match = closestMatch(entry.key, known_)) {
      message += "; did you mean '" + *match + "'?";
      explained.push_back(*match);
    } else {
      std::string list;
      for (const auto& known : known_)
        list += (list.empty() ? "" : ", ") + known;
      message += "; expected one of: " + list;
    }
    diag_.error(entry.keyMark, path_, message);
  }
  for (const auto& key : missing_) {
    if (std::find(explained.begin(), explained.end(), key) != explained.end()) continue;
    diag_.error(mark_, path_, "missing required key '" + key + "'");
  }
}

void MapReader::duration(std::string_view key, Duration& out, Duration min) {
  if (auto value = take(key)) {
    if (auto result = value->duration(min)) out = *result;
  }
}

void MapReader::size(std::string_view key, uint64_t& out, uint64_t min, uint64_t max) {
  if (auto value = take(key)) {
    if (auto result = value->size(min, max)) out = *result;
  }
}

void MapReader::boolean(std::string_view key, bool& out) {
  if (auto value = take(key)) {
    if (auto result = value->boolean()) out = *result;
  }
}

}  // namespace sluice::config
