#pragma once

// ASCII case folding, locale-free: config keys and HTTP field names compare
// case-insensitively only over A-Z.

namespace sluice::core {

constexpr char asciiLower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace sluice::core
