#include "app/doctor.h"

#include <sys/resource.h>

#include "app/doctor_checks.h"
#include "app/host_limits.h"

namespace sluice::app {

std::vector<DoctorCheck> runDoctorChecks(const config::Config& config) {
  DoctorReport report = evaluateHost(config, readHostLimits());
  std::vector<DoctorCheck> checks;
  checks.reserve(report.findings.size());
  for (auto& finding : report.findings)
    checks.push_back(std::move(finding.check));
  return checks;
}

int runDoctor(const config::Config& config, FILE* out) {
  DoctorReport report = evaluateHost(config, readHostLimits());
  std::fputs(formatReport(report).c_str(), out);
  std::fflush(out);
  return report.exitCode();
}

unsigned long raiseFdLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur == limit.rlim_max) return static_cast<unsigned long>(limit.rlim_cur);
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &raised) != 0 && limit.rlim_max == RLIM_INFINITY) {
    // Linux refuses an infinite soft limit: fs.nr_open is the real ceiling.
    std::FILE* file = std::fopen("/proc/sys/fs/nr_open", "r");
    unsigned long nrOpen = 0;
    if (file != nullptr) {
      if (std::fscanf(file, "%lu", &nrOpen) != 1) nrOpen = 0;
      std::fclose(file);
    }
    raised.rlim_cur = nrOpen;
    if (nrOpen > limit.rlim_cur) setrlimit(RLIMIT_NOFILE, &raised);
  }
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<unsigned long>(limit.rlim_cur);
}

}  // namespace sluice::app
