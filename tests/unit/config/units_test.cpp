#include "config/units.h"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using sluice::config::Duration;
using sluice::config::formatDuration;
using sluice::config::parseDigits;
using sluice::config::parseDuration;
using sluice::config::parseSize;

TEST_CASE("durations accept ms, s, m and h", "[config][units]") {
  CHECK(parseDuration("250ms").value == Duration(250));
  CHECK(parseDuration("5s").value == Duration(5s));
  CHECK(parseDuration("2m").value == Duration(2min));
  CHECK(parseDuration("1h").value == Duration(1h));
  CHECK(parseDuration("0s").value == Duration(0));
  CHECK(parseDuration("0ms").value == Duration(0));
}

TEST_CASE("a bare zero is a duration but other bare numbers are not", "[config][units]") {
  CHECK(parseDuration("0").value == Duration(0));
  auto parsed = parseDuration("500");
  CHECK_FALSE(parsed.value);
  CHECK(parsed.error == "invalid duration '500': missing unit, e.g. 250ms, 5s, 2m, 1h");
}

TEST_CASE("negative durations are rejected", "[config][units]") {
  auto parsed = parseDuration("-5s");
  CHECK_FALSE(parsed.value);
  CHECK(parsed.error == "invalid duration '-5s': must not be negative");
}

TEST_CASE("garbage durations are rejected with the accepted forms", "[config][units]") {
  for (const char* text :
       {"", "s", "5", "5 s", "5S", "1.5s", "5sec", "5d", "ms5", "+5s", "0x10s", "5ms5", "١s"}) {
    INFO(text);
    auto parsed = parseDuration(text);
    CHECK_FALSE(parsed.value);
    CHECK_FALSE(parsed.error.empty());
  }
  CHECK(parseDuration("5x").error ==
        "invalid duration '5x': use a whole number with a unit, e.g. 250ms, 5s, 2m, 1h");
}

TEST_CASE("durations that would overflow are rejected", "[config][units]") {
  CHECK(parseDuration("8760h").value == Duration(8760h));
  CHECK(parseDuration("8761h").error == "duration '8761h' is too large (max 8760h)");
  CHECK_FALSE(parseDuration("99999999999999999999999s").value);
  CHECK_FALSE(parseDuration("9223372036854775807ms").value);
  CHECK_FALSE(parseDuration("18446744073709551616h").value);
}

TEST_CASE("durations format in their largest exact unit", "[config][units]") {
  CHECK(formatDuration(Duration(0)) == "0s");
  CHECK(formatDuration(Duration(250)) == "250ms");
  CHECK(formatDuration(Duration(1500)) == "1500ms");
  CHECK(formatDuration(Duration(5s)) == "5s");
  CHECK(formatDuration(Duration(90s)) == "90s");
  CHECK(formatDuration(Duration(2min)) == "2m");
  CHECK(formatDuration(Duration(10min)) == "10m");
  CHECK(formatDuration(Duration(1h)) == "1h");
  CHECK(formatDuration(Duration(300s)) == "5m");
}

TEST_CASE("formatted durations parse back to the same value", "[config][units]") {
  for (int64_t ms : std::initializer_list<int64_t>{0, 1, 999, 1000, 59999, 60000, 3600000, 3601000,
                                                   31536000000}) {
    INFO(ms);
    CHECK(parseDuration(formatDuration(Duration(ms))).value == Duration(ms));
  }
}

TEST_CASE("sizes accept bytes and 1024-based units", "[config][units]") {
  CHECK(parseSize("512").value == 512u);
  CHECK(parseSize("512B").value == 512u);
  CHECK(parseSize("64K").value == 65536u);
  CHECK(parseSize("64KiB").value == 65536u);
  CHECK(parseSize("1M").value == 1048576u);
  CHECK(parseSize("1MiB").value == 1048576u);
  CHECK(parseSize("1G").value == 1073741824u);
  CHECK(parseSize("1GiB").value == 1073741824u);
  CHECK(parseSize("0").value == 0u);
}

TEST_CASE("sizes reject decimal units, garbage, negatives and overflow", "[config][units]") {
  CHECK(parseSize("64KB").error ==
        "invalid size '64KB': use bytes or a unit B, K/KiB, M/MiB, G/GiB, e.g. 64KiB");
  CHECK(parseSize("-1").error == "invalid size '-1': must not be negative");
  CHECK(parseSize("17179869184GiB").error == "size '17179869184GiB' is too large");
  for (const char* text : {"", "KiB", "1.5MiB", "64 KiB", "64kib", "1T", "0x40"}) {
    INFO(text);
    CHECK_FALSE(parseSize(text).value);
  }
}

TEST_CASE("digits parse only plain decimal numbers", "[config][units]") {
  CHECK(parseDigits("0") == 0u);
  CHECK(parseDigits("18446744073709551615") == 18446744073709551615u);
  CHECK_FALSE(parseDigits("18446744073709551616"));
  CHECK_FALSE(parseDigits(""));
  CHECK_FALSE(parseDigits("-1"));
  CHECK_FALSE(parseDigits("+1"));
  CHECK_FALSE(parseDigits("1e3"));
  CHECK_FALSE(parseDigits(" 1"));
}
