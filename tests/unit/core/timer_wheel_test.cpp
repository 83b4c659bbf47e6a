#include "core/timer_wheel.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../../fakes/event_loop.h"
#include "core/clock.h"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

// A timer that records when it fired (core::monotonicMs) into a shared log.
struct Probe {
  Probe(TimerWheel& wheel, std::vector<std::string>& log, std::string name)
      : timer(wheel, &Probe::fire, this), log(log), name(std::move(name)) {}
  static void fire(void* self) {
    auto* p = static_cast<Probe*>(self);
    p->firedAtMs = monotonicMs();
    ++p->fired;
    p->log.push_back(p->name);
    if (p->onFire) p->onFire();
  }
  WheelTimer timer;
  std::vector<std::string>& log;
  std::string name;
  int fired = 0;
  int64_t firedAtMs = 0;
  std::function<void()> onFire;
};

TEST_CASE("WheelTimer fires once, never before its deadline", "[core][timer_wheel]") {
  Dispatcher dispatcher;
  TimerWheel wheel(dispatcher);
  std::vector<std::string> log;
  Probe probe(wheel, log, "a");
  const int64_t due = monotonicMs() + 30;
  probe.timer.enableAt(due);
  CHECK(probe.timer.enabled());
  CHECK(wheel.armed() == 1);
  REQUIRE(testing::runUntil(dispatcher, [&] { return probe.fired > 0; }));
  CHECK(probe.firedAtMs >= due);
  CHECK_FALSE(probe.timer.enabled());
  CHECK(wheel.armed() == 0);
  testing::runFor(dispatcher, 50ms);
  CHECK(probe.fired == 1);
}

TEST_CASE("WheelTimers fire in deadline order", "[core][timer_wheel]") {
  Dispatcher dispatcher;
  TimerWheel wheel(dispatcher);
  std::vector<std::string> log;
  Probe late(wheel, log, "late"), early(wheel, log, "early"), middle(wheel, log, "middle");
  late.timer.enable(90ms);
  early.timer.enable(10ms);
  middle.timer.enable(50ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return log.size() == 3; }));
  CHECK(log == std::vector<std::string>{"early", "middle", "late"});
}

TEST_CASE("WheelTimer disabled, moved or destroyed", "[core][timer_wheel]") {
  Dispatcher dispatcher;
  TimerWheel wheel(dispatcher);
  std::vector<std::string> log;
  Probe disabled(wheel, log, "disabled"), moved(wheel, log, "moved"), sentinel(wheel, log, "s");
  auto destroyed = std::make_unique<Probe>(wheel, log, "destroyed");
  disabled.timer.enable(10ms);
  disabled.timer.disable();
  destroyed->timer.enable(10ms);
  destroyed.reset();
  moved.timer.enable(10ms);
  moved.timer.enable(120ms);  // later: the first deadline no longer counts
  sentinel.timer.enable(60ms);
  CHECK(wheel.armed() == 2);
  REQUIRE(testing::runUntil(dispatcher, [&] { return log.size() == 2; }));
  CHECK(log == std::vector<std::string>{"s", "moved"});
  CHECK(disabled.fired == 0);
}

TEST_CASE("WheelTimer deadlines beyond one lap wait for their own lap", "[core][timer_wheel]") {
  Dispatcher dispatcher;
  TimerWheel wheel(dispatcher, 10, 4);  // a 40 ms lap
  std::vector<std::string> log;
  Probe far(wheel, log, "far"), near(wheel, log, "near");
  const int64_t due = monotonicMs() + 130;  // three laps and a bit
  far.timer.enableAt(due);
  near.timer.enable(20ms);
  REQUIRE(testing::runUntil(dispatcher, [&] { return far.fired > 0; }));
  CHECK(far.firedAtMs >= due);
  CHECK(log == std::vector<std::string>{"near", "far"});
}

TEST_CASE("WheelTimer callbacks may arm, move and disarm timers", "[core][timer_wheel]") {
  Dispatcher dispatcher;
  TimerWheel wheel(dispatcher);
  std::vector<std::string> log;
  Probe first(wheel, log, "first"), victim(wheel, log, "victim"), again(wheel, log, "again");
  // Same deadline, so the same slot: the first to fire disarms the other
  // and re-arms itself.
  const int64_t due = monotonicMs() + 20;
  first.timer.enableAt(due);
  victim.timer.enableAt(due);
  first.onFire = [&] {
    victim.timer.disable();
    if (first.fired == 1) first.timer.enable(0ms);  // next tick, not this one
    again.timer.enable(30ms);
  };
  victim.onFire = [&] {
    first.timer.disable();
    if (victim.fired == 1) victim.timer.enable(0ms);
    again.timer.enable(30ms);
  };
  REQUIRE(testing::runUntil(dispatcher, [&] { return again.fired > 0; }));
  testing::runFor(dispatcher, 60ms);
  // Whichever fired first disarmed the other, then fired once more.
  CHECK(first.fired + victim.fired == 2);
  CHECK((first.fired == 2 || victim.fired == 2));
  CHECK(wheel.armed() == 0);
}

}  // namespace
}  // namespace sluice::core
