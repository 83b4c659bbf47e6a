// config_fuzz: the config loader (config/loader.h) on arbitrary text.
//
// Whatever the text, loadString() returns (no crash, no exception, no
// sanitizer report) either a config or errors, never both and never neither;
// every error points at the offending text with a 1-based line:col (a line
// of the input), names the file, and carries a message free of control bytes.
// A config that loads can be summarized and shown as JSON (what `sluice
// check` and GET /config do with it).
//
// Input: YAML text (no option bytes).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/loader.h"
#include "fuzz_support.h"

namespace {

using sluice::fuzz::check;

constexpr const char* kName = "fuzz.yaml";

// Lines in the text as an editor counts them (yaml-cpp also breaks at CR).
int lineCount(const std::string& text) {
  return 1 + static_cast<int>(std::count(text.begin(), text.end(), '\n') +
                              std::count(text.begin(), text.end(), '\r'));
}

// The only code that knows ConfigError's shape. The column is not bounded
// by the line's length: yaml-cpp also reads UTF-16/32 (a leading NUL byte is
// enough) and counts columns in its UTF-8 re-encoding.
void checkError(const sluice::config::ConfigError& error, int lines) {
  if (error.file != kName || error.line < 1 || error.column < 1 || error.line > lines) {
    sluice::fuzz::fail("config error without a position in the text", "file:line:col: message",
                       error.format());
  }
  check(!error.message.empty(), "config error without a message");
  for (const char c : error.message) {
    if ((c >= 0 && c < 0x20) || c == 0x7F) {
      sluice::fuzz::fail("control byte in a config error", "", error.message);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const sluice::config::LoadResult result = sluice::config::loadString(text, kName);
  if (result.ok()) {
    check(result.errors.empty(), "a config and errors at once");
    check(!sluice::config::summarize(*result.config).empty(), "empty summary");
    check(!sluice::config::toJson(*result.config).empty(), "empty JSON");
    return 0;
  }
  check(!result.errors.empty(), "neither a config nor an error");
  const int lines = lineCount(text);
  for (const auto& error : result.errors)
    checkError(error, lines);
  return 0;
}
