#pragma once

// The scalar grammars of the config file, independent of YAML:
//   durations  250ms 5s 2m 1h, or a bare 0
//   sizes      512, 512B, 64K / 64KiB, 1M / 1MiB, 1G / 1GiB (all 1024-based)
//   integers   plain decimal digits
// Each parser returns the value, or an error sentence that names the text.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace sluice::config {

template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;  // set when value is empty

  static Parsed fail(std::string message) { return Parsed{std::nullopt, std::move(message)}; }
};

Parsed<Duration> parseDuration(std::string_view text);
Parsed<uint64_t> parseSize(std::string_view text);
// Decimal digits only; nullopt on anything else or on overflow.
std::optional<uint64_t> parseDigits(std::string_view text);

// The shortest exact spelling: "0s", "250ms", "5s", "2m", "1h", "1500ms".
std::string formatDuration(Duration d);

}  // namespace sluice::config
