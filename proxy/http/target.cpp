#include "http/target.h"

#include <algorithm>

namespace sluice::http {

bool isValidRequestTarget(std::string_view target) {
  return !target.empty() && std::all_of(target.begin(), target.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7E;
  });
}

}  // namespace sluice::http
