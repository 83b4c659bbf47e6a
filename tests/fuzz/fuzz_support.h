#pragma once

// Small helpers shared by the libFuzzer targets in tests/fuzz.
//
// Several targets begin their input with a few option bytes (limits, a
// split point, ...) and treat the rest as the bytes under test; OptionBytes
// reads them. An input shorter than the options reads zeros, so every input
// is valid. A target that finds a broken invariant calls fail(), which
// prints both sides and aborts: libFuzzer then saves the input as a crash.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

namespace sluice::fuzz {

class OptionBytes {
 public:
  OptionBytes(const uint8_t* data, size_t size) : bytes_(data, size) {}

  uint8_t byte() {
    if (bytes_.empty()) return 0;
    const uint8_t b = bytes_.front();
    bytes_ = bytes_.subspan(1);
    return b;
  }
  uint16_t u16() {  // big-endian
    const uint8_t high = byte();
    return static_cast<uint16_t>((high << 8) | byte());
  }
  // Everything after the options.
  std::string_view rest() const {
    return {reinterpret_cast<const char*>(bytes_.data()), bytes_.size()};
  }

 private:
  std::span<const uint8_t> bytes_;
};

// `bytes` with everything but printable ASCII escaped, for failure reports.
inline std::string printable(std::string_view bytes) {
  std::string out;
  for (const char c : bytes) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n\n";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (u >= 0x20 && u < 0x7F) {
      out += c;
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    }
  }
  return out;
}

[[noreturn]] inline void fail(const char* what, std::string_view expected,
                              std::string_view actual) {
  std::fprintf(stderr, "\n*** fuzz invariant broken: %s\n--- expected:\n%s\n--- got:\n%s\n", what,
               printable(expected).c_str(), printable(actual).c_str());
  std::abort();
}

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "\n*** fuzz invariant broken: %s\n", what);
  std::abort();
}

// SLUICE_FUZZ_VERBOSE=1 in the environment: targets print what they saw
// (for looking at one input: `SLUICE_FUZZ_VERBOSE=1 ./http_request_fuzz crash-...`).
inline bool verbose() {
  static const bool on = std::getenv("SLUICE_FUZZ_VERBOSE") != nullptr;
  return on;
}

inline void check(bool ok, const char* what) {
  if (!ok) fail(what);
}

inline void checkEqual(std::string_view expected, std::string_view actual, const char* what) {
  if (expected != actual) fail(what, expected, actual);
}

}  // namespace sluice::fuzz
