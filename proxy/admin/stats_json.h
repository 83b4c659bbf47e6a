#pragma once

#include <string>

namespace sluice::core {
class Server;
}

namespace sluice::admin {

// GET /stats: listeners, clusters, backends with health, pool idle/busy/pending.
std::string statsJson(const core::Server& server);

}  // namespace sluice::admin
