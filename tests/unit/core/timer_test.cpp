#include "core/timer.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>

#include "../../fakes/event_loop.h"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

TEST_CASE("Timer fires once after its delay", "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  Timer timer(dispatcher, [&] { ++fired; });
  const auto start = Clock::now();
  timer.enable(30ms);
  CHECK(timer.enabled());
  REQUIRE(testing::runUntil(dispatcher, [&] { return fired > 0; }));
  // libevent rounds to its cached time; allow a few ms of slack, never early by more.
  CHECK(since(start) >= 25ms);
  CHECK_FALSE(timer.enabled());

  bool sentinel = false;
  Timer later(dispatcher, [&] { sentinel = true; });
  later.enable(60ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return sentinel; }));
  CHECK(fired == 1);
}

TEST_CASE("Timer disabled before its delay never fires", "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  Timer timer(dispatcher, [&] { ++fired; });
  timer.enable(10ms);
  timer.disable();
  CHECK_FALSE(timer.enabled());
  bool sentinel = false;
  Timer later(dispatcher, [&] { sentinel = true; });
  later.enable(60ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return sentinel; }));
  CHECK(fired == 0);
}

TEST_CASE("Timer destroyed while armed never fires", "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  auto timer = std::make_unique<Timer>(dispatcher, [&] { ++fired; });
  timer->enable(0ms);
  timer.reset();
  bool sentinel = false;
  Timer later(dispatcher, [&] { sentinel = true; });
  later.enable(50ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return sentinel; }));
  CHECK(fired == 0);
}

TEST_CASE("Timer destroyed by an earlier callback of the same turn never fires", "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  std::unique_ptr<Timer> victim;
  Timer killer(dispatcher, [&] { victim.reset(); });
  victim = std::make_unique<Timer>(dispatcher, [&] { ++fired; });
  // The killer's deadline is strictly earlier, so it runs first; on a busy
  // loop both usually expire in the same turn, the victim already active.
  // (Equal deadlines would not do: libevent's timer heap does not keep
  // insertion order among equal keys.)
  killer.enable(10ms);
  victim->enable(13ms);
  bool sentinel = false;
  Timer later(dispatcher, [&] { sentinel = true; });
  later.enable(80ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return sentinel; }));
  CHECK(victim == nullptr);
  CHECK(fired == 0);
}

TEST_CASE("Timer with zero delay fires on the next loop turn, not inside enable()",
          "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  Timer timer(dispatcher, [&] { ++fired; });
  timer.enable(0ms);
  CHECK(fired == 0);
  CHECK(timer.enabled());
  REQUIRE(testing::runUntil(
      dispatcher, [&] { return fired > 0; }, 1s));
  CHECK(fired == 1);
}

TEST_CASE("Timer re-enabled while armed counts from the new call with the new delay",
          "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  Timer timer(dispatcher, [&] { ++fired; });

  SECTION("a longer delay postpones the first one") {
    const auto start = Clock::now();
    timer.enable(20ms);
    timer.enable(200ms);
    bool sentinel = false;
    Timer check(dispatcher, [&] { sentinel = true; });
    check.enable(80ms);
    REQUIRE(testing::runUntil(dispatcher, [&] { return sentinel; }));
    CHECK(fired == 0);
    REQUIRE(testing::runUntil(dispatcher, [&] { return fired > 0; }));
    CHECK(since(start) >= 190ms);
    CHECK(fired == 1);
  }
  SECTION("a shorter delay brings it forward") {
    const auto start = Clock::now();
    timer.enable(10s);
    timer.enable(10ms);
    REQUIRE(testing::runUntil(
        dispatcher, [&] { return fired > 0; }, 2s));
    CHECK(since(start) < 5s);
    CHECK_FALSE(timer.enabled());
  }
}

TEST_CASE("Timer can be re-armed from its own callback", "[core][timer]") {
  Dispatcher dispatcher;
  int fired = 0;
  Timer* self = nullptr;
  Timer timer(dispatcher, [&] {
    if (++fired < 3) self->enable(1ms);
  });
  self = &timer;
  timer.enable(1ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return fired == 3; }));
  CHECK_FALSE(timer.enabled());
}

}  // namespace
}  // namespace sluice::core
