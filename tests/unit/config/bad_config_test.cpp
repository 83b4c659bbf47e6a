// Bad configs, one behaviour each: every case asserts the exact
// "file:line:col: message" lines that `sluice check` would print.

#include <catch2/catch.hpp>

#include "config/loader.h"

namespace {

// A valid listener (lines 1-4) and cluster (the last four lines). Cases put
// their own lines between or after them, so positions are easy to read.
const std::string kListener =
    "listeners:\n"
    "  - name: l\n"
    "    address: 127.0.0.1:8080\n"
    "    cluster: c\n";
const std::string kCluster =
    "clusters:\n"
    "  - name: c\n"
    "    backends:\n"
    "      - address: 127.0.0.1:9000\n";

std::vector<std::string> errorsOf(const std::string& yaml) {
  auto result = sluice::config::loadString(yaml, "t.yaml");
  std::vector<std::string> lines;
  for (const auto& error : result.errors)
    lines.push_back(error.format());
  CHECK(result.ok() == lines.empty());
  return lines;
}

using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("the base of these cases is valid", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster).empty());
}

// --- whole-file problems ----------------------------------------------------

TEST_CASE("an empty file is an error at 1:1", "[config][bad]") {
  CHECK(errorsOf("") == Lines{"t.yaml:1:1: config is empty"});
}

TEST_CASE("a file of only comments is empty", "[config][bad]") {
  CHECK(errorsOf("# nothing\n\n   # here\n") == Lines{"t.yaml:1:1: config is empty"});
}

TEST_CASE("a YAML syntax error reports the parser's position and message", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  - name: [l\n") ==
        Lines{"t.yaml:3:1: end of sequence flow not found"});
}

TEST_CASE("a bad indentation is a syntax error", "[config][bad]") {
  CHECK(errorsOf("workers: 2\n  drain_delay: 1s\n") == Lines{"t.yaml:2:14: illegal map value"});
}

TEST_CASE("a second YAML document is rejected", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "---\nworkers: 2\n") ==
        Lines{"t.yaml:10:1: only one YAML document is allowed"});
}

TEST_CASE("the top level must be a mapping", "[config][bad]") {
  CHECK(errorsOf("- a\n- b\n") == Lines{"t.yaml:1:1: expected a mapping, got a list"});
  CHECK(errorsOf("just text\n") ==
        Lines{"t.yaml:1:1: expected a mapping, got the value 'just text'"});
}

// --- unknown and duplicate keys ---------------------------------------------

TEST_CASE("a misspelt top-level key suggests the right one", "[config][bad]") {
  CHECK(errorsOf("listener:\n  - name: l\n" + kCluster) ==
        Lines{"t.yaml:1:1: unknown key 'listener'; did you mean 'listeners'?"});
}

TEST_CASE("an unknown key with no near match lists the allowed keys", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "colour: red\n") ==
        Lines{"t.yaml:9:1: unknown key 'colour'; expected one of: workers, drain_delay, "
              "drain_timeout, admin, limits, log, dns, listeners, clusters"});
}

TEST_CASE("a misspelt listener key is an error at the key", "[config][bad]") {
  CHECK(errorsOf(kListener + "    max_conections: 10\n" + kCluster) ==
        Lines{"t.yaml:5:5: listeners[0]: unknown key 'max_conections'; did you mean "
              "'max_connections'?"});
}

TEST_CASE("a misspelt required key is reported once, as the typo", "[config][bad]") {
  CHECK(
      errorsOf("listeners:\n  - name: l\n    adress: 127.0.0.1:80\n    cluster: c\n" + kCluster) ==
      Lines{"t.yaml:3:5: listeners[0]: unknown key 'adress'; did you mean 'address'?"});
}

TEST_CASE("unknown keys are found in nested sections", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    pool:\n      min_idel: 2\n") ==
        Lines{"t.yaml:10:7: clusters[0].pool: unknown key 'min_idel'; did you mean 'min_idle'?"});
}

TEST_CASE("a duplicate key is an error at its second use", "[config][bad]") {
  CHECK(errorsOf(kListener + "    cluster: c\n" + kCluster) ==
        Lines{"t.yaml:5:5: listeners[0]: duplicate key 'cluster' (first at line 4)"});
}

TEST_CASE("a key that is not plain text is an error", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "? [a]\n: b\n") ==
        Lines{"t.yaml:9:3: keys must be plain text, got a list"});
}

// --- shapes -----------------------------------------------------------------

TEST_CASE("listeners must be a list", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  name: l\n" + kCluster) ==
        Lines{"t.yaml:2:3: listeners: expected a list, got a mapping"});
}

TEST_CASE("a listener must be a mapping", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  - web\n" + kCluster) ==
        Lines{"t.yaml:2:5: listeners[0]: expected a mapping, got the value 'web'"});
}

TEST_CASE("a section given as a value is an error", "[config][bad]") {
  CHECK(errorsOf(kListener + "    timeouts: 5s\n" + kCluster) ==
        Lines{"t.yaml:5:15: listeners[0].timeouts: expected a mapping, got the value '5s'"});
}

TEST_CASE("a value given as a list is an error", "[config][bad]") {
  CHECK(errorsOf(kListener + "    protocol: [tcp]\n" + kCluster) ==
        Lines{"t.yaml:5:15: listeners[0].protocol: expected a value, got a list"});
}

TEST_CASE("an empty value points at its key", "[config][bad]") {
  CHECK(
      errorsOf("listeners:\n  - name: l\n    address: 127.0.0.1:8080\n    cluster:\n" + kCluster) ==
      Lines{"t.yaml:4:5: listeners[0].cluster: expected a value, got an empty value"});
}

// --- required keys and empty lists ------------------------------------------

TEST_CASE("listeners are required", "[config][bad]") {
  CHECK(errorsOf(kCluster) == Lines{"t.yaml:1:1: missing required key 'listeners'"});
}

TEST_CASE("an empty listener list is an error", "[config][bad]") {
  CHECK(errorsOf("listeners: []\n" + kCluster) ==
        Lines{"t.yaml:1:12: listeners: must list at least one listener"});
}

TEST_CASE("a listener needs an address", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  - name: l\n    cluster: c\n" + kCluster) ==
        Lines{"t.yaml:2:5: listeners[0]: missing required key 'address'"});
}

TEST_CASE("a listener needs a name and a cluster", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  - address: 127.0.0.1:80\n" + kCluster) ==
        Lines{"t.yaml:2:5: listeners[0]: missing required key 'name'",
              "t.yaml:2:5: listeners[0]: missing required key 'cluster'"});
}

TEST_CASE("a cluster needs at least one backend", "[config][bad]") {
  CHECK(errorsOf(kListener + "clusters:\n  - name: c\n    backends: []\n") ==
        Lines{"t.yaml:7:15: clusters[0].backends: must list at least one backend"});
}

TEST_CASE("a backend needs an address", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "      - weight: 2\n") ==
        Lines{"t.yaml:9:9: clusters[0].backends[1]: missing required key 'address'"});
}

// --- values -----------------------------------------------------------------

TEST_CASE("an unknown protocol lists the allowed values", "[config][bad]") {
  CHECK(errorsOf(kListener + "    protocol: udp\n" + kCluster) ==
        Lines{"t.yaml:5:15: listeners[0].protocol: invalid value 'udp'; expected one of: tcp, "
              "http"});
}

TEST_CASE("an unknown balance lists the allowed values", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    balance: fastest\n") ==
        Lines{"t.yaml:9:14: clusters[0].balance: invalid value 'fastest'; expected one of: "
              "round_robin, least_connections, random_two, hash_client_ip"});
}

TEST_CASE("send_proxy_protocol accepts off, v1 and v2 only", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    send_proxy_protocol: v3\n") ==
        Lines{"t.yaml:9:26: clusters[0].send_proxy_protocol: invalid value 'v3'; expected one "
              "of: off, v1, v2"});
}

TEST_CASE("an unknown log level lists the allowed values", "[config][bad]") {
  CHECK(errorsOf("log:\n  level: verbose\n" + kListener + kCluster) ==
        Lines{"t.yaml:2:10: log.level: invalid value 'verbose'; expected one of: error, warn, "
              "info, debug"});
}

TEST_CASE("access_log rejects a boolean word", "[config][bad]") {
  CHECK(errorsOf("log:\n  access_log: true\n" + kListener + kCluster) ==
        Lines{"t.yaml:2:15: log.access_log: expected off, stdout or a file path, got 'true'"});
}

TEST_CASE("workers must be auto or 1..256", "[config][bad]") {
  CHECK(errorsOf("workers: 0\n" + kListener + kCluster) ==
        Lines{"t.yaml:1:10: workers: expected auto or a number of threads (1..256), got '0'"});
  CHECK(errorsOf("workers: 257\n" + kListener + kCluster) ==
        Lines{"t.yaml:1:10: workers: expected auto or a number of threads (1..256), got '257'"});
  CHECK(errorsOf("workers: many\n" + kListener + kCluster) ==
        Lines{"t.yaml:1:10: workers: expected auto or a number of threads (1..256), got 'many'"});
}

TEST_CASE("a zero max_connections is out of range", "[config][bad]") {
  CHECK(errorsOf(kListener + "    max_connections: 0\n" + kCluster) ==
        Lines{"t.yaml:5:22: listeners[0].max_connections: 0 is out of range (1..10000000)"});
}

TEST_CASE("max_header_count is 1..10000", "[config][bad]") {
  const std::string http = "    protocol: http\n    http:\n      max_header_count: ";
  CHECK(errorsOf(kListener + http + "0\n" + kCluster) ==
        Lines{"t.yaml:7:25: listeners[0].http.max_header_count: 0 is out of range (1..10000)"});
  CHECK(errorsOf(kListener + http + "10001\n" + kCluster) ==
        Lines{"t.yaml:7:25: listeners[0].http.max_header_count: 10001 is out of range "
              "(1..10000)"});
  CHECK(errorsOf(kListener + http + "10000\n" + kCluster).empty());
}

TEST_CASE("a negative number is out of range", "[config][bad]") {
  CHECK(errorsOf(kListener + "    max_connections_per_ip: -1\n" + kCluster) ==
        Lines{"t.yaml:5:29: listeners[0].max_connections_per_ip: -1 is out of range "
              "(0..10000000)"});
}

TEST_CASE("a number too large for 64 bits is out of range", "[config][bad]") {
  CHECK(errorsOf("limits:\n  max_connections: 99999999999999999999999\n" + kListener + kCluster) ==
        Lines{"t.yaml:2:20: limits.max_connections: 99999999999999999999999 is out of range "
              "(1..10000000)"});
}

TEST_CASE("a word where a number belongs is an error", "[config][bad]") {
  CHECK(errorsOf(kListener + "    max_connections: lots\n" + kCluster) ==
        Lines{"t.yaml:5:22: listeners[0].max_connections: expected a whole number, got 'lots'"});
}

TEST_CASE("booleans are true or false", "[config][bad]") {
  CHECK(errorsOf(kListener + "    proxy_protocol: yes\n" + kCluster) ==
        Lines{"t.yaml:5:21: listeners[0].proxy_protocol: expected true or false, got 'yes'"});
}

TEST_CASE("a bad duration names the accepted forms", "[config][bad]") {
  CHECK(errorsOf(kListener + "    timeouts:\n      idle: 5x\n" + kCluster) ==
        Lines{"t.yaml:6:13: listeners[0].timeouts.idle: invalid duration '5x': use a whole "
              "number with a unit, e.g. 250ms, 5s, 2m, 1h"});
}

TEST_CASE("a negative duration is an error", "[config][bad]") {
  CHECK(errorsOf("drain_timeout: -5s\n" + kListener + kCluster) ==
        Lines{"t.yaml:1:16: drain_timeout: invalid duration '-5s': must not be negative"});
}

TEST_CASE("a zero timeout is an error where it must be positive", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    timeouts:\n      connect: 0s\n") ==
        Lines{"t.yaml:10:16: clusters[0].timeouts.connect: must be greater than 0s"});
}

TEST_CASE("resolve_interval has a floor of 100ms", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    resolve_interval: 99ms\n") ==
        Lines{"t.yaml:9:23: clusters[0].resolve_interval: must be at least 100ms"});
  CHECK(errorsOf(kListener + kCluster + "    resolve_interval: 0s\n") ==
        Lines{"t.yaml:9:23: clusters[0].resolve_interval: must be at least 100ms"});
  CHECK(errorsOf(kListener + kCluster + "    resolve_interval: 100ms\n").empty());
}

TEST_CASE("a size with a decimal unit is an error", "[config][bad]") {
  CHECK(errorsOf(kListener + "    buffer_size: 64KB\n" + kCluster) ==
        Lines{"t.yaml:5:18: listeners[0].buffer_size: invalid size '64KB': use bytes or a unit "
              "B, K/KiB, M/MiB, G/GiB, e.g. 64KiB"});
}

TEST_CASE("a size below its minimum is out of range", "[config][bad]") {
  CHECK(errorsOf(kListener + "    buffer_size: 512\n" + kCluster) ==
        Lines{"t.yaml:5:18: listeners[0].buffer_size: size '512' is out of range "
              "(1024..1073741824 bytes)"});
}

TEST_CASE("a listener address must be an IP literal", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  - name: l\n    address: localhost:8080\n    cluster: c\n" +
                 kCluster) ==
        Lines{"t.yaml:3:14: listeners[0].address: invalid address 'localhost:8080': must be an "
              "IP address, e.g. 127.0.0.1:8080"});
}

TEST_CASE("a three-part IPv4 address is rejected", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "      - address: 1.2.3:80\n") ==
        Lines{"t.yaml:9:18: clusters[0].backends[1].address: invalid address '1.2.3:80': "
              "'1.2.3' is not a valid IPv4 address"});
}

TEST_CASE("an unclosed IPv6 bracket is rejected", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "      - address: \"[::1\"\n") ==
        Lines{"t.yaml:9:18: clusters[0].backends[1].address: invalid address '[::1': missing "
              "']' after the IPv6 address"});
}

TEST_CASE("an address without a port is rejected", "[config][bad]") {
  CHECK(errorsOf("admin:\n  address: 127.0.0.1\n" + kListener + kCluster) ==
        Lines{"t.yaml:2:12: admin.address: invalid address '127.0.0.1': missing ':port'"});
}

TEST_CASE("a port above 65535 is rejected", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "      - address: db:70000\n") ==
        Lines{"t.yaml:9:18: clusters[0].backends[1].address: invalid address 'db:70000': port "
              "70000 is out of range (1..65535)"});
}

TEST_CASE("dns resolvers must be IP literals in a list", "[config][bad]") {
  CHECK(errorsOf("dns:\n  resolvers: [ns1:53]\n" + kListener + kCluster) ==
        Lines{"t.yaml:2:15: dns.resolvers[0]: invalid address 'ns1:53': must be an IP address, "
              "e.g. 127.0.0.1:53"});
  CHECK(errorsOf("dns:\n  resolvers: 10.0.0.1:53\n" + kListener + kCluster) ==
        Lines{"t.yaml:2:14: dns.resolvers: expected a list, got the value '10.0.0.1:53'"});
}

TEST_CASE("names may not contain spaces", "[config][bad]") {
  CHECK(errorsOf("listeners:\n  - name: my web\n    address: 127.0.0.1:80\n    cluster: c\n" +
                 kCluster) ==
        Lines{"t.yaml:2:11: listeners[0].name: invalid name 'my web': use at most 64 letters, "
              "digits, '_', '-' or '.'"});
}

TEST_CASE("backend weights are 1..1000", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "        weight: 0\n") ==
        Lines{"t.yaml:9:17: clusters[0].backends[0].weight: 0 is out of range (1..1000)"});
  CHECK(errorsOf(kListener + kCluster + "        weight: 1001\n") ==
        Lines{"t.yaml:9:17: clusters[0].backends[0].weight: 1001 is out of range (1..1000)"});
}

TEST_CASE("pool.max_connections must be at least 1", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    pool:\n      max_connections: 0\n") ==
        Lines{"t.yaml:10:24: clusters[0].pool.max_connections: 0 is out of range (1..100000)"});
}

TEST_CASE("health check thresholds must be at least 1", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    health_check:\n      healthy_threshold: 0\n") ==
        Lines{"t.yaml:10:26: clusters[0].health_check.healthy_threshold: 0 is out of range "
              "(1..1000)"});
}

TEST_CASE("an http check path must start with a slash", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster +
                 "    health_check:\n      type: http\n      path: healthz\n") ==
        Lines{"t.yaml:11:13: clusters[0].health_check.path: must start with '/', got 'healthz'"});
}

TEST_CASE("path and expect_status are only for http checks", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    health_check:\n      path: /healthz\n") ==
        Lines{"t.yaml:10:13: clusters[0].health_check.path: only valid when type is http"});
}

TEST_CASE("expect_status takes a status or an ordered range of statuses", "[config][bad]") {
  const std::string check = kListener + kCluster + "    health_check:\n      type: http\n";
  CHECK(errorsOf(check + "      expect_status: 2xx\n") ==
        Lines{"t.yaml:11:22: clusters[0].health_check.expect_status: invalid status '2xx': use a "
              "status like 200 or a range like 200-399"});
  CHECK(errorsOf(check + "      expect_status: 200-600\n") ==
        Lines{"t.yaml:11:22: clusters[0].health_check.expect_status: status 600 is out of range "
              "(100..599)"});
  CHECK(errorsOf(check + "      expect_status: 399-200\n") ==
        Lines{"t.yaml:11:22: clusters[0].health_check.expect_status: invalid status range "
              "'399-200': the first status is greater than the last"});
}

TEST_CASE("initial_state is healthy or unhealthy", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    health_check:\n      initial_state: up\n") ==
        Lines{"t.yaml:10:22: clusters[0].health_check.initial_state: invalid value 'up'; "
              "expected one of: healthy, unhealthy"});
}

TEST_CASE("max_ejection_percent is a percentage", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster +
                 "    outlier_detection:\n      max_ejection_percent: 101\n") ==
        Lines{"t.yaml:10:29: clusters[0].outlier_detection.max_ejection_percent: 101 is out of "
              "range (0..100)"});
}

TEST_CASE("retries are capped", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "    retries:\n      connect: 11\n") ==
        Lines{"t.yaml:10:16: clusters[0].retries.connect: 11 is out of range (0..10)"});
}

// --- many at once -------------------------------------------------------------

TEST_CASE("every error is reported, in file order", "[config][bad]") {
  const std::string yaml =
      "workers: lots\n"                 // 1
      "listeners:\n"                    // 2
      "  - name: l\n"                   // 3
      "    address: 127.0.0.1:99999\n"  // 4
      "    cluster: c\n"                // 5
      "    protocol: quic\n"            // 6
      "clusters:\n"                     // 7
      "  - name: c\n"                   // 8
      "    backends:\n"                 // 9
      "      - address: 127.0.0.1:9000\n"
      "        wieght: 3\n"  // 11
      "    pool:\n"
      "      idle_timeout: soon\n";  // 13
  CHECK(errorsOf(yaml) ==
        Lines{
            "t.yaml:1:10: workers: expected auto or a number of threads (1..256), got 'lots'",
            "t.yaml:4:14: listeners[0].address: invalid address '127.0.0.1:99999': port 99999 is "
            "out of range (1..65535)",
            "t.yaml:6:15: listeners[0].protocol: invalid value 'quic'; expected one of: tcp, http",
            "t.yaml:11:9: clusters[0].backends[0]: unknown key 'wieght'; did you mean 'weight'?",
            "t.yaml:13:21: clusters[0].pool.idle_timeout: invalid duration 'soon': use a whole "
            "number with a unit, e.g. 250ms, 5s, 2m, 1h",
        });
}

TEST_CASE("a file that cannot be read reports why, without a position", "[config][bad]") {
  auto result = sluice::config::loadFile("/nonexistent/sluice.yaml");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].format() ==
        "/nonexistent/sluice.yaml: cannot read: No such file or directory");
  CHECK(result.errors[0].line == 0);
  CHECK_FALSE(result.ok());
}

TEST_CASE("a directory cannot be read as a config", "[config][bad]") {
  auto result = sluice::config::loadFile("/");
  REQUIRE(result.errors.size() == 1);
  CHECK(result.errors[0].format() == "/: cannot read: Is a directory");
}

TEST_CASE("control characters from the file are not echoed to the terminal", "[config][bad]") {
  CHECK(errorsOf(kListener + kCluster + "\"\\e[31mred\": 1\n") ==
        Lines{"t.yaml:9:1: unknown key '?[31mred'; expected one of: workers, drain_delay, "
              "drain_timeout, admin, limits, log, dns, listeners, clusters"});
}

TEST_CASE("a long value is shortened in a shape error", "[config][bad]") {
  CHECK(errorsOf(std::string(100, 'x')) ==
        Lines{"t.yaml:1:1: expected a mapping, got the value '" + std::string(60, 'x') + "...'"});
}

TEST_CASE("forwarded_headers and upgrade name their bad values", "[config][bad]") {
  CHECK(errorsOf(kListener + "    http:\n      forwarded_headers: keep\n" + kCluster) ==
        Lines{"t.yaml:6:26: listeners[0].http.forwarded_headers: invalid value 'keep'; expected "
              "one of: replace, append"});
  CHECK(errorsOf(kListener + "    http:\n      upgrade: [websocket, h2c/1.0]\n" + kCluster) ==
        Lines{"t.yaml:6:28: listeners[0].http.upgrade[1]: 'h2c/1.0' is not a protocol name (a "
              "token, without /version)"});
}
