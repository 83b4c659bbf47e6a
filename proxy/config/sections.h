#pragma once

// Readers for the list items of the config: one listener, one cluster (with
// its backends, pool, timeouts, retries, health check and outlier detection).
// Each starts from defaults.h and applies what the YAML says; problems go to
// the reader's Diagnostics.

#include "config/config.h"
#include "config/node_reader.h"

namespace sluice::config {

Listener readListener(const ValueReader& item);
Cluster readCluster(const ValueReader& item);

}  // namespace sluice::config
