#include "core/dispatcher.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "../../fakes/event_loop.h"

namespace sluice::core {
namespace {

using namespace std::chrono_literals;

// Runs a dispatcher's loop on its own thread; joins it on destruction.
class LoopThread {
 public:
  explicit LoopThread(Dispatcher& dispatcher)
      : done_(stopped_.get_future()), thread_([this, &dispatcher] {
          dispatcher.run();
          stopped_.set_value();
        }) {}
  ~LoopThread() { thread_.join(); }
  std::thread::id id() const { return thread_.get_id(); }
  bool stoppedWithin(std::chrono::milliseconds deadline) {
    return done_.wait_for(deadline) == std::future_status::ready;
  }

 private:
  std::promise<void> stopped_;
  std::future<void> done_;
  std::thread thread_;
};

class Tracked : public DeferredDeletable {
 public:
  explicit Tracked(std::atomic<int>& destroyed) : destroyed_(destroyed) {}
  ~Tracked() override { destroyed_.fetch_add(1); }

 private:
  std::atomic<int>& destroyed_;
};

TEST_CASE("Dispatcher runs closures posted from another thread on the loop thread, in order",
          "[core][dispatcher]") {
  Dispatcher dispatcher;
  constexpr int kPosts = 2000;
  std::vector<int> seen;  // loop thread only
  std::vector<std::thread::id> threads;
  std::atomic<bool> allOnLoop{true};
  std::thread::id loopId;
  {
    LoopThread loop(dispatcher);
    loopId = loop.id();
    std::thread poster([&] {
      for (int i = 0; i < kPosts; ++i) {
        dispatcher.post([&, i] {
          seen.push_back(i);
          threads.push_back(std::this_thread::get_id());
          if (!dispatcher.isLoopThread()) allOnLoop = false;
        });
      }
      dispatcher.exit();
    });
    poster.join();
    CHECK(loop.stoppedWithin(5s));
  }
  // The loop thread is joined: its writes are visible here.
  for (auto id : threads)
    REQUIRE(id == loopId);
  REQUIRE(seen.size() == kPosts);
  for (int i = 0; i < kPosts; ++i)
    REQUIRE(seen[static_cast<size_t>(i)] == i);
  CHECK(allOnLoop);
  CHECK_FALSE(dispatcher.isLoopThread());
}

TEST_CASE("Dispatcher keeps each poster's order when several threads post at once",
          "[core][dispatcher]") {
  Dispatcher dispatcher;
  constexpr int kPosters = 3;
  constexpr int kPosts = 5000;
  std::vector<std::vector<int>> seen(kPosters);  // loop thread only
  {
    LoopThread loop(dispatcher);
    std::vector<std::thread> posters;
    for (int p = 0; p < kPosters; ++p) {
      posters.emplace_back([&, p] {
        for (int i = 0; i < kPosts; ++i)
          dispatcher.post([&seen, p, i] { seen[static_cast<size_t>(p)].push_back(i); });
      });
    }
    for (auto& t : posters)
      t.join();
    dispatcher.exit();
    CHECK(loop.stoppedWithin(5s));
  }
  for (const auto& perPoster : seen) {
    REQUIRE(perPoster.size() == kPosts);
    for (int i = 0; i < kPosts; ++i)
      REQUIRE(perPoster[static_cast<size_t>(i)] == i);
  }
}

TEST_CASE("Dispatcher exit() from another thread stops a running loop", "[core][dispatcher]") {
  Dispatcher dispatcher;
  std::atomic<bool> running{false};
  LoopThread loop(dispatcher);
  dispatcher.post([&] { running = true; });
  // Wait until the loop demonstrably runs, then stop it from this thread.
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (!running && std::chrono::steady_clock::now() < until)
    std::this_thread::yield();
  REQUIRE(running);
  dispatcher.exit();
  CHECK(loop.stoppedWithin(5s));
}

TEST_CASE("Dispatcher exit() posted before run() makes run() return at once",
          "[core][dispatcher]") {
  Dispatcher dispatcher;
  dispatcher.exit();
  LoopThread loop(dispatcher);
  CHECK(loop.stoppedWithin(5s));
}

TEST_CASE("Dispatcher runs closures still queued behind exit() before run() returns",
          "[core][dispatcher]") {
  Dispatcher dispatcher;
  int ran = 0;
  dispatcher.exit();
  dispatcher.post([&] { ++ran; });
  dispatcher.post([&] { ++ran; });
  dispatcher.run();
  CHECK(ran == 2);
}

TEST_CASE("Dispatcher deferredDelete destroys after the current callback, not during it",
          "[core][dispatcher]") {
  Dispatcher dispatcher;
  std::atomic<int> destroyed{0};
  int destroyedInsideCallback = -1;
  bool callbackDone = false;
  dispatcher.post([&] {
    dispatcher.deferredDelete(std::make_unique<Tracked>(destroyed));
    dispatcher.deferredDelete(std::make_unique<Tracked>(destroyed));
    destroyedInsideCallback = destroyed.load();
    callbackDone = true;
  });
  REQUIRE(testing::runUntil(dispatcher, [&] { return destroyed.load() == 2; }));
  CHECK(callbackDone);
  CHECK(destroyedInsideCallback == 0);
}

TEST_CASE("Dispatcher deferredDelete also destroys objects deferred by a destructor",
          "[core][dispatcher]") {
  class Chained : public DeferredDeletable {
   public:
    Chained(Dispatcher& dispatcher, std::atomic<int>& destroyed)
        : dispatcher_(dispatcher), destroyed_(destroyed) {}
    ~Chained() override {
      destroyed_.fetch_add(1);
      dispatcher_.deferredDelete(std::make_unique<Tracked>(destroyed_));
    }

   private:
    Dispatcher& dispatcher_;
    std::atomic<int>& destroyed_;
  };
  Dispatcher dispatcher;
  std::atomic<int> destroyed{0};
  dispatcher.post(
      [&] { dispatcher.deferredDelete(std::make_unique<Chained>(dispatcher, destroyed)); });
  REQUIRE(testing::runUntil(dispatcher, [&] { return destroyed.load() == 2; }));
}

TEST_CASE("Dispatcher destroys objects still parked for deletion when it is destroyed",
          "[core][dispatcher]") {
  std::atomic<int> destroyed{0};
  {
    Dispatcher dispatcher;
    dispatcher.deferredDelete(std::make_unique<Tracked>(destroyed));
    CHECK(destroyed.load() == 0);
  }
  CHECK(destroyed.load() == 1);
}

}  // namespace
}  // namespace sluice::core
