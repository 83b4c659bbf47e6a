// sluice command line: run | check | doctor | version. Everything else lives
// in the sluice_core library.

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "app/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: sluice [run] -c FILE       run the proxy\n"
    "       sluice check -c FILE       validate FILE and print a summary\n"
    "       sluice doctor -c FILE      compare FILE with this host's limits\n"
    "       sluice version             print the version\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   the YAML config (default /etc/sluice/sluice.yaml)\n"
    "  -h, --help          this text\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 bad config or bad usage\n";

int usageError(const std::string& message) {
  std::fprintf(stderr, "sluice: %s\n\n%s", message.c_str(), kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  std::string command = "run";
  size_t i = 0;
  if (!args.empty() && !args[0].starts_with('-')) {
    command = std::string(args[0]);
    i = 1;
  }
  std::string configPath = "/etc/sluice/sluice.yaml";
  for (; i < args.size(); ++i) {
    if (args[i] == "-h" || args[i] == "--help") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (args[i] == "-c" || args[i] == "--config") {
      if (i + 1 >= args.size()) return usageError("-c needs a FILE");
      configPath = std::string(args[++i]);
    } else if (args[i].starts_with("--config=")) {
      configPath = std::string(args[i].substr(std::strlen("--config=")));
    } else {
      return usageError("unknown argument '" + std::string(args[i]) + "'");
    }
  }

  if (command == "version") return sluice::app::versionCommand();
  if (command == "check") return sluice::app::checkCommand(configPath);
  if (command == "doctor") return sluice::app::doctorCommand(configPath);
  if (command == "run") return sluice::app::runCommand(configPath);
  return usageError("unknown command '" + command + "'");
}
