#include "upstream/admission.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "../../fakes/cluster_builder.h"
#include "../../fakes/event_loop.h"
#include "../../fakes/grant_recorder.h"

namespace sluice::upstream {
namespace {

using namespace std::chrono_literals;
using testing::GrantRecorder;
using testing::runUntil;

std::shared_ptr<Admission> admissionFor(const std::shared_ptr<Backend>& backend,
                                        uint32_t maxPending) {
  return std::make_shared<Admission>(std::vector<std::shared_ptr<Backend>>{backend}, maxPending);
}

// Occupies every slot of `backend`.
void fill(Backend& backend) {
  while (backend.tryAcquireSlot()) {
  }
}

TEST_CASE("Admission fast path: no queue, a free slot is taken without waiting",
          "[upstream][admission]") {
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 2);
  auto admission = admissionFor(backend, 10);
  CHECK(admission->maxPending() == 10);
  REQUIRE(admission->pending() == 0);
  CHECK(backend->tryAcquireSlot());
  CHECK(backend->tryAcquireSlot());
  CHECK_FALSE(backend->tryAcquireSlot());
  admission->release(backend);  // nobody waits: the slot just goes back
  CHECK(backend->activeConnections() == 1);
  CHECK(admission->pending() == 0);
}

TEST_CASE("Admission grants at once to a waiter enqueued while a slot is free",
          "[upstream][admission]") {
  // The releaser may have returned its slot between our failed attempt and
  // our enqueue: enqueue itself must look again.
  core::Dispatcher dispatcher;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  auto admission = admissionFor(backend, 10);
  GrantRecorder recorder;
  auto waiter = std::make_shared<SlotWaiter>(dispatcher, &recorder);
  REQUIRE(admission->enqueue(waiter));
  CHECK(admission->pending() == 0);
  CHECK(backend->activeConnections() == 1);
  CHECK(recorder.grants() == 0);  // delivered through the loop, not inline
  REQUIRE(runUntil(dispatcher, [&] { return recorder.grants() == 1; }));
  CHECK(recorder.lastBackend() == backend);
  CHECK_FALSE(waiter->cancel());  // already granted
}

TEST_CASE("Admission refuses to enqueue beyond maxPending", "[upstream][admission]") {
  core::Dispatcher dispatcher;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  fill(*backend);
  auto admission = admissionFor(backend, 2);
  GrantRecorder recorder;
  auto w1 = std::make_shared<SlotWaiter>(dispatcher, &recorder);
  auto w2 = std::make_shared<SlotWaiter>(dispatcher, &recorder);
  auto w3 = std::make_shared<SlotWaiter>(dispatcher, &recorder);
  CHECK(admission->enqueue(w1));
  CHECK(admission->enqueue(w2));
  CHECK(admission->pending() == 2);
  CHECK_FALSE(admission->enqueue(w3));
  CHECK(admission->pending() == 2);
  // A cancelled waiter no longer counts against the limit.
  CHECK(w1->cancel());
  CHECK(admission->pending() == 1);
  CHECK(admission->enqueue(w3));
  CHECK(admission->pending() == 2);
  w2->cancel();
  w3->cancel();
  CHECK(admission->pending() == 0);
}

TEST_CASE("Admission with maxPending 0 queues nobody", "[upstream][admission]") {
  core::Dispatcher dispatcher;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  fill(*backend);
  auto admission = admissionFor(backend, 0);
  GrantRecorder recorder;
  CHECK_FALSE(admission->enqueue(std::make_shared<SlotWaiter>(dispatcher, &recorder)));
  CHECK(admission->pending() == 0);
}

// Two "workers": each a Dispatcher running on its own thread.
struct Workers {
  core::Dispatcher a;
  core::Dispatcher b;
  std::thread ta{[this] { a.run(); }};
  std::thread tb{[this] { b.run(); }};
  ~Workers() {
    a.exit();
    b.exit();
    ta.join();
    tb.join();
  }
};

TEST_CASE("Admission grants freed slots in arrival order across workers", "[upstream][admission]") {
  constexpr int kWaiters = 8;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  fill(*backend);
  auto admission = admissionFor(backend, 100);

  std::mutex mutex;
  std::condition_variable changed;
  std::vector<int> order;  // guarded by mutex
  std::vector<std::thread::id> threads;

  // Each waiter, once granted, records itself and gives its slot back, which
  // hands it to the next waiter: the chain runs through both workers.
  struct Handler : SlotGrantHandler {
    int id = 0;
    std::shared_ptr<Admission> admission;
    std::mutex* mutex = nullptr;
    std::condition_variable* changed = nullptr;
    std::vector<int>* order = nullptr;
    std::vector<std::thread::id>* threads = nullptr;
    void onSlotGranted(std::shared_ptr<Backend> granted) override {
      {
        std::lock_guard lock(*mutex);
        order->push_back(id);
        threads->push_back(std::this_thread::get_id());
      }
      changed->notify_all();
      admission->release(granted);
    }
  };
  std::vector<Handler> handlers(kWaiters);
  std::vector<std::shared_ptr<SlotWaiter>> waiters;
  {
    Workers workers;
    for (int i = 0; i < kWaiters; ++i) {
      auto& h = handlers[static_cast<size_t>(i)];
      h.id = i;
      h.admission = admission;
      h.mutex = &mutex;
      h.changed = &changed;
      h.order = &order;
      h.threads = &threads;
      auto& worker = i % 2 == 0 ? workers.a : workers.b;
      waiters.push_back(std::make_shared<SlotWaiter>(worker, &h));
      REQUIRE(admission->enqueue(waiters.back()));
    }
    CHECK(admission->pending() == kWaiters);
    admission->release(backend);  // the first slot frees up
    {
      std::unique_lock lock(mutex);
      CHECK(changed.wait_for(lock, 5s, [&] { return order.size() == kWaiters; }));
    }
    const auto idA = workers.ta.get_id();
    const auto idB = workers.tb.get_id();
    std::lock_guard lock(mutex);
    for (size_t i = 0; i < threads.size(); ++i)
      CHECK(threads[i] == (order[i] % 2 == 0 ? idA : idB));
  }
  std::vector<int> expected;
  for (int i = 0; i < kWaiters; ++i)
    expected.push_back(i);
  CHECK(order == expected);
  CHECK(admission->pending() == 0);
  CHECK(backend->activeConnections() == 0);
}

TEST_CASE("Admission skips a cancelled waiter and passes its turn on", "[upstream][admission]") {
  core::Dispatcher dispatcher;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  fill(*backend);
  auto admission = admissionFor(backend, 10);
  GrantRecorder r1, r2, r3;
  auto w1 = std::make_shared<SlotWaiter>(dispatcher, &r1);
  auto w2 = std::make_shared<SlotWaiter>(dispatcher, &r2);
  auto w3 = std::make_shared<SlotWaiter>(dispatcher, &r3);
  REQUIRE(admission->enqueue(w1));
  REQUIRE(admission->enqueue(w2));
  REQUIRE(admission->enqueue(w3));
  CHECK(w2->cancel());
  CHECK_FALSE(w2->cancel());  // only once
  CHECK(admission->pending() == 2);

  admission->release(backend);
  REQUIRE(runUntil(dispatcher, [&] { return r1.grants() == 1; }));
  admission->release(r1.lastBackend());
  REQUIRE(runUntil(dispatcher, [&] { return r3.grants() == 1; }));
  CHECK(r2.grants() == 0);
  CHECK(r1.grants() == 1);
  CHECK(admission->pending() == 0);
  CHECK(backend->activeConnections() == 1);  // held by w3
  admission->release(r3.lastBackend());
  CHECK(backend->activeConnections() == 0);
}

TEST_CASE("Admission drops many cancelled waiters without losing the live ones",
          "[upstream][admission]") {
  // Cancelling more than the garbage bound compacts the queue.
  core::Dispatcher dispatcher;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  fill(*backend);
  auto admission = admissionFor(backend, 1000);
  std::vector<GrantRecorder> recorders(300);
  std::vector<std::shared_ptr<SlotWaiter>> waiters;
  for (auto& r : recorders) {
    waiters.push_back(std::make_shared<SlotWaiter>(dispatcher, &r));
    REQUIRE(admission->enqueue(waiters.back()));
  }
  // Keep every 50th waiter; cancel the rest.
  for (size_t i = 0; i < waiters.size(); ++i) {
    if (i % 50 != 0) REQUIRE(waiters[i]->cancel());
  }
  CHECK(admission->pending() == 6);
  for (size_t kept = 0; kept < waiters.size(); kept += 50) {
    admission->release(backend);
    REQUIRE(runUntil(dispatcher, [&] { return recorders[kept].grants() == 1; }));
  }
  for (size_t i = 0; i < recorders.size(); ++i)
    CHECK(recorders[i].grants() == (i % 50 == 0 ? 1 : 0));
  CHECK(admission->pending() == 0);
  CHECK(backend->activeConnections() == 1);
}

TEST_CASE("Admission grant arriving after the waiter detached gives the slot back",
          "[upstream][admission]") {
  core::Dispatcher dispatcher;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, 1);
  fill(*backend);
  auto admission = admissionFor(backend, 10);
  GrantRecorder gone;
  auto w1 = std::make_shared<SlotWaiter>(dispatcher, &gone);
  REQUIRE(admission->enqueue(w1));

  SECTION("with nobody else waiting, the slot is free again") {
    admission->release(backend);  // granted to w1; the grant is posted
    CHECK(backend->activeConnections() == 1);
    CHECK_FALSE(w1->cancel());  // too late to cancel: the grant is on its way
    w1->detach();               // the session goes away
    w1.reset();
    REQUIRE(runUntil(dispatcher, [&] { return backend->activeConnections() == 0; }));
    CHECK(gone.grants() == 0);
    CHECK(admission->pending() == 0);
  }
  SECTION("with another waiter, the slot goes to it") {
    GrantRecorder next;
    auto w2 = std::make_shared<SlotWaiter>(dispatcher, &next);
    REQUIRE(admission->enqueue(w2));
    admission->release(backend);
    w1->detach();
    REQUIRE(runUntil(dispatcher, [&] { return next.grants() == 1; }));
    CHECK(gone.grants() == 0);
    CHECK(backend->activeConnections() == 1);
    admission->release(next.lastBackend());
    CHECK(backend->activeConnections() == 0);
  }
}

TEST_CASE("Admission grants from whichever backend of the cluster has room",
          "[upstream][admission]") {
  core::Dispatcher dispatcher;
  auto a = testing::makeBackend("10.0.0.1", 80, 1, 1);
  auto b = testing::makeBackend("10.0.0.2", 80, 1, 1);
  fill(*a);
  fill(*b);
  auto admission = std::make_shared<Admission>(std::vector<std::shared_ptr<Backend>>{a, b}, 10);
  GrantRecorder recorder;
  auto waiter = std::make_shared<SlotWaiter>(dispatcher, &recorder);
  REQUIRE(admission->enqueue(waiter));
  admission->release(b);
  REQUIRE(runUntil(dispatcher, [&] { return recorder.grants() == 1; }));
  CHECK(recorder.lastBackend() == b);
}

TEST_CASE("Admission does not grant a slot on an unavailable backend", "[upstream][admission]") {
  core::Dispatcher dispatcher;
  auto a = testing::makeBackend("10.0.0.1", 80, 1, 1);
  auto b = testing::makeBackend("10.0.0.2", 80, 1, 1);
  fill(*a);
  fill(*b);
  auto admission = std::make_shared<Admission>(std::vector<std::shared_ptr<Backend>>{a, b}, 10);
  GrantRecorder recorder;
  auto waiter = std::make_shared<SlotWaiter>(dispatcher, &recorder);
  REQUIRE(admission->enqueue(waiter));
  a->setHealthy(false);
  admission->release(a);  // free, but unhealthy
  CHECK(admission->pending() == 1);
  CHECK(a->activeConnections() == 0);
  admission->release(b);
  REQUIRE(runUntil(dispatcher, [&] { return recorder.grants() == 1; }));
  CHECK(recorder.lastBackend() == b);
}

// Sessions on four workers acquire (fast path or queue), hold briefly and
// release, some giving up while queued. A lost wake-up would leave a waiter
// stuck with free slots and nobody left to release: its wait times out.
TEST_CASE("Admission loses no wake-up under concurrent acquire, release and cancel",
          "[upstream][admission]") {
  constexpr int kWorkers = 4;
  constexpr int kSessions = 1500;
  constexpr uint32_t kSlots = 1;
  auto backend = testing::makeBackend("10.0.0.1", 80, 1, kSlots);
  auto admission = admissionFor(backend, 1000);

  std::atomic<int> fast{0}, granted{0}, cancelled{0}, full{0}, stuck{0}, lost{0}, sessions{0};
  std::atomic<uint32_t> maxActive{0};
  const auto deadline = std::chrono::steady_clock::now() + 2s;
  auto noteActive = [&] {
    const uint32_t now = backend->activeConnections();
    uint32_t seen = maxActive.load();
    while (now > seen && !maxActive.compare_exchange_weak(seen, now)) {
    }
  };

  // Holding a slot across a few yields makes the others queue behind it.
  auto hold = [] {
    for (int i = 0; i < 3; ++i)
      std::this_thread::yield();
  };

  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      core::Dispatcher dispatcher;
      for (int i = 0; i < kSessions && std::chrono::steady_clock::now() < deadline; ++i) {
        sessions.fetch_add(1);
        if (admission->pending() == 0 && backend->tryAcquireSlot()) {
          fast.fetch_add(1);
          noteActive();
          hold();
          admission->release(backend);
          continue;
        }
        GrantRecorder recorder;
        auto waiter = std::make_shared<SlotWaiter>(dispatcher, &recorder);
        if (!admission->enqueue(waiter)) {
          full.fetch_add(1);
          continue;
        }
        if ((i + w) % 4 == 0 && waiter->cancel()) {
          cancelled.fetch_add(1);
          continue;
        }
        if (!runUntil(
                dispatcher, [&] { return recorder.grants() == 1; }, 5s)) {
          stuck.fetch_add(1);
          if (waiter->cancel()) {
            cancelled.fetch_add(1);
            continue;
          }
          // A grant raced the give-up: take it and return it below. (No
          // Catch assertion here: they are not for other threads.)
          if (!runUntil(
                  dispatcher, [&] { return recorder.grants() == 1; }, 5s)) {
            lost.fetch_add(1);
            continue;
          }
        }
        granted.fetch_add(1);
        noteActive();
        hold();
        admission->release(recorder.lastBackend());
      }
    });
  }
  for (auto& t : workers)
    t.join();

  CHECK(stuck.load() == 0);
  CHECK(lost.load() == 0);
  CHECK(fast + granted + cancelled + full == sessions);
  CHECK(granted.load() > 0);
  CHECK(maxActive.load() <= kSlots);
  CHECK(admission->pending() == 0);
  CHECK(backend->activeConnections() == 0);
}

}  // namespace
}  // namespace sluice::upstream
