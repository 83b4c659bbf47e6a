#include "config/units.h"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

#include "config/defaults.h"

namespace sluice::config {
namespace {

struct Unit {
  std::string_view suffix;
  uint64_t factor;
};

constexpr std::array<Unit, 4> kDurationUnits{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
}};

constexpr std::array<Unit, 7> kSizeUnits{{
    {"B", 1},
    {"K", defaults::kKiB},
    {"KiB", defaults::kKiB},
    {"M", defaults::kMiB},
    {"MiB", defaults::kMiB},
    {"G", defaults::kGiB},
    {"GiB", defaults::kGiB},
}};

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

// Splits "250ms" into "250" and "ms".
std::pair<std::string_view, std::string_view> splitNumber(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && isDigit(text[i]))
    ++i;
  return {text.substr(0, i), text.substr(i)};
}

std::string quoted(std::string_view text) {
  return "'" + std::string(text) + "'";
}

}  // namespace

std::optional<uint64_t> parseDigits(std::string_view text) {
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    if (!isDigit(c)) return std::nullopt;
  }
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Parsed<Duration> parseDuration(std::string_view text) {
  const std::string usage = ": use a whole number with a unit, e.g. 250ms, 5s, 2m, 1h";
  if (text.starts_with('-')) {
    return Parsed<Duration>::fail("invalid duration " + quoted(text) + ": must not be negative");
  }
  auto [digits, suffix] = splitNumber(text);
  if (digits.empty()) return Parsed<Duration>::fail("invalid duration " + quoted(text) + usage);
  if (suffix.empty()) {
    if (parseDigits(digits) == 0u) return {Duration(0), {}};
    return Parsed<Duration>::fail("invalid duration " + quoted(text) + ": missing unit" +
                                  usage.substr(usage.find(',')));
  }
  const Unit* unit = nullptr;
  for (const auto& candidate : kDurationUnits) {
    if (candidate.suffix == suffix) unit = &candidate;
  }
  if (unit == nullptr) return Parsed<Duration>::fail("invalid duration " + quoted(text) + usage);
  const uint64_t maxMs = static_cast<uint64_t>(defaults::kMaxDuration.count());
  auto number = parseDigits(digits);
  if (!number || *number > maxMs / unit->factor) {
    return Parsed<Duration>::fail("duration " + quoted(text) + " is too large (max " +
                                  formatDuration(defaults::kMaxDuration) + ")");
  }
  return {Duration(static_cast<int64_t>(*number * unit->factor)), {}};
}

Parsed<uint64_t> parseSize(std::string_view text) {
  const std::string usage = ": use bytes or a unit B, K/KiB, M/MiB, G/GiB, e.g. 64KiB";
  if (text.starts_with('-')) {
    return Parsed<uint64_t>::fail("invalid size " + quoted(text) + ": must not be negative");
  }
  auto [digits, suffix] = splitNumber(text);
  if (digits.empty()) return Parsed<uint64_t>::fail("invalid size " + quoted(text) + usage);
  uint64_t factor = suffix.empty() ? 1 : 0;
  for (const auto& unit : kSizeUnits) {
    if (unit.suffix == suffix) factor = unit.factor;
  }
  if (factor == 0) return Parsed<uint64_t>::fail("invalid size " + quoted(text) + usage);
  auto number = parseDigits(digits);
  if (!number || *number > std::numeric_limits<uint64_t>::max() / factor) {
    return Parsed<uint64_t>::fail("size " + quoted(text) + " is too large");
  }
  return {*number * factor, {}};
}

std::string formatDuration(Duration d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0s";
  for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
    const auto factor = static_cast<int64_t>(it->factor);
    if (ms % factor == 0) return std::to_string(ms / factor) + std::string(it->suffix);
  }
  return std::to_string(ms) + "ms";  // not reached: every ms count divides by 1
}

}  // namespace sluice::config
