#include "process/access_log.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <string>

using sluice::process::AccessLog;
using sluice::process::AccessRecord;

namespace {

std::string tempPath(const char* name) {
  return "/tmp/sluice-access-log-test-" + std::to_string(::getpid()) + "-" + name;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

AccessRecord sample() {
  AccessRecord r;
  r.start = std::chrono::system_clock::time_point(std::chrono::milliseconds(1795305541123));
  r.client = "127.0.0.1:50000";
  r.listener = "web";
  r.backend = "127.0.0.1:9000";
  r.bytesIn = 12;
  r.bytesOut = 34;
  r.duration = 0.25;
  r.connect = 0.001;
  return r;
}

}  // namespace

TEST_CASE("Rfc3339TimeIsUtcWithMilliseconds", "[access_log]") {
  using namespace std::chrono;
  REQUIRE(sluice::process::rfc3339Ms(system_clock::time_point(milliseconds(1795305541123))) ==
          "2026-11-21T23:59:01.123Z");
  REQUIRE(sluice::process::rfc3339Ms(system_clock::time_point(milliseconds(5))) ==
          "1970-01-01T00:00:00.005Z");
}

TEST_CASE("AccessRecordFormatsAsOneJsonObject", "[access_log]") {
  auto r = sample();
  const std::string line = sluice::process::formatAccessRecord(r);
  REQUIRE(line ==
          R"({"time":"2026-11-21T23:59:01.123Z","kind":"tcp","client":"127.0.0.1:50000",)"
          R"("listener":"web","backend":"127.0.0.1:9000","bytes_in":12,"bytes_out":34,)"
          R"("duration_s":0.25,"connect_s":0.001,"termination":"--","reason":"completed"})");
  r.backend.clear();
  r.kind = "http";
  r.status = 503;
  r.method = "GET";
  r.path = "/a\"b";
  const std::string http = sluice::process::formatAccessRecord(r);
  REQUIRE(http.find(R"("backend":null)") != std::string::npos);
  REQUIRE(http.find(R"("status":503,"method":"GET","path":"/a\"b")") != std::string::npos);
}

TEST_CASE("AccessLogWritesLinesAndReopensAfterRename", "[access_log]") {
  const std::string path = tempPath("reopen");
  const std::string rotated = path + ".1";
  std::remove(path.c_str());
  std::remove(rotated.c_str());
  {
    AccessLog log(2);
    REQUIRE_FALSE(log.enabled());
    log.configure(path);
    REQUIRE(log.enabled());
    log.write(0, sample());
    log.write(1, sample());
    log.flush();
    REQUIRE(log.written() == 2);
    REQUIRE(std::rename(path.c_str(), rotated.c_str()) == 0);
    log.reopen();
    log.write(0, sample());
    log.flush();
    REQUIRE(log.written() == 3);
  }
  auto lines = [](const std::string& text) { return std::count(text.begin(), text.end(), '\n'); };
  REQUIRE(lines(readFile(rotated)) == 2);
  REQUIRE(lines(readFile(path)) == 1);
  std::remove(path.c_str());
  std::remove(rotated.c_str());
}

TEST_CASE("AccessLogUnwritablePathDropsAndCounts", "[access_log]") {
  AccessLog log(1);
  log.configure("/proc/nonexistent/access.log");
  log.write(0, sample());
  log.flush();
  REQUIRE(log.written() == 0);
  REQUIRE(log.dropped() == 1);
  REQUIRE(log.writeErrors() >= 1);
}

TEST_CASE("AccessLogOffWritesNothing", "[access_log]") {
  AccessLog log(1);
  log.configure("off");
  log.write(0, sample());
  log.flush();
  REQUIRE(log.written() == 0);
  REQUIRE(log.dropped() == 0);
}
