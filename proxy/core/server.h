#pragma once

#include "config/config.h"

namespace sluice::core {

// Runs sluice until drained; returns the process exit code.
int runServer(config::ConfigPtr config);

}  // namespace sluice::core
