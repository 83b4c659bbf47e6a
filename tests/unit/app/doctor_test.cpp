#include "app/doctor.h"

#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <string>

#include "app/doctor_checks.h"
#include "app/host_limits.h"
#include "net/listen_backlog.h"

namespace sluice::app {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;
constexpr uint64_t kGiB = 1024 * kMiB;

config::Listener makeListener(std::string name, uint16_t port, uint32_t maxConnections,
                              uint64_t bufferBytes) {
  config::Listener listener;
  listener.name = std::move(name);
  listener.address = {"0.0.0.0", port, false};
  listener.protocol = config::Protocol::Tcp;
  listener.cluster = "backend";
  listener.maxConnections = maxConnections;
  listener.maxConnectionsPerIp = 0;
  listener.proxyProtocol = false;
  listener.proxyProtocolTimeout = 5s;
  listener.bufferBytes = bufferBytes;
  listener.timeouts = {60s, 10s, 60s, 10s};
  listener.http = {64 * kKiB, 0, 100, 64 * kKiB, config::ForwardedHeaders::Replace, {"websocket"}};
  return listener;
}

config::Cluster makeCluster(std::string name, std::vector<std::string> hosts, uint16_t port,
                            uint32_t poolMax) {
  config::Cluster cluster;
  cluster.name = std::move(name);
  for (auto& host : hosts)
    cluster.backends.push_back({{std::move(host), port, false}, 1});
  cluster.resolveInterval = 30s;
  cluster.balance = config::Balance::RoundRobin;
  cluster.sendProxyProtocol = config::ProxyProtocolVersion::Off;
  cluster.pool = {poolMax, 4, 4s, 10min, 10000, 10000, 5s};
  cluster.timeouts = {2s, 60s};
  cluster.retries = {2};
  cluster.healthCheck = std::nullopt;
  cluster.outlierDetection = std::nullopt;
  return cluster;
}

// 1000 downstream, 2 backends x 50 upstream, 2 workers, 16 KiB buffers.
config::Config makeConfig() {
  config::Config config;
  config.sourcePath = "test.yaml";
  config.workers = 2;
  config.drainDelay = 0s;
  config.drainTimeout = 30s;
  config.admin.address = {"127.0.0.1", 9901, false};
  config.limits.maxConnections = 1000;
  config.log = {config::LogLevel::Info, "off"};
  config.dns.resolvers = {};
  config.listeners.push_back(makeListener("web", 8080, 1000, 16 * kKiB));
  config.clusters.push_back(makeCluster("backend", {"10.0.0.1", "10.0.0.2"}, 9000, 50));
  return config;
}

// A host with room for everything makeConfig() asks for.
HostLimits roomyHost() {
  HostLimits host;
  host.fdSoft = 1048576;
  host.fdHard = 1048576;
  host.cpuCount = 8;
  host.ephemeralPorts = PortRange{32768, 60999};
  host.somaxconn = 4096;
  host.tcpMaxSynBacklog = 4096;
  host.tcpTwReuse = 2;
  host.tcpSyncookies = 1;
  host.memAvailableBytes = 8 * kGiB;
  return host;
}

// By value: tests call it on temporary reports.
DoctorFinding find(const DoctorReport& report, const std::string& name) {
  for (const auto& finding : report.findings) {
    if (finding.check.name == name) return finding;
  }
  FAIL("no check named " << name);
  return report.findings.front();
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("NeedsAddDownstreamUpstreamListenersAndSpare", "[doctor]") {
  auto needs = computeNeeds(makeConfig(), 8);
  CHECK(needs.workers == 2);
  CHECK(needs.downstream == 1000);
  CHECK(needs.upstream == 100);
  CHECK(needs.listeningSockets == 2);
  CHECK(needs.spareFds == kSpareFds);
  CHECK(needs.fds() == 1000 + 100 + 2 + 64);
  CHECK(needs.busiestBackendConns == 50);
  CHECK(needs.bufferBytes == 1000 * 2 * 16 * kKiB);
}

TEST_CASE("DownstreamCapIsTheSmallerOfGlobalAndListenerSum", "[doctor]") {
  auto config = makeConfig();
  config.listeners.push_back(makeListener("other", 8081, 3000, 16 * kKiB));
  config.limits.maxConnections = 100000;
  CHECK(computeNeeds(config, 1).downstream == 4000);
  config.limits.maxConnections = 2500;
  CHECK(computeNeeds(config, 1).downstream == 2500);
}

TEST_CASE("AutoWorkersUseTheCpuCount", "[doctor]") {
  auto config = makeConfig();
  config.workers = 0;
  config.listeners.push_back(makeListener("other", 8081, 10, 16 * kKiB));
  auto needs = computeNeeds(config, 6);
  CHECK(needs.workers == 6);
  CHECK(needs.listeningSockets == 12);
  CHECK(computeNeeds(config, 0).workers == 1);
}

TEST_CASE("SharedBackendAddressAddsUpAcrossClusters", "[doctor]") {
  auto config = makeConfig();
  config.clusters.push_back(makeCluster("again", {"10.0.0.2"}, 9000, 70));
  config.clusters.push_back(makeCluster("v6", {"::1"}, 9000, 10));
  auto needs = computeNeeds(config, 1);
  CHECK(needs.upstream == 50 + 50 + 70 + 10);
  CHECK(needs.busiestBackend == "10.0.0.2:9000");
  CHECK(needs.busiestBackendConns == 120);
}

TEST_CASE("MemoryEstimateFillsTheBiggestBuffersFirst", "[doctor]") {
  auto config = makeConfig();
  config.listeners.clear();
  config.listeners.push_back(makeListener("small", 8080, 1000, 4 * kKiB));
  config.listeners.push_back(makeListener("big", 8081, 300, 64 * kKiB));
  config.limits.maxConnections = 500;
  // 300 on the big listener, the other 200 on the small one.
  CHECK(computeNeeds(config, 1).bufferBytes == 300 * 2 * 64 * kKiB + 200 * 2 * 4 * kKiB);
}

TEST_CASE("RoomyHostPassesEveryCheck", "[doctor]") {
  auto report = evaluateHost(makeConfig(), roomyHost());
  REQUIRE(report.findings.size() == 5);
  for (const auto& finding : report.findings) {
    INFO(finding.check.name);
    CHECK(finding.check.status == CheckStatus::Ok);
    CHECK(finding.check.fix.empty());
  }
  CHECK(report.exitCode() == 0);
  CHECK(contains(report.summary, "summary: ok, all 5 checks pass"));
  CHECK(report.header == "config test.yaml: 2 workers, 1 listener, 1 cluster, 2 backends");
}

TEST_CASE("FdNeedAboveHardLimitFails", "[doctor]") {
  auto host = roomyHost();
  host.fdSoft = 256;
  host.fdHard = 256;
  auto report = evaluateHost(makeConfig(), host);
  const auto& fds = find(report, "open files");
  CHECK(fds.check.status == CheckStatus::Fail);
  CHECK(fds.check.found == "256");
  CHECK(fds.check.needed == "1166");
  CHECK(contains(fds.check.fix, "ulimit -n 1166"));
  CHECK(contains(fds.check.fix, "LimitNOFILE=1166"));
  CHECK(report.exitCode() == 1);
  // 256 - (2 listening + 64 spare) = 190 fds: 95 downstream, each with an upstream.
  CHECK(contains(report.summary, "first to break: open files"));
  CHECK(contains(report.summary, "EMFILE"));
  CHECK(contains(report.summary, "~95 downstream"));
  // 1000 - 66 = 934 fds: 100 upstream (all caps reached) + 834 downstream.
  host.fdSoft = host.fdHard = 1000;
  CHECK(contains(evaluateHost(makeConfig(), host).summary, "~834 downstream"));
}

TEST_CASE("FdNeedAboveSoftOnlyWarnsBecauseSluiceRaisesIt", "[doctor]") {
  auto host = roomyHost();
  host.fdSoft = 1024;
  host.fdHard = 4096;
  auto report = evaluateHost(makeConfig(), host);
  const auto& fds = find(report, "open files");
  CHECK(fds.check.status == CheckStatus::Warn);
  CHECK(fds.check.found == "1024 (hard 4096)");
  CHECK(contains(fds.check.fix, "ulimit -n 1166"));
  CHECK(contains(fds.note, "raises the soft limit to the hard limit (4096)"));
  CHECK(report.exitCode() == 0);
  CHECK(contains(report.summary, "summary: WARN"));
}

TEST_CASE("UnlimitedFdLimitIsOk", "[doctor]") {
  auto host = roomyHost();
  host.fdSoft = kUnlimited;
  host.fdHard = kUnlimited;
  const auto& fds = find(evaluateHost(makeConfig(), host), "open files");
  CHECK(fds.check.status == CheckStatus::Ok);
  CHECK(fds.check.found == "unlimited");
}

TEST_CASE("PortsWarnAboveHalfTheRangeAndFailAboveIt", "[doctor]") {
  auto config = makeConfig();
  auto host = roomyHost();
  host.ephemeralPorts = PortRange{60000, 60099};  // 100 ports

  config.clusters[0].pool.maxConnections = 50;
  CHECK(find(evaluateHost(config, host), "ephemeral ports").check.status == CheckStatus::Ok);

  config.clusters[0].pool.maxConnections = 51;
  const auto warn = find(evaluateHost(config, host), "ephemeral ports");
  CHECK(warn.check.status == CheckStatus::Warn);
  CHECK(warn.check.found == "100 (60000-60099)");
  CHECK(warn.check.needed == "51");
  CHECK(contains(warn.check.fix, "sysctl -w net.ipv4.ip_local_port_range=\"1024 65000\""));
  CHECK(contains(warn.check.fix, "sysctl -w net.ipv4.tcp_tw_reuse=1"));
  CHECK(contains(warn.note, "TIME_WAIT"));

  config.clusters[0].pool.maxConnections = 101;
  auto report = evaluateHost(config, host);
  CHECK(find(report, "ephemeral ports").check.status == CheckStatus::Fail);
  CHECK(contains(report.summary, "first to break: ephemeral ports"));
  CHECK(contains(report.summary, "EADDRNOTAVAIL"));
}

TEST_CASE("PortFixLeavesOutWhatIsAlreadySet", "[doctor]") {
  auto config = makeConfig();
  config.clusters[0].pool.maxConnections = 40000;
  config.limits.maxConnections = 10;
  auto host = roomyHost();
  host.ephemeralPorts = PortRange{1024, 65000};
  host.tcpTwReuse = 1;
  const auto& ports = find(evaluateHost(config, host), "ephemeral ports");
  CHECK(ports.check.status == CheckStatus::Warn);
  CHECK_FALSE(contains(ports.check.fix, "ip_local_port_range"));
  CHECK_FALSE(contains(ports.check.fix, "tcp_tw_reuse"));
  CHECK(contains(ports.check.fix, "more backend addresses"));
}

TEST_CASE("NoBackendsNeedNoPorts", "[doctor]") {
  auto config = makeConfig();
  config.clusters.clear();
  const auto& ports = find(evaluateHost(config, roomyHost()), "ephemeral ports");
  CHECK(ports.check.status == CheckStatus::Ok);
  CHECK(ports.check.needed == "0");
}

TEST_CASE("SmallSomaxconnWarnsWithSysctl", "[doctor]") {
  auto host = roomyHost();
  host.somaxconn = 128;
  auto report = evaluateHost(makeConfig(), host);
  const auto& backlog = find(report, "listen backlog (somaxconn)");
  CHECK(backlog.check.status == CheckStatus::Warn);
  CHECK(backlog.check.found == "128");
  CHECK(backlog.check.needed == std::to_string(net::kListenBacklog));
  CHECK(backlog.check.fix == "sysctl -w net.core.somaxconn=4096");
  CHECK(report.exitCode() == 0);
}

TEST_CASE("SmallSynBacklogWarnsOnlyWithoutSynCookies", "[doctor]") {
  auto host = roomyHost();
  host.tcpMaxSynBacklog = 512;
  CHECK(find(evaluateHost(makeConfig(), host), "syn backlog").check.status == CheckStatus::Ok);
  host.tcpSyncookies = 0;
  const auto& syn = find(evaluateHost(makeConfig(), host), "syn backlog");
  CHECK(syn.check.status == CheckStatus::Warn);
  CHECK(contains(syn.check.fix, "sysctl -w net.ipv4.tcp_max_syn_backlog=4096"));
}

TEST_CASE("MemoryWarnsWhenBuffersExceedAvailable", "[doctor]") {
  auto host = roomyHost();
  host.memAvailableBytes = 16 * kMiB;  // the config needs 1000 x 32 KiB = 31.25 MiB
  auto report = evaluateHost(makeConfig(), host);
  const auto& memory = find(report, "memory");
  CHECK(memory.check.status == CheckStatus::Warn);
  CHECK(memory.check.needed == "31.2 MiB");
  CHECK(contains(memory.check.found, "16.0 MiB available (MemAvailable)"));
  // 16 MiB / 32 KiB per connection = 512.
  CHECK(contains(memory.check.fix, "set limits.max_connections: 512"));
  CHECK(report.exitCode() == 0);
}

TEST_CASE("CgroupLimitBelowMemAvailableWins", "[doctor]") {
  auto host = roomyHost();
  host.cgroupMemoryMax = 40 * kMiB;
  host.cgroupMemoryUsed = 20 * kMiB;
  const auto& memory = find(evaluateHost(makeConfig(), host), "memory");
  CHECK(memory.check.status == CheckStatus::Warn);
  CHECK(contains(memory.check.found, "20.0 MiB available (cgroup memory.max 40.0 MiB"));
}

TEST_CASE("UnreadableHostFactsWarnAsUnknown", "[doctor]") {
  auto host = roomyHost();
  host.ephemeralPorts.reset();
  host.somaxconn.reset();
  host.memAvailableBytes.reset();
  auto report = evaluateHost(makeConfig(), host);
  CHECK(find(report, "ephemeral ports").check.found == "unknown");
  CHECK(find(report, "ephemeral ports").check.status == CheckStatus::Warn);
  CHECK(find(report, "listen backlog (somaxconn)").check.found == "unknown");
  CHECK(find(report, "memory").check.found == "unknown");
  CHECK(report.exitCode() == 0);
}

TEST_CASE("SummaryNamesTheFailureWithLeastHeadroomFirst", "[doctor]") {
  auto config = makeConfig();
  auto host = roomyHost();
  host.fdSoft = host.fdHard = 1000;        // needs 1166: 86% of it
  host.ephemeralPorts = PortRange{1, 40};  // needs 50: 80% of it
  host.somaxconn = 16;                     // only a warning
  auto report = evaluateHost(config, host);
  CHECK(contains(report.summary, "summary: FAIL (2 checks fail, 1 warning)"));
  CHECK(contains(report.summary, "first to break: ephemeral ports"));
}

TEST_CASE("ReportPrintsOneLinePerCheckWithFixesUnderProblems", "[doctor]") {
  auto host = roomyHost();
  host.fdSoft = host.fdHard = 256;
  std::string text = formatReport(evaluateHost(makeConfig(), host));
  CHECK(contains(text,
                 "fail  open files: found 256, needs 1166 (1000 downstream + 100 upstream + "
                 "2 listening sockets + 64 spare)\n"
                 "      fix: ulimit -n 1166\n"
                 "      fix: LimitNOFILE=1166 in the systemd unit ([Service] section)\n"));
  CHECK(contains(text,
                 "ok    ephemeral ports: found 28232 (32768-60999), needs 50 "
                 "(connections to 10.0.0.1:9000)\n"));
  CHECK(contains(text, "\nsummary: FAIL"));
}

TEST_CASE("RaiseFdLimitLiftsSoftToHard", "[doctor]") {
  rlimit before{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &before) == 0);
  unsigned long raised = raiseFdLimit();
  rlimit after{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &after) == 0);
  // An infinite hard limit is capped by fs.nr_open instead.
  CHECK((after.rlim_cur == after.rlim_max || after.rlim_max == RLIM_INFINITY));
  CHECK(raised == static_cast<unsigned long>(after.rlim_cur));
  REQUIRE(setrlimit(RLIMIT_NOFILE, &before) == 0);
}

TEST_CASE("RunDoctorChecksReadsThisHost", "[doctor]") {
  auto checks = runDoctorChecks(makeConfig());
  REQUIRE(checks.size() == 5);
  CHECK(checks[0].name == "open files");
  CHECK(checks[0].needed == "1166");
}

}  // namespace sluice::app
