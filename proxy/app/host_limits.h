#pragma once

// The host facts `sluice doctor` compares a config with: the open-file limit,
// the kernel's TCP knobs and the memory this process may use. Reading them is
// kept apart from judging them (doctor_checks.h) so tests can feed made-up
// hosts. Every field that could not be read is nullopt, and doctor says
// "unknown" for it instead of guessing.
//
// Thread: any; readHostLimits() only reads /proc and /sys.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::app {

// An rlimit of RLIM_INFINITY.
inline constexpr uint64_t kUnlimited = UINT64_MAX;

struct PortRange {
  uint32_t low = 0;
  uint32_t high = 0;

  uint32_t size() const { return high >= low ? high - low + 1 : 0; }
};

struct HostLimits {
  uint64_t fdSoft = 0;  // RLIMIT_NOFILE; kUnlimited for RLIM_INFINITY
  uint64_t fdHard = 0;
  unsigned cpuCount = 1;  // what `workers: auto` becomes

  std::optional<PortRange> ephemeralPorts;    // net.ipv4.ip_local_port_range
  std::optional<uint64_t> somaxconn;          // net.core.somaxconn
  std::optional<uint64_t> tcpMaxSynBacklog;   // net.ipv4.tcp_max_syn_backlog
  std::optional<uint64_t> tcpTwReuse;         // net.ipv4.tcp_tw_reuse: 0, 1, 2 (loopback only)
  std::optional<uint64_t> tcpSyncookies;      // net.ipv4.tcp_syncookies
  std::optional<uint64_t> memAvailableBytes;  // MemAvailable in /proc/meminfo
  std::optional<uint64_t> cgroupMemoryMax;    // tightest memory cgroup limit; nullopt = none
  std::optional<uint64_t> cgroupMemoryUsed;   // usage of our own cgroup, when limited
};

// Reads this host's limits (for this process).
HostLimits readHostLimits();

// The pieces of readHostLimits(), pure so they can be tested on strings.
// Each returns nullopt when the text does not hold what it should.
std::optional<uint64_t> parseUnsigned(std::string_view text);         // "4096\n"
std::optional<PortRange> parsePortRange(std::string_view text);       // "32768\t60999\n"
std::optional<uint64_t> parseMemAvailable(std::string_view meminfo);  // bytes
// A cgroup memory limit file: "max" (none) or a byte count; cgroup v1 writes
// "no limit" as a number near 2^63, which counts as none too. The outer
// optional is empty on garbage, the inner one when there is no limit.
std::optional<std::optional<uint64_t>> parseCgroupMemoryLimit(std::string_view text);

// Where this process's memory cgroup lives: `dir` holds its files, and the
// limits of every directory from `dir` up to `mountPoint` apply.
struct CgroupDir {
  std::string mountPoint;  // "/sys/fs/cgroup"
  std::string dir;         // "/sys/fs/cgroup/kubepods/pod1/abc"
};
// From /proc/self/cgroup and /proc/self/mountinfo. `v2` selects the unified
// hierarchy ("0::/path", fs type cgroup2), else the v1 hierarchy of
// `controller` ("N:memory:/path", fs type cgroup with that super option;
// "cpu" also finds "cpu,cpuacct").
std::optional<CgroupDir> findCgroup(std::string_view procSelfCgroup, std::string_view mountinfo,
                                    bool v2, std::string_view controller);
inline std::optional<CgroupDir> findMemoryCgroup(std::string_view procSelfCgroup,
                                                 std::string_view mountinfo, bool v2) {
  return findCgroup(procSelfCgroup, mountinfo, v2, "memory");
}

// A cgroup CPU quota as whole CPUs, rounded up (1.5 CPUs: 2): from v2's
// cpu.max ("150000 100000"; "max 100000" is no quota) or v1's
// cpu.cfs_quota_us and cpu.cfs_period_us (a quota of -1 is none). 0 means
// no quota; nullopt, garbage.
std::optional<unsigned> parseCgroupCpuMax(std::string_view cpuMax);
std::optional<unsigned> parseCgroupCfsQuota(std::string_view quota, std::string_view period);

// What `workers: auto` becomes: the CPUs this process may run on
// (sched_getaffinity), capped by the tightest cgroup CPU quota on the way up
// its hierarchy, rounded up. A sidecar limited to 1500m on a 64-CPU node
// gets 2 workers, not 64. At least 1.
unsigned countCpus();

// 1536 -> "1.5 KiB", 3 GiB -> "3.0 GiB"; below 1 KiB: "512 B".
std::string formatBytes(uint64_t bytes);

}  // namespace sluice::app
