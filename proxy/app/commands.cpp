#include "app/commands.h"

#include <cstdio>

#include "app/doctor.h"
#include "config/loader.h"
#include "core/log.h"
#include "process/server.h"

namespace sluice::app {
namespace {

// Prints every config error as FILE:LINE:COL: message; returns null on error.
config::ConfigPtr loadOrReport(const std::string& path) {
  auto result = config::loadFile(path);
  for (const auto& error : result.errors)
    std::fprintf(stderr, "%s\n", error.format().c_str());
  return result.config;
}

}  // namespace

int versionCommand() {
  std::printf("sluice %s\n", SLUICE_VERSION);
  return 0;
}

int checkCommand(const std::string& configPath) {
  auto config = loadOrReport(configPath);
  if (!config) return 2;
  std::printf("%s\n", config::summarize(*config).c_str());
  return 0;
}

int doctorCommand(const std::string& configPath) {
  auto config = loadOrReport(configPath);
  if (!config) return 2;
  return runDoctor(*config, stdout);
}

int runCommand(const std::string& configPath) {
  auto config = loadOrReport(configPath);
  if (!config) return 2;
  log::setLevel(config->log.level);
  return core::runServer(config);
}

}  // namespace sluice::app
