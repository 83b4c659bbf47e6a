#pragma once

// `sluice doctor`: compares what a config needs with this host's limits
// (open files, ephemeral ports, listen backlog, memory) and says, for each,
// ok / warn / fail with the number found, the number needed and the fix.

#include <cstdio>
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::app {

enum class CheckStatus { Ok, Warn, Fail };

struct DoctorCheck {
  std::string name;
  CheckStatus status;
  std::string found;
  std::string needed;
  std::string fix;  // empty when ok
};

std::vector<DoctorCheck> runDoctorChecks(const config::Config& config);
// Prints the checks; returns 0 unless a check failed (then 1).
int runDoctor(const config::Config& config, FILE* out);

// Raises the soft RLIMIT_NOFILE to the hard limit. Returns the new soft limit.
unsigned long raiseFdLimit();

}  // namespace sluice::app
