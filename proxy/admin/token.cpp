#include "admin/token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/fd.h"

namespace sluice::admin {

std::optional<std::string> readTokenFile(const std::string& path, std::string* error) {
  core::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat info {};
  if (!fd || ::fstat(fd.get(), &info) != 0) {
    *error = path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  if (!S_ISREG(info.st_mode)) {
    *error = path + ": not a regular file";
    return std::nullopt;
  }
  char buffer[kMaxTokenFileBytes + 1];
  size_t size = 0;
  while (size < sizeof buffer) {
    const ssize_t n = ::read(fd.get(), buffer + size, sizeof buffer - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *error = path + ": " + std::strerror(errno);
      return std::nullopt;
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (size > kMaxTokenFileBytes) {
    *error = path + ": larger than " + std::to_string(kMaxTokenFileBytes) + " bytes";
    return std::nullopt;
  }
  std::string_view text(buffer, size);
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && space(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && space(text.back()))
    text.remove_suffix(1);
  for (char c : text) {
    if (c <= 0x20 || c >= 0x7f) {
      *error = path + ": the token must be one word of printable ASCII";
      return std::nullopt;
    }
  }
  if (text.size() < kMinTokenLength) {
    *error =
        path + ": the token must have at least " + std::to_string(kMinTokenLength) + " characters";
    return std::nullopt;
  }
  return std::string(text);
}

bool tokenMatches(std::string_view expected, std::string_view presented) {
  if (expected.empty()) return false;
  // Walk all of `presented`, reading `expected` cyclically, and fold every
  // difference (and the length difference) into one value: no early exit.
  unsigned char diff = expected.size() == presented.size() ? 0 : 1;
  for (size_t i = 0; i < presented.size(); ++i) {
    diff |= static_cast<unsigned char>(presented[i] ^ expected[i % expected.size()]);
  }
  return diff == 0 && !presented.empty();
}

}  // namespace sluice::admin
