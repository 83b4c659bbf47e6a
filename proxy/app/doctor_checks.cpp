#include "app/doctor_checks.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <string_view>

#include "net/listen_backlog.h"

namespace sluice::app {
namespace {

constexpr double kPlenty = std::numeric_limits<double>::infinity();

uint64_t saturatingMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > UINT64_MAX / a) return UINT64_MAX;
  return a * b;
}

uint64_t saturatingSub(uint64_t a, uint64_t b) {
  return a > b ? a - b : 0;
}

double ratio(uint64_t have, uint64_t need) {
  if (need == 0 || have == kUnlimited) return kPlenty;
  return static_cast<double>(have) / static_cast<double>(need);
}

std::string num(uint64_t value) {
  return value == kUnlimited ? "unlimited" : std::to_string(value);
}

std::string plural(uint64_t count, std::string_view one, std::string_view many) {
  return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

// "10.0.0.1:5432", "[::1]:80", "db:5432" (without relying on the loader's code).
std::string addressKey(const config::HostPort& address) {
  bool v6 = address.host.find(':') != std::string::npos;
  return (v6 ? "[" + address.host + "]" : address.host) + ":" + std::to_string(address.port);
}

std::string joinLines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += '\n';
    out += line;
  }
  return out;
}

DoctorFinding unknown(std::string name, std::string needed, const char* source) {
  DoctorFinding finding;
  finding.check = {std::move(name), CheckStatus::Warn, "unknown", std::move(needed),
                   std::string("cat ") + source};
  finding.note = std::string("could not read ") + source + "; check it by hand";
  finding.breaks = "unknown (could not read " + std::string(source) + ")";
  finding.headroom = kPlenty;
  return finding;
}

DoctorFinding checkOpenFiles(const ConfigNeeds& needs, const HostLimits& host) {
  const uint64_t need = needs.fds();
  const std::string needText = std::to_string(need);
  DoctorFinding finding;
  finding.check.name = "open files";
  finding.check.found = num(host.fdSoft);
  if (host.fdHard != host.fdSoft) finding.check.found += " (hard " + num(host.fdHard) + ")";
  finding.check.needed = needText;
  finding.detail = std::to_string(needs.downstream) + " downstream + " +
                   std::to_string(needs.upstream) + " upstream + " +
                   std::to_string(needs.listeningSockets) + " listening sockets + " +
                   std::to_string(needs.spareFds) + " spare";
  finding.headroom = ratio(host.fdHard, need);
  // Downstream connections that fit under `limit` when each may bring one
  // upstream connection along, until the upstream caps are reached.
  auto downstreamFitting = [&needs](uint64_t limit) {
    uint64_t left = saturatingSub(limit, needs.listeningSockets + needs.spareFds);
    return left <= 2 * needs.upstream ? left / 2 : left - needs.upstream;
  };

  if (host.fdHard != kUnlimited && need > host.fdHard) {
    finding.check.status = CheckStatus::Fail;
    finding.check.fix = joinLines({
        "ulimit -n " + needText,
        "LimitNOFILE=" + needText + " in the systemd unit ([Service] section)",
    });
    finding.note = "the hard limit " + num(host.fdHard) +
                   " caps what sluice can raise the soft limit to; raising it needs root "
                   "(containers: docker run --ulimit nofile=" +
                   needText + ":" + needText + ")";
    finding.breaks = "accept() fails with EMFILE (too many open files) at ~" +
                     std::to_string(downstreamFitting(host.fdHard)) +
                     " downstream connections (the config allows " +
                     std::to_string(needs.downstream) + ")";
  } else if (host.fdSoft != kUnlimited && need > host.fdSoft) {
    finding.check.status = CheckStatus::Warn;
    finding.check.fix = joinLines({
        "ulimit -n " + needText,
        "LimitNOFILE=" + needText + " in the systemd unit ([Service] section)",
    });
    finding.note = "sluice raises the soft limit to the hard limit (" + num(host.fdHard) +
                   ") at start, so `sluice run` has enough; other tools started here do not";
    finding.breaks = "EMFILE at ~" + std::to_string(downstreamFitting(host.fdSoft)) +
                     " downstream connections if the soft limit stays at " + num(host.fdSoft);
  } else {
    finding.check.status = CheckStatus::Ok;
  }
  return finding;
}

DoctorFinding checkEphemeralPorts(const ConfigNeeds& needs, const HostLimits& host) {
  constexpr const char* kSource = "/proc/sys/net/ipv4/ip_local_port_range";
  const uint64_t need = needs.busiestBackendConns;
  if (!host.ephemeralPorts) return unknown("ephemeral ports", std::to_string(need), kSource);
  const PortRange range = *host.ephemeralPorts;
  DoctorFinding finding;
  finding.check.name = "ephemeral ports";
  finding.check.found = std::to_string(range.size()) + " (" + std::to_string(range.low) + "-" +
                        std::to_string(range.high) + ")";
  finding.check.needed = std::to_string(need);
  finding.detail = need == 0 ? "no backends" : "connections to " + needs.busiestBackend;
  finding.headroom = ratio(range.size(), need);

  if (need > range.size()) {
    finding.check.status = CheckStatus::Fail;
  } else if (static_cast<double>(need) > kPortRangeWarnShare * range.size()) {
    finding.check.status = CheckStatus::Warn;
  } else {
    finding.check.status = CheckStatus::Ok;
    return finding;
  }

  std::vector<std::string> fixes;
  if (range.size() < kWidePortRange.size()) {
    fixes.push_back("sysctl -w net.ipv4.ip_local_port_range=\"" +
                    std::to_string(kWidePortRange.low) + " " + std::to_string(kWidePortRange.high) +
                    "\"");
  }
  if (host.tcpTwReuse.value_or(0) != 1) fixes.push_back("sysctl -w net.ipv4.tcp_tw_reuse=1");
  if (need > kWidePortRange.size() / 2) {
    fixes.push_back("lower pool.max_connections, or spread the load over more backend addresses");
  }
  finding.check.fix = joinLines(fixes);
  finding.note =
      "each connection to one backend address:port needs its own local port, and a closed one "
      "keeps it for 60s in TIME_WAIT; tcp_tw_reuse=1 lets new connections reuse those (it is " +
      (host.tcpTwReuse ? std::to_string(*host.tcpTwReuse) : std::string("unknown")) + " here)";
  finding.breaks = "connect() to " + needs.busiestBackend + " fails with EADDRNOTAVAIL at ~" +
                   std::to_string(range.size()) + " connections (the config allows " +
                   std::to_string(need) + ")";
  return finding;
}

DoctorFinding checkListenBacklog(const HostLimits& host) {
  constexpr const char* kSource = "/proc/sys/net/core/somaxconn";
  const uint64_t need = net::kListenBacklog;
  if (!host.somaxconn) return unknown("listen backlog (somaxconn)", std::to_string(need), kSource);
  DoctorFinding finding;
  finding.check.name = "listen backlog (somaxconn)";
  finding.check.found = std::to_string(*host.somaxconn);
  finding.check.needed = std::to_string(need);
  finding.detail = "sluice's listen() backlog";
  finding.headroom = ratio(*host.somaxconn, need);
  if (*host.somaxconn >= need) {
    finding.check.status = CheckStatus::Ok;
    return finding;
  }
  finding.check.status = CheckStatus::Warn;
  finding.check.fix = "sysctl -w net.core.somaxconn=" + std::to_string(need);
  finding.note = "the kernel silently caps every listen() backlog at somaxconn";
  finding.breaks = "bursts of more than " + std::to_string(*host.somaxconn) +
                   " connections waiting for accept() get their SYNs dropped (1s+ retries)";
  return finding;
}

DoctorFinding checkSynBacklog(const HostLimits& host) {
  constexpr const char* kSource = "/proc/sys/net/ipv4/tcp_max_syn_backlog";
  const uint64_t need = net::kListenBacklog;
  if (!host.tcpMaxSynBacklog) return unknown("syn backlog", std::to_string(need), kSource);
  const bool cookies = host.tcpSyncookies.value_or(0) != 0;
  DoctorFinding finding;
  finding.check.name = "syn backlog";
  finding.check.found = std::to_string(*host.tcpMaxSynBacklog);
  finding.check.needed = std::to_string(need);
  finding.detail = cookies ? "half-open connections; SYN cookies cover overflow"
                           : "half-open connections; SYN cookies are off";
  finding.headroom = cookies ? kPlenty : ratio(*host.tcpMaxSynBacklog, need);
  if (*host.tcpMaxSynBacklog >= need || cookies) {
    finding.check.status = CheckStatus::Ok;
    return finding;
  }
  finding.check.status = CheckStatus::Warn;
  finding.check.fix = joinLines({"sysctl -w net.ipv4.tcp_max_syn_backlog=" + std::to_string(need),
                                 "sysctl -w net.ipv4.tcp_syncookies=1"});
  finding.note = "with SYN cookies off, half-open connections beyond this are dropped";
  finding.breaks = "SYNs are dropped beyond ~" + std::to_string(*host.tcpMaxSynBacklog) +
                   " half-open connections";
  return finding;
}

DoctorFinding checkMemory(const config::Config& config, const ConfigNeeds& needs,
                          const HostLimits& host) {
  const std::string needText = formatBytes(needs.bufferBytes);
  std::optional<uint64_t> available = host.memAvailableBytes;
  std::string source = "MemAvailable";
  if (host.cgroupMemoryMax) {
    uint64_t cgroupFree = saturatingSub(*host.cgroupMemoryMax, host.cgroupMemoryUsed.value_or(0));
    if (!available || cgroupFree < *available) {
      available = cgroupFree;
      source = "cgroup memory.max " + formatBytes(*host.cgroupMemoryMax) + " minus " +
               formatBytes(host.cgroupMemoryUsed.value_or(0)) + " used";
    }
  }
  if (!available) return unknown("memory", needText, "/proc/meminfo");

  DoctorFinding finding;
  finding.check.name = "memory";
  finding.check.found = formatBytes(*available) + " available (" + source + ")";
  finding.check.needed = needText;
  finding.detail = "worst case: " + std::to_string(needs.downstream) +
                   " connections with both direction buffers full";
  finding.headroom = ratio(*available, needs.bufferBytes);
  if (needs.bufferBytes <= *available) {
    finding.check.status = CheckStatus::Ok;
    return finding;
  }
  uint64_t biggestBuffer = 0;
  for (const auto& listener : config.listeners) {
    biggestBuffer = std::max(biggestBuffer, listener.bufferBytes);
  }
  const uint64_t perConnection = saturatingMul(2, biggestBuffer);
  const uint64_t fits = perConnection == 0 ? 0 : *available / perConnection;
  finding.check.status = CheckStatus::Warn;
  finding.check.fix = joinLines({
      "set limits.max_connections: " + std::to_string(fits) + " in the config",
      "or lower listeners[].buffer_size, or raise the memory limit (Kubernetes: "
      "resources.limits.memory)",
  });
  finding.note = "an estimate: buffers fill only when peers read slower than they send";
  finding.breaks =
      "out of memory (OOM kill) at ~" + std::to_string(fits) + " connections with full buffers";
  return finding;
}

std::string percentOf(double headroom) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.0f%%", 100.0 / headroom);
  return buffer;
}

std::string summarize(const std::vector<DoctorFinding>& findings) {
  std::vector<const DoctorFinding*> order;
  size_t failed = 0;
  size_t warned = 0;
  for (const auto& finding : findings) {
    order.push_back(&finding);
    if (finding.check.status == CheckStatus::Fail) ++failed;
    if (finding.check.status == CheckStatus::Warn) ++warned;
  }
  // Worst status first, then the least headroom.
  std::stable_sort(order.begin(), order.end(), [](const DoctorFinding* a, const DoctorFinding* b) {
    if (a->check.status != b->check.status) return a->check.status > b->check.status;
    return a->headroom < b->headroom;
  });
  if (order.empty()) return "summary: nothing to check";
  const DoctorFinding& first = *order.front();
  if (failed > 0) {
    return "summary: FAIL (" + plural(failed, "check fails", "checks fail") + ", " +
           plural(warned, "warning", "warnings") + "); first to break: " + first.check.name + ": " +
           first.breaks;
  }
  if (warned > 0) {
    return "summary: WARN (" + plural(warned, "warning", "warnings") +
           ", nothing fails); first to bite: " + first.check.name + ": " + first.breaks;
  }
  // All ok: name the tightest limit.
  const DoctorFinding* tightest = nullptr;
  for (const auto& finding : findings) {
    if (!tightest || finding.headroom < tightest->headroom) tightest = &finding;
  }
  std::string text = "summary: ok, all " + std::to_string(findings.size()) + " checks pass";
  if (tightest && tightest->headroom != kPlenty) {
    text += "; tightest: " + tightest->check.name + " (the config needs " +
            percentOf(tightest->headroom) + " of what this host allows)";
  }
  return text;
}

}  // namespace

const char* toString(CheckStatus status) {
  switch (status) {
    case CheckStatus::Ok:
      return "ok";
    case CheckStatus::Warn:
      return "warn";
    case CheckStatus::Fail:
      return "fail";
  }
  return "?";
}

ConfigNeeds computeNeeds(const config::Config& config, unsigned cpuCount) {
  ConfigNeeds needs;
  needs.workers = config.workers != 0 ? config.workers : std::max(1u, cpuCount);

  uint64_t listenerSum = 0;
  for (const auto& listener : config.listeners)
    listenerSum += listener.maxConnections;
  needs.downstream = std::min<uint64_t>(config.limits.maxConnections, listenerSum);
  needs.listeningSockets = static_cast<uint64_t>(config.listeners.size()) * needs.workers;

  // Connections to one address:port add up across clusters that share it.
  std::map<std::string, uint64_t> perAddress;
  for (const auto& cluster : config.clusters) {
    for (const auto& backend : cluster.backends) {
      needs.upstream += cluster.pool.maxConnections;
      perAddress[addressKey(backend.address)] += cluster.pool.maxConnections;
    }
  }
  for (const auto& [address, connections] : perAddress) {
    if (connections > needs.busiestBackendConns || needs.busiestBackend.empty()) {
      needs.busiestBackend = address;
      needs.busiestBackendConns = connections;
    }
  }

  // Worst case: the downstream cap filled by the listeners with the biggest buffers.
  std::vector<const config::Listener*> bySize;
  for (const auto& listener : config.listeners)
    bySize.push_back(&listener);
  std::stable_sort(bySize.begin(), bySize.end(),
                   [](const auto* a, const auto* b) { return a->bufferBytes > b->bufferBytes; });
  uint64_t left = needs.downstream;
  for (const auto* listener : bySize) {
    uint64_t take = std::min<uint64_t>(left, listener->maxConnections);
    uint64_t bytes = saturatingMul(take, saturatingMul(2, listener->bufferBytes));
    needs.bufferBytes =
        bytes > UINT64_MAX - needs.bufferBytes ? UINT64_MAX : needs.bufferBytes + bytes;
    left -= take;
  }
  return needs;
}

int DoctorReport::exitCode() const {
  for (const auto& finding : findings) {
    if (finding.check.status == CheckStatus::Fail) return 1;
  }
  return 0;
}

DoctorReport evaluateHost(const config::Config& config, const HostLimits& host) {
  const ConfigNeeds needs = computeNeeds(config, host.cpuCount);
  DoctorReport report;
  size_t backends = 0;
  for (const auto& cluster : config.clusters)
    backends += cluster.backends.size();
  report.header = "config " + (config.sourcePath.empty() ? "<string>" : config.sourcePath) + ": " +
                  plural(needs.workers, "worker", "workers") +
                  (config.workers == 0 ? " (auto)" : "") + ", " +
                  plural(config.listeners.size(), "listener", "listeners") + ", " +
                  plural(config.clusters.size(), "cluster", "clusters") + ", " +
                  plural(backends, "backend", "backends");
  report.findings.push_back(checkOpenFiles(needs, host));
  report.findings.push_back(checkEphemeralPorts(needs, host));
  report.findings.push_back(checkListenBacklog(host));
  report.findings.push_back(checkSynBacklog(host));
  report.findings.push_back(checkMemory(config, needs, host));
  report.summary = summarize(report.findings);
  return report;
}

std::string formatReport(const DoctorReport& report) {
  std::string out = report.header + "\n";
  for (const auto& finding : report.findings) {
    const DoctorCheck& check = finding.check;
    char status[8];
    std::snprintf(status, sizeof(status), "%-4s", toString(check.status));
    out += std::string(status) + "  " + check.name + ": found " + check.found + ", needs " +
           check.needed;
    if (!finding.detail.empty()) out += " (" + finding.detail + ")";
    out += '\n';
    if (check.status == CheckStatus::Ok) continue;
    std::string_view fixes = check.fix;
    while (!fixes.empty()) {
      size_t end = fixes.find('\n');
      out += "      fix: " + std::string(fixes.substr(0, end)) + "\n";
      if (end == std::string_view::npos) break;
      fixes.remove_prefix(end + 1);
    }
    if (!finding.note.empty()) out += "      note: " + finding.note + "\n";
  }
  out += report.summary + "\n";
  return out;
}

}  // namespace sluice::app
