#pragma once

// The Prometheus view of sluice. Workers never touch a prometheus-cpp
// object on the data path: they bump plain atomics in the runtime (listener,
// cluster and backend counters), and renderMetrics() folds them into metric
// families at scrape time, on the main thread.

#include <string>

namespace sluice::process {
class Server;
}

namespace sluice::admin {

// GET /metrics: the text exposition format.
std::string renderMetrics(const process::Server& server);

}  // namespace sluice::admin
