#include "http/upgrade_policy.h"

#include <algorithm>

namespace sluice::http {

bool upgradeAllowed(const RequestHead& head, const std::vector<std::string>& allowed) {
  bool any = false;
  bool all = true;
  for (const Header& h : head.headers) {
    if (!equalsIgnoreCase(h.name, "Upgrade")) continue;
    forEachListToken(h.value, [&](std::string_view offer) {
      const std::string_view name = offer.substr(0, offer.find('/'));
      any = true;
      all = all && std::any_of(allowed.begin(), allowed.end(), [name](const std::string& entry) {
              return equalsIgnoreCase(name, entry);
            });
    });
  }
  return any && all;
}

}  // namespace sluice::http
