#include "app/commands.h"

#include <cstdio>

#include "app/doctor.h"
#include "app/host_limits.h"
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

// Runs sluice until drained; returns the process exit code. What the server
// borrows from the host (the fd limit, `sluice doctor`'s checks, the CPU count
// `workers: auto` becomes) is read here, so process/ never imports app/.
int runServer(const config::ConfigPtr& config) {
  const unsigned long fdLimit = raiseFdLimit();
  log::debug("open-file limit ", fdLimit);
  // What `sluice doctor` would flag, said once at start (after raising the
  // fd limit, so it judges the limit sluice actually runs with).
  for (const auto& check : runDoctorChecks(*config)) {
    if (check.status == CheckStatus::Ok) continue;
    log::warn("doctor: ", check.status == CheckStatus::Fail ? "FAIL " : "", check.name, ": found ",
              check.found, ", needs ", check.needed, " (run `sluice doctor` for fixes)");
  }
  process::RuntimePtr runtime;
  try {
    runtime = process::Runtime::build(config);
  } catch (const std::exception& e) {
    log::error("cannot start: ", e.what());
    return 1;
  }
  // `workers: auto`: the CPUs this process may use (affinity, cgroup quota),
  // the same figure `sluice doctor` counts listening sockets with.
  const uint32_t workers = config->workers > 0 ? config->workers : countCpus();
  process::Server server(std::move(runtime), workers);
  if (!server.start()) return 1;
  return server.run();
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
  return runServer(config);
}

}  // namespace sluice::app
