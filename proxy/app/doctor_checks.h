#pragma once

// The pure half of `sluice doctor`: a Config and a HostLimits in, a report
// out. No system calls here, so tests describe any host they like.
//
// What a config needs:
//   file descriptors  = downstream cap + upstream cap + listening sockets + spare
//     downstream cap  = min(limits.max_connections, sum of listeners' max_connections)
//     upstream cap    = sum over clusters of backends x pool.max_connections
//     listening       = listeners x workers (one SO_REUSEPORT socket each)
//     spare           = kSpareFds (admin port, health checks, logs, DNS, event loops)
//   ephemeral ports   = connections to the busiest backend address:port (every
//                       connection to one address:port needs its own source port)
//   listen backlog    = net::kListenBacklog, capped by somaxconn
//   memory            = each downstream connection with both direction buffers
//                       full (2 x listener buffer_bytes), the biggest buffers first

#include <cstdint>
#include <string>
#include <vector>

#include "app/doctor.h"
#include "app/host_limits.h"
#include "config/config.h"

namespace sluice::app {

inline constexpr uint64_t kSpareFds = 64;
// Warn when one backend address takes more than this share of the port range.
inline constexpr double kPortRangeWarnShare = 0.5;
// The range `sysctl -w net.ipv4.ip_local_port_range="1024 65000"` gives.
inline constexpr PortRange kWidePortRange{1024, 65000};

struct ConfigNeeds {
  unsigned workers = 0;              // after `auto` became the CPU count
  uint64_t downstream = 0;           // downstream connection cap
  uint64_t upstream = 0;             // upstream connection cap, all clusters
  uint64_t listeningSockets = 0;     // listeners x workers
  uint64_t spareFds = kSpareFds;     //
  std::string busiestBackend;        // "10.0.0.1:5432"; empty without backends
  uint64_t busiestBackendConns = 0;  // its connection cap, summed over clusters
  uint64_t bufferBytes = 0;          // worst-case buffer memory

  uint64_t fds() const { return downstream + upstream + listeningSockets + spareFds; }
};

ConfigNeeds computeNeeds(const config::Config& config, unsigned cpuCount);

struct DoctorFinding {
  DoctorCheck check;
  std::string detail;   // how `needed` adds up; printed on the check's line
  std::string note;     // why it matters; printed under warn and fail
  std::string breaks;   // what goes wrong when this limit is reached
  double headroom = 0;  // what the host allows / what the config needs; < 1 runs out
};

struct DoctorReport {
  std::string header;  // "config cfg.yaml: 2 workers, 1 listener, 1 cluster, 2 backends"
  std::vector<DoctorFinding> findings;
  std::string summary;  // names what will break first

  int exitCode() const;  // 1 if any check failed, else 0
};

DoctorReport evaluateHost(const config::Config& config, const HostLimits& host);

// The report as `sluice doctor` prints it:
//   ok    open files: found 1048576, needs 1166 (1000 downstream + ...)
//   fail  ephemeral ports: found 28232, needs 40000 (...)
//         fix: sysctl -w net.ipv4.ip_local_port_range="1024 65000"
//         note: ...
//   summary: ...
std::string formatReport(const DoctorReport& report);

const char* toString(CheckStatus status);  // "ok", "warn", "fail"

}  // namespace sluice::app
