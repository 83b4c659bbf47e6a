#pragma once

// The admin bearer token (`admin.token_file`): read from a file at start and
// on every reload, compared in constant time.
//
// The file holds one token: printable ASCII without spaces (RFC 6750's
// b64token and more), surrounding whitespace and a final newline ignored,
// at most kMaxTokenFileBytes. Only regular files are read.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::admin {

inline constexpr size_t kMaxTokenFileBytes = 4096;
inline constexpr size_t kMinTokenLength = 16;

// The token, or nullopt with `*error` saying why the file is unusable.
std::optional<std::string> readTokenFile(const std::string& path, std::string* error);

// Whether `presented` equals `expected`, in time that depends only on the
// length of `presented` (never on where the two differ).
bool tokenMatches(std::string_view expected, std::string_view presented);

}  // namespace sluice::admin
