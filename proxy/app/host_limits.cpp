#include "app/host_limits.h"

#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace sluice::app {
namespace {

// cgroup v1 reports "no limit" as PAGE_COUNTER_MAX pages, just under 2^63.
constexpr uint64_t kCgroupV1NoLimit = uint64_t{1} << 62;

std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string_view trim(std::string_view text) {
  const char* space = " \t\r\n";
  size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) return {};
  size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

// Splits on runs of blanks (space or tab).
std::vector<std::string_view> fields(std::string_view text) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
      ++i;
    size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\t')
      ++i;
    if (i > start) out.push_back(text.substr(start, i - start));
  }
  return out;
}

template <class Fn>
void forEachLine(std::string_view text, Fn&& fn) {
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    fn(line);
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
}

bool hasToken(std::string_view list, std::string_view token) {
  while (true) {
    size_t comma = list.find(',');
    if (list.substr(0, comma) == token) return true;
    if (comma == std::string_view::npos) return false;
    list.remove_prefix(comma + 1);
  }
}

// A CPU quota per period as whole CPUs, rounded up; nullopt for a zero period.
std::optional<unsigned> wholeCpus(uint64_t quota, uint64_t period) {
  if (period == 0) return std::nullopt;
  return static_cast<unsigned>(std::clamp<uint64_t>((quota + period - 1) / period, 1, 1U << 16));
}

uint64_t fromRlim(rlim_t value) {
  return value == RLIM_INFINITY ? kUnlimited : static_cast<uint64_t>(value);
}

std::optional<uint64_t> readUnsigned(const std::string& path) {
  auto text = readFile(path);
  if (!text) return std::nullopt;
  return parseUnsigned(*text);
}

// Calls fn(dir) for the cgroup's own directory and each parent up to its
// mount point: a limit set anywhere on that path applies.
template <class Fn>
void forEachLevel(const CgroupDir& cgroup, Fn&& fn) {
  std::string dir = cgroup.dir;
  while (true) {
    fn(dir);
    if (dir.size() <= cgroup.mountPoint.size()) break;
    size_t slash = dir.rfind('/');
    if (slash == std::string::npos || slash < cgroup.mountPoint.size()) {
      dir = cgroup.mountPoint;
    } else {
      dir.resize(slash);
    }
  }
}

// The tightest memory limit from `cgroup.dir` up to its mount point, and the
// usage of `cgroup.dir` itself.
void readCgroupMemory(const CgroupDir& cgroup, bool v2, HostLimits& host) {
  const char* limitFile = v2 ? "/memory.max" : "/memory.limit_in_bytes";
  const char* usageFile = v2 ? "/memory.current" : "/memory.usage_in_bytes";
  std::optional<uint64_t> tightest;
  forEachLevel(cgroup, [&](const std::string& dir) {
    if (auto text = readFile(dir + limitFile)) {
      auto limit = parseCgroupMemoryLimit(*text);
      if (limit && *limit) tightest = std::min(tightest.value_or(kUnlimited), **limit);
    }
  });
  if (!tightest) return;
  host.cgroupMemoryMax = tightest;
  host.cgroupMemoryUsed = readUnsigned(cgroup.dir + usageFile);
}

}  // namespace

std::optional<uint64_t> parseUnsigned(std::string_view text) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<PortRange> parsePortRange(std::string_view text) {
  auto parts = fields(trim(text));
  if (parts.size() != 2) return std::nullopt;
  auto low = parseUnsigned(parts[0]);
  auto high = parseUnsigned(parts[1]);
  if (!low || !high || *low > 65535 || *high > 65535 || *low > *high) return std::nullopt;
  return PortRange{static_cast<uint32_t>(*low), static_cast<uint32_t>(*high)};
}

std::optional<uint64_t> parseMemAvailable(std::string_view meminfo) {
  std::optional<uint64_t> result;
  forEachLine(meminfo, [&](std::string_view line) {
    constexpr std::string_view kKey = "MemAvailable:";
    if (result || !line.starts_with(kKey)) return;
    auto parts = fields(line.substr(kKey.size()));
    if (parts.empty() || parts.size() > 2) return;
    auto value = parseUnsigned(parts[0]);
    if (!value) return;
    if (parts.size() == 2) {
      if (parts[1] != "kB") return;
      if (*value > UINT64_MAX / 1024) return;
      *value *= 1024;
    }
    result = value;
  });
  return result;
}

std::optional<std::optional<uint64_t>> parseCgroupMemoryLimit(std::string_view text) {
  text = trim(text);
  if (text == "max") return std::optional<uint64_t>();
  auto value = parseUnsigned(text);
  if (!value) return std::nullopt;
  if (*value >= kCgroupV1NoLimit) return std::optional<uint64_t>();
  return std::optional<uint64_t>(*value);
}

std::optional<CgroupDir> findCgroup(std::string_view procSelfCgroup, std::string_view mountinfo,
                                    bool v2, std::string_view controller) {
  // /proc/self/cgroup: "hierarchy-id:controllers:path" per line.
  std::optional<std::string_view> path;
  forEachLine(procSelfCgroup, [&](std::string_view line) {
    size_t first = line.find(':');
    if (path || first == std::string_view::npos) return;
    size_t second = line.find(':', first + 1);
    if (second == std::string_view::npos) return;
    std::string_view id = line.substr(0, first);
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    bool match = v2 ? (id == "0" && controllers.empty()) : hasToken(controllers, controller);
    if (match) path = trim(line.substr(second + 1));
  });
  if (!path || !path->starts_with('/')) return std::nullopt;

  // /proc/self/mountinfo: "id parent dev root mountpoint opts [optional...] - type source super".
  std::optional<CgroupDir> found;
  forEachLine(mountinfo, [&](std::string_view line) {
    if (found) return;
    auto parts = fields(line);
    auto dash = std::find(parts.begin(), parts.end(), std::string_view("-"));
    if (dash == parts.end() || dash - parts.begin() < 5 || parts.end() - dash < 4) return;
    std::string_view type = dash[1];
    std::string_view superOptions = dash[3];
    bool match = v2 ? type == "cgroup2" : (type == "cgroup" && hasToken(superOptions, controller));
    if (!match) return;
    std::string_view root = parts[3];
    std::string_view relative = *path;
    if (root != "/") {
      // A bind mount of a sub-tree: our path is below its root, or we cannot place it.
      if (relative.starts_with(root) &&
          (relative.size() == root.size() || relative[root.size()] == '/')) {
        relative.remove_prefix(root.size());
      } else {
        relative = "/";
      }
    }
    CgroupDir dir{std::string(parts[4]), std::string(parts[4])};
    if (relative != "/" && !relative.empty()) dir.dir += relative;
    while (dir.dir.size() > dir.mountPoint.size() && dir.dir.back() == '/')
      dir.dir.pop_back();
    found = std::move(dir);
  });
  return found;
}

std::optional<unsigned> parseCgroupCpuMax(std::string_view cpuMax) {
  auto parts = fields(trim(cpuMax));
  if (parts.size() != 2) return std::nullopt;
  auto period = parseUnsigned(parts[1]);
  if (!period || *period == 0) return std::nullopt;
  if (parts[0] == "max") return 0U;
  auto quota = parseUnsigned(parts[0]);
  if (!quota) return std::nullopt;
  return wholeCpus(*quota, *period);
}

std::optional<unsigned> parseCgroupCfsQuota(std::string_view quota, std::string_view period) {
  quota = trim(quota);
  if (quota.starts_with('-')) return 0U;  // -1: no quota
  auto parsedQuota = parseUnsigned(quota);
  auto parsedPeriod = parseUnsigned(period);
  if (!parsedQuota || !parsedPeriod) return std::nullopt;
  return wholeCpus(*parsedQuota, *parsedPeriod);
}

unsigned countCpus() {
  unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0) {
    cpus = static_cast<unsigned>(CPU_COUNT(&allowed));
  }
  auto cgroups = readFile("/proc/self/cgroup");
  auto mountinfo = readFile("/proc/self/mountinfo");
  if (!cgroups || !mountinfo) return cpus;
  for (bool v2 : {true, false}) {
    auto cgroup = findCgroup(*cgroups, *mountinfo, v2, "cpu");
    if (!cgroup) continue;
    forEachLevel(*cgroup, [&](const std::string& dir) {
      std::optional<unsigned> quota;
      if (v2) {
        if (auto text = readFile(dir + "/cpu.max")) quota = parseCgroupCpuMax(*text);
      } else {
        auto q = readFile(dir + "/cpu.cfs_quota_us");
        auto p = readFile(dir + "/cpu.cfs_period_us");
        if (q && p) quota = parseCgroupCfsQuota(*q, *p);
      }
      if (quota && *quota > 0) cpus = std::min(cpus, *quota);
    });
    // No break: on a hybrid host the v2 tree may exist while the quota
    // lives in v1's cpu controller; whichever holds one applies.
  }
  return std::max(1u, cpus);
}

std::string formatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes) / 1024.0;
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.1f %s", value, kUnits[unit]);
  return buffer;
}

HostLimits readHostLimits() {
  HostLimits host;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    host.fdSoft = fromRlim(limit.rlim_cur);
    host.fdHard = fromRlim(limit.rlim_max);
  }
  host.cpuCount = countCpus();

  if (auto text = readFile("/proc/sys/net/ipv4/ip_local_port_range")) {
    host.ephemeralPorts = parsePortRange(*text);
  }
  host.somaxconn = readUnsigned("/proc/sys/net/core/somaxconn");
  host.tcpMaxSynBacklog = readUnsigned("/proc/sys/net/ipv4/tcp_max_syn_backlog");
  host.tcpTwReuse = readUnsigned("/proc/sys/net/ipv4/tcp_tw_reuse");
  host.tcpSyncookies = readUnsigned("/proc/sys/net/ipv4/tcp_syncookies");
  if (auto text = readFile("/proc/meminfo")) host.memAvailableBytes = parseMemAvailable(*text);

  auto cgroups = readFile("/proc/self/cgroup");
  auto mountinfo = readFile("/proc/self/mountinfo");
  if (cgroups && mountinfo) {
    for (bool v2 : {true, false}) {
      auto dir = findMemoryCgroup(*cgroups, *mountinfo, v2);
      if (!dir) continue;
      readCgroupMemory(*dir, v2, host);
      if (host.cgroupMemoryMax) break;
    }
  }
  return host;
}

}  // namespace sluice::app
