#pragma once

// Typed reads from yaml-cpp nodes that never throw: each reader checks the
// node's shape and text, reports a problem to Diagnostics at the node's
// position and returns nullopt, so the loader carries on and finds the next
// problem too.
//
//   MapReader pool(node, "clusters[0].pool", diag);
//   pool.integer("max_connections", out.maxConnections, 1u, 100000u);
//   pool.duration("idle_timeout", out.idleTimeout, kPositive);
//   pool.finish();  // every key nobody asked for is an "unknown key" error

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config.h"
#include "config/diagnostics.h"

namespace sluice::config {

// Lowest accepted value of a duration field.
inline constexpr Duration kZeroOk{0};
inline constexpr Duration kPositive{1};

template <class E>
using Choices = std::vector<std::pair<std::string_view, E>>;

// One node and its config path.
class ValueReader {
 public:
  // `mark` is where errors point; for an empty value the loader passes the
  // key's mark, since yaml-cpp gives an empty value no useful position.
  ValueReader(YAML::Node node, YAML::Mark mark, std::string path, Diagnostics& diag);

  const YAML::Node& node() const { return node_; }
  const std::string& path() const { return path_; }
  const YAML::Mark& mark() const { return mark_; }
  Diagnostics& diagnostics() const { return diag_; }
  void fail(const std::string& message) const { diag_.error(mark_, path_, message); }

  // Report "expected a mapping/list, got ..." and return false on a mismatch.
  bool expectMap() const;
  bool expectList() const;

  std::optional<std::string> text() const;  // any non-empty scalar
  std::optional<uint64_t> integer(uint64_t min, uint64_t max) const;
  std::optional<Duration> duration(Duration min) const;
  std::optional<uint64_t> size(uint64_t min, uint64_t max) const;
  std::optional<bool> boolean() const;
  std::optional<HostPort> address(bool allowName) const;
  // A listener or cluster name: letters, digits, '_', '-', '.'; the raw text
  // is returned even when invalid so that references to it still resolve.
  std::optional<std::string> name() const;

  template <class E>
  std::optional<E> choice(const Choices<E>& choices) const {
    auto value = text();
    if (!value) return std::nullopt;
    std::string allowed;
    for (const auto& [spelling, result] : choices) {
      if (spelling == *value) return result;
      allowed += (allowed.empty() ? "" : ", ") + std::string(spelling);
    }
    fail("invalid value '" + *value + "'; expected one of: " + allowed);
    return std::nullopt;
  }

 private:
  YAML::Node node_;
  YAML::Mark mark_;
  std::string path_;
  Diagnostics& diag_;
};

// A mapping whose keys are read one by one; finish() reports the rest.
class MapReader {
 public:
  // Reports an error (and reads as empty) unless `node` is a mapping.
  MapReader(YAML::Node node, std::string path, Diagnostics& diag);
  MapReader(const ValueReader& value);

  bool ok() const { return ok_; }
  const std::string& path() const { return path_; }
  YAML::Mark mark() const { return mark_; }

  // The value under `key`, if present. Every key asked for is a known key.
  std::optional<ValueReader> take(std::string_view key);
  // Like take(), but reports "missing required key" when absent (from
  // finish(), and not when an unknown key looks like a typo of it).
  std::optional<ValueReader> require(std::string_view key);
  // Reports every key that no take()/require() asked for.
  void finish();

  // Field helpers: leave `out` alone (its default) when the key is absent
  // or its value is invalid.
  template <class T>
  void integer(std::string_view key, T& out, T min, T max) {
    if (auto value = take(key)) {
      if (auto number = value->integer(min, max)) out = static_cast<T>(*number);
    }
  }
  void duration(std::string_view key, Duration& out, Duration min);
  void size(std::string_view key, uint64_t& out, uint64_t min, uint64_t max);
  void boolean(std::string_view key, bool& out);
  template <class E>
  void choice(std::string_view key, E& out, const Choices<E>& choices) {
    if (auto value = take(key)) {
      if (auto result = value->choice(choices)) out = *result;
    }
  }

 private:
  struct Entry {
    std::string key;
    YAML::Mark keyMark;
    YAML::Node value;
    bool taken = false;
  };

  std::string path_;
  Diagnostics& diag_;
  YAML::Mark mark_;
  bool ok_ = false;
  std::vector<Entry> entries_;
  std::vector<std::string> known_;
  std::vector<std::string> missing_;  // required keys not found; reported by finish()
};

// Calls visit(ValueReader) for each item; reports an error unless a list.
template <class Visit>
void forEachItem(const ValueReader& list, Visit visit) {
  if (!list.expectList()) return;
  size_t index = 0;
  for (const auto& item : list.node()) {
    const std::string path = itemPath(list.path(), index++);
    const YAML::Mark mark = item.Mark().is_null() ? list.mark() : item.Mark();
    ValueReader reader(item, mark, path, list.diagnostics());
    visit(reader);
  }
}

}  // namespace sluice::config
