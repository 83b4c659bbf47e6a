// Rules between fields: each case asserts the exact "file:line:col: message".

#include "config/validate.h"

#include <catch2/catch.hpp>

#include "config/host_port.h"
#include "config/loader.h"

namespace {

const std::string kCluster =
    "clusters:\n"
    "  - name: c\n"
    "    backends:\n"
    "      - address: 127.0.0.1:9000\n";

std::string listener(const std::string& name, const std::string& address,
                     const std::string& cluster = "c") {
  return "  - name: " + name + "\n    address: " + address + "\n    cluster: " + cluster + "\n";
}

std::vector<std::string> errorsOf(const std::string& yaml) {
  auto result = sluice::config::loadString(yaml, "t.yaml");
  std::vector<std::string> lines;
  for (const auto& error : result.errors)
    lines.push_back(error.format());
  return lines;
}

using Lines = std::vector<std::string>;

sluice::config::HostPort address(const char* text) {
  return *sluice::config::parseHostPort(text).value;
}

}  // namespace

TEST_CASE("a listener's cluster must exist, with a hint for a typo", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80", "cc") + kCluster) ==
        Lines{"t.yaml:4:14: listeners[0].cluster: unknown cluster 'cc'; did you mean 'c'?"});
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80", "payments") + kCluster) ==
        Lines{"t.yaml:4:14: listeners[0].cluster: unknown cluster 'payments'"});
}

TEST_CASE("listener names are unique", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + listener("l", "127.0.0.1:81") +
                 kCluster) ==
        Lines{"t.yaml:5:11: listeners[1].name: duplicate listener name 'l' (also listeners[0])"});
}

TEST_CASE("cluster names are unique", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster + kCluster.substr(10)) ==
        Lines{"t.yaml:9:11: clusters[1].name: duplicate cluster name 'c' (also clusters[0])"});
}

TEST_CASE("two listeners may not share an address", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("a", "127.0.0.1:80") + listener("b", "127.0.0.1:80") +
                 kCluster) ==
        Lines{"t.yaml:6:14: listeners[1].address: address 127.0.0.1:80 is already used by "
              "listener 'a'"});
}

TEST_CASE("a wildcard listener overlaps every address on its port", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("a", "0.0.0.0:80") + listener("b", "10.1.2.3:80") +
                 kCluster) ==
        Lines{"t.yaml:6:14: listeners[1].address: address 10.1.2.3:80 overlaps 0.0.0.0:80 of "
              "listener 'a'"});
  CHECK(errorsOf("listeners:\n" + listener("a", "127.0.0.1:80") + listener("b", "\"[::]:80\"") +
                 kCluster) ==
        Lines{"t.yaml:6:14: listeners[1].address: address [::]:80 overlaps 127.0.0.1:80 of "
              "listener 'a'"});
}

TEST_CASE("the admin address may not equal a listener address", "[config][validate]") {
  CHECK(errorsOf("admin:\n  address: 127.0.0.1:80\nlisteners:\n" + listener("l", "127.0.0.1:80") +
                 kCluster) ==
        Lines{"t.yaml:2:12: admin.address: address 127.0.0.1:80 is already used by listener 'l'"});
}

TEST_CASE("admin.control_address may not overlap admin.address or a listener",
          "[config][validate]") {
  CHECK(errorsOf("admin:\n  address: 0.0.0.0:9901\n  control_address: 127.0.0.1:9901\n"
                 "listeners:\n" +
                 listener("l", "127.0.0.1:80") + kCluster) ==
        Lines{"t.yaml:3:20: admin.control_address: address 127.0.0.1:9901 overlaps 0.0.0.0:9901 "
              "of admin.address"});
  CHECK(errorsOf("admin:\n  control_address: 127.0.0.1:80\nlisteners:\n" +
                 listener("l", "127.0.0.1:80") + kCluster) ==
        Lines{"t.yaml:2:20: admin.control_address: address 127.0.0.1:80 is already used by "
              "listener 'l'"});
}

TEST_CASE("a listener on the default admin port is an error at the listener",
          "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "0.0.0.0:9901") + kCluster) ==
        Lines{"t.yaml:3:14: listeners[0].address: address 0.0.0.0:9901 overlaps 127.0.0.1:9901 "
              "of the admin port (the default)"});
}

TEST_CASE("two backends of a cluster may not share an address", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster +
                 "      - address: 127.0.0.1:9000\n") ==
        Lines{"t.yaml:9:18: clusters[0].backends[1].address: duplicate backend 127.0.0.1:9000 "
              "(also backends[0])"});
}

TEST_CASE("pool.min_idle may not exceed pool.max_connections", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster +
                 "    pool:\n      max_connections: 8\n      min_idle: 9\n") ==
        Lines{"t.yaml:11:17: clusters[0].pool.min_idle: 9 is greater than max_connections (8)"});
}

TEST_CASE("a pool smaller than the default min_idle says so", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster +
                 "    pool:\n      max_connections: 2\n") ==
        Lines{"t.yaml:10:24: clusters[0].pool.max_connections: 2 is less than min_idle (4, the "
              "default)"});
}

TEST_CASE("a health check timeout may not exceed its interval", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster +
                 "    health_check:\n      interval: 2s\n      timeout: 3s\n") ==
        Lines{"t.yaml:11:16: clusters[0].health_check.timeout: 3s is greater than interval (2s)"});
}

TEST_CASE("max_ejection_time may not be below ejection_time", "[config][validate]") {
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster +
                 "    outlier_detection:\n      max_ejection_time: 10s\n") ==
        Lines{"t.yaml:10:26: clusters[0].outlier_detection.max_ejection_time: 10s is less than "
              "ejection_time (30s)"});
}

TEST_CASE("a field that failed to parse is not checked again", "[config][validate]") {
  // min_idle is bad; the pool comparison must not add a second error.
  CHECK(errorsOf("listeners:\n" + listener("l", "127.0.0.1:80") + kCluster +
                 "    pool:\n      max_connections: 2\n      min_idle: x\n") ==
        Lines{"t.yaml:11:17: clusters[0].pool.min_idle: expected a whole number, got 'x'"});
  // A bad address does not also clash with the other listener.
  CHECK(errorsOf("listeners:\n" + listener("a", "127.0.0.1:80") + listener("b", "127.0.0.1:0") +
                 kCluster) ==
        Lines{"t.yaml:6:14: listeners[1].address: invalid address '127.0.0.1:0': port 0 is out "
              "of range (1..65535)"});
}

TEST_CASE("addresses overlap on the same port only", "[config][validate]") {
  using sluice::config::addressesOverlap;
  CHECK(addressesOverlap(address("127.0.0.1:80"), address("127.0.0.1:80")));
  CHECK_FALSE(addressesOverlap(address("127.0.0.1:80"), address("127.0.0.1:81")));
  CHECK(addressesOverlap(address("0.0.0.0:80"), address("127.0.0.2:80")));
  CHECK_FALSE(addressesOverlap(address("0.0.0.0:80"), address("[::1]:80")));
  CHECK(addressesOverlap(address("[::]:80"), address("127.0.0.1:80")));
  CHECK_FALSE(addressesOverlap(address("127.0.0.1:80"), address("127.0.0.2:80")));
}

TEST_CASE("proxy_protocol_trusted takes networks and needs proxy_protocol", "[config][validate]") {
  const std::string head = "listeners:\n" + listener("l", "127.0.0.1:80");
  CHECK(errorsOf(head +
                 "    proxy_protocol: true\n    proxy_protocol_trusted: [10.0.0.0/8, ::1]\n" +
                 kCluster)
            .empty());
  CHECK(errorsOf(head + "    proxy_protocol: true\n    proxy_protocol_trusted: [10.0.0.0/33]\n" +
                 kCluster) == Lines{"t.yaml:6:30: listeners[0].proxy_protocol_trusted[0]: invalid "
                                    "prefix length in '10.0.0.0/33': expected 0..32"});
  CHECK(errorsOf(head + "    proxy_protocol: true\n    proxy_protocol_trusted: [10.0.0.1/8]\n" +
                 kCluster) ==
        Lines{"t.yaml:6:30: listeners[0].proxy_protocol_trusted[0]: invalid network "
              "'10.0.0.1/8': address bits set past /8; did you mean '10.0.0.0/8'?"});
  CHECK(errorsOf(head + "    proxy_protocol: true\n    proxy_protocol_trusted: [lb.internal]\n" +
                 kCluster) ==
        Lines{"t.yaml:6:30: listeners[0].proxy_protocol_trusted[0]: invalid network "
              "'lb.internal': expected an IP address or CIDR, e.g. 10.0.0.0/8 or fd00::/8"});
  CHECK(errorsOf(head + "    proxy_protocol_trusted: [10.0.0.0/8]\n" + kCluster) ==
        Lines{"t.yaml:5:29: listeners[0].proxy_protocol_trusted: has no effect without "
              "proxy_protocol: true"});
}

// Every check is a hash lookup per listener: 20,000 of them validate at once
// (they took seconds each way when every pair was compared).
TEST_CASE("twenty thousand listeners validate, clashes found", "[config][validate]") {
  constexpr int kListeners = 20000;
  std::string yaml = "listeners:\n";
  yaml.reserve(kListeners * 80);
  for (int i = 0; i < kListeners; ++i) {
    const std::string host = "10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1";
    yaml += listener("l" + std::to_string(i), host + ":" + std::to_string(1000 + i % 7));
  }
  // One duplicate name, one taken address, one overlap with a wildcard.
  yaml += listener("l17", "10.200.0.1:80");
  yaml += listener("x1", "10.0.3.1:1003");
  yaml += listener("x2", "0.0.0.0:1004");
  yaml += kCluster;
  const auto errors = errorsOf(yaml);
  REQUIRE(errors.size() == 3);
  CHECK(
      errors[0].ends_with("listeners[20000].name: duplicate listener name 'l17' (also "
                          "listeners[17])"));
  CHECK(
      errors[1].ends_with("listeners[20001].address: address 10.0.3.1:1003 is already used by "
                          "listener 'l3'"));
  CHECK(
      errors[2].ends_with("listeners[20002].address: address 0.0.0.0:1004 overlaps "
                          "10.0.4.1:1004 of listener 'l4'"));
}
