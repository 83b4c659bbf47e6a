#include "app/host_limits.h"

#include <sched.h>

#include <catch2/catch.hpp>

namespace sluice::app {

TEST_CASE("ParseUnsignedTakesOneNumberWithWhitespace", "[host_limits]") {
  CHECK(parseUnsigned("4096\n") == 4096u);
  CHECK(parseUnsigned("  0 ") == 0u);
  CHECK_FALSE(parseUnsigned(""));
  CHECK_FALSE(parseUnsigned("12 13"));
  CHECK_FALSE(parseUnsigned("-1"));
  CHECK_FALSE(parseUnsigned("99999999999999999999999"));
}

TEST_CASE("ParsePortRangeReadsTheProcFormat", "[host_limits]") {
  auto range = parsePortRange("32768\t60999\n");
  REQUIRE(range);
  CHECK(range->low == 32768);
  CHECK(range->high == 60999);
  CHECK(range->size() == 28232);
  CHECK(parsePortRange("1024 65000")->size() == 63977);
  CHECK_FALSE(parsePortRange("60999 32768"));
  CHECK_FALSE(parsePortRange("1024"));
  CHECK_FALSE(parsePortRange("1024 70000"));
  CHECK_FALSE(parsePortRange("a b"));
}

TEST_CASE("ParseMemAvailableConvertsKilobytes", "[host_limits]") {
  const char* meminfo =
      "MemTotal:       32768000 kB\n"
      "MemFree:         1000000 kB\n"
      "MemAvailable:   24264700 kB\n"
      "Buffers:          100000 kB\n";
  CHECK(parseMemAvailable(meminfo) == uint64_t{24264700} * 1024);
  CHECK_FALSE(parseMemAvailable("MemTotal: 100 kB\n"));
  CHECK_FALSE(parseMemAvailable("MemAvailable: lots\n"));
}

TEST_CASE("ParseCgroupMemoryLimitKnowsMaxAndV1NoLimit", "[host_limits]") {
  auto none = parseCgroupMemoryLimit("max\n");
  REQUIRE(none);
  CHECK_FALSE(*none);
  auto v1None = parseCgroupMemoryLimit("9223372036854771712\n");
  REQUIRE(v1None);
  CHECK_FALSE(*v1None);
  auto limit = parseCgroupMemoryLimit("536870912\n");
  REQUIRE(limit);
  CHECK(*limit == uint64_t{536870912});
  CHECK_FALSE(parseCgroupMemoryLimit("garbage"));
}

TEST_CASE("FindMemoryCgroupV2JoinsMountAndPath", "[host_limits]") {
  const char* cgroup = "0::/kubepods/pod1/abc\n";
  const char* mountinfo =
      "22 1 0:21 / /proc rw,nosuid - proc proc rw\n"
      "30 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";
  auto dir = findMemoryCgroup(cgroup, mountinfo, true);
  REQUIRE(dir);
  CHECK(dir->mountPoint == "/sys/fs/cgroup");
  CHECK(dir->dir == "/sys/fs/cgroup/kubepods/pod1/abc");
  CHECK_FALSE(findMemoryCgroup(cgroup, mountinfo, false));
}

TEST_CASE("FindMemoryCgroupInANamespaceIsTheMountPoint", "[host_limits]") {
  auto dir =
      findMemoryCgroup("0::/\n", "30 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n", true);
  REQUIRE(dir);
  CHECK(dir->dir == "/sys/fs/cgroup");
}

TEST_CASE("FindMemoryCgroupV1UsesTheMemoryController", "[host_limits]") {
  const char* cgroup =
      "9:name=systemd:/\n"
      "4:memory:/process_api/abc\n"
      "0::/\n";
  const char* mountinfo =
      "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
      "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
      "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
  auto v1 = findMemoryCgroup(cgroup, mountinfo, false);
  REQUIRE(v1);
  CHECK(v1->dir == "/sys/fs/cgroup/memory/process_api/abc");
  auto v2 = findMemoryCgroup(cgroup, mountinfo, true);
  REQUIRE(v2);
  CHECK(v2->dir == "/sys/fs/cgroup/unified");
}

TEST_CASE("FindMemoryCgroupStripsABindMountedRoot", "[host_limits]") {
  auto dir =
      findMemoryCgroup("0::/docker/abc/sub\n",
                       "30 22 0:27 /docker/abc /sys/fs/cgroup ro - cgroup2 cgroup2 rw\n", true);
  REQUIRE(dir);
  CHECK(dir->dir == "/sys/fs/cgroup/sub");
}

TEST_CASE("FindCgroupV1FindsTheCpuControllerSharedWithCpuacct", "[host_limits]") {
  const char* cgroup =
      "5:cpu,cpuacct:/kubepods/pod1/abc\n"
      "4:memory:/kubepods/pod1/abc\n";
  const char* mountinfo =
      "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
      "34 30 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n";
  auto cpu = findCgroup(cgroup, mountinfo, false, "cpu");
  REQUIRE(cpu);
  CHECK(cpu->mountPoint == "/sys/fs/cgroup/cpu,cpuacct");
  CHECK(cpu->dir == "/sys/fs/cgroup/cpu,cpuacct/kubepods/pod1/abc");
}

TEST_CASE("ParseCgroupCpuQuotaRoundsUpToWholeCpus", "[host_limits]") {
  CHECK(parseCgroupCpuMax("max 100000\n") == 0U);  // no quota
  CHECK(parseCgroupCpuMax("100000 100000\n") == 1U);
  CHECK(parseCgroupCpuMax("150000 100000\n") == 2U);  // limits.cpu: 1500m
  CHECK(parseCgroupCpuMax("50000 100000") == 1U);     // half a CPU still gets a worker
  CHECK(parseCgroupCpuMax("400000 100000") == 4U);
  CHECK_FALSE(parseCgroupCpuMax("150000"));
  CHECK_FALSE(parseCgroupCpuMax("150000 0"));
  CHECK_FALSE(parseCgroupCpuMax("lots 100000"));
  CHECK(parseCgroupCfsQuota("-1\n", "100000\n") == 0U);
  CHECK(parseCgroupCfsQuota("250000\n", "100000\n") == 3U);
  CHECK_FALSE(parseCgroupCfsQuota("250000", "x"));
}

TEST_CASE("CountCpusIsWithinTheAffinityMask", "[host_limits]") {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
  const unsigned cpus = countCpus();
  CHECK(cpus >= 1);
  CHECK(cpus <= static_cast<unsigned>(CPU_COUNT(&allowed)));
}

TEST_CASE("FormatBytesPicksAUnit", "[host_limits]") {
  CHECK(formatBytes(512) == "512 B");
  CHECK(formatBytes(1536) == "1.5 KiB");
  CHECK(formatBytes(uint64_t{3} << 30) == "3.0 GiB");
}

TEST_CASE("ReadHostLimitsSeesThisHost", "[host_limits]") {
  auto host = readHostLimits();
  CHECK(host.fdSoft > 0);
  CHECK(host.fdHard >= host.fdSoft);
  CHECK(host.cpuCount >= 1);
  CHECK(host.memAvailableBytes.has_value());
}

}  // namespace sluice::app
