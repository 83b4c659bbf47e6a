#pragma once

// The sluice subcommands. Each returns the process exit code:
// 0 ok, 1 runtime failure, 2 bad config or bad usage.

#include <string>

namespace sluice::app {

int versionCommand();
int checkCommand(const std::string& configPath);
int doctorCommand(const std::string& configPath);
int runCommand(const std::string& configPath);

}  // namespace sluice::app
