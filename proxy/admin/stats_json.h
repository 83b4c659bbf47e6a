#pragma once

#include <string>

namespace sluice::process {
class Server;
}

namespace sluice::admin {

// GET /stats: listeners, clusters, backends with health, pool idle/busy/pending.
std::string statsJson(const process::Server& server);

}  // namespace sluice::admin
