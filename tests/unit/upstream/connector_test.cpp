#include "upstream/connector.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../../fakes/event_loop.h"
#include "../../fakes/loopback.h"
#include "core/timer.h"
#include "net/socket.h"

namespace sluice::upstream {
namespace {

using namespace std::chrono_literals;
using testing::runUntil;

using testing::closedPort;
using testing::loopback;
using testing::LoopbackListener;

TEST_CASE("Connector connects to a listening socket, reporting from the loop",
          "[upstream][connector]") {
  core::Dispatcher dispatcher;
  LoopbackListener server;
  REQUIRE(server.fd);
  std::optional<ConnectResult> result;
  Connector connector(dispatcher, server.address, 2s,
                      [&](ConnectResult r) { result = std::move(r); });
  CHECK_FALSE(result);  // never from inside the constructor
  REQUIRE(runUntil(dispatcher, [&] { return result.has_value(); }));
  REQUIRE(result->ok());
  CHECK(result->error.empty());
  CHECK(result->seconds >= 0);
  CHECK(result->seconds < 2);
  // The fd is the client end of a connection the server can accept.
  CHECK(net::localAddress(result->fd.get()).port() != 0);
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  core::Fd accepted(::accept(server.fd.get(), reinterpret_cast<sockaddr*>(&peer), &len));
  REQUIRE(accepted);
  CHECK(net::SocketAddress(reinterpret_cast<sockaddr*>(&peer), len).toString() ==
        net::localAddress(result->fd.get()).toString());
}

TEST_CASE("Connector reports Refused for a closed port", "[upstream][connector]") {
  core::Dispatcher dispatcher;
  std::optional<ConnectResult> result;
  Connector connector(dispatcher, closedPort(), 2s,
                      [&](ConnectResult r) { result = std::move(r); });
  CHECK_FALSE(result);
  REQUIRE(runUntil(dispatcher, [&] { return result.has_value(); }));
  CHECK_FALSE(result->ok());
  CHECK(result->failure == ConnectFailure::Refused);
  CHECK_FALSE(result->error.empty());
}

TEST_CASE("Connector reports a connect that fails at once from the loop as Error",
          "[upstream][connector]") {
  core::Dispatcher dispatcher;
  std::optional<ConnectResult> result;
  // No address family: socket() itself fails.
  Connector connector(dispatcher, net::SocketAddress(), 2s,
                      [&](ConnectResult r) { result = std::move(r); });
  CHECK_FALSE(result);
  REQUIRE(runUntil(dispatcher, [&] { return result.has_value(); }));
  CHECK_FALSE(result->ok());
  CHECK(result->failure == ConnectFailure::Error);
  CHECK_FALSE(result->error.empty());
}

TEST_CASE("Connector reports running out of descriptors as Local, not the backend's fault",
          "[upstream][connector]") {
  core::Dispatcher dispatcher;
  std::optional<ConnectResult> result;
  LoopbackListener listener;
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  rlimit none = saved;
  none.rlim_cur = 0;  // socket() now fails with EMFILE
  REQUIRE(setrlimit(RLIMIT_NOFILE, &none) == 0);
  {
    Connector connector(dispatcher, listener.address, 2s,
                        [&](ConnectResult r) { result = std::move(r); });
    REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    REQUIRE(runUntil(dispatcher, [&] { return result.has_value(); }));
  }
  CHECK_FALSE(result->ok());
  CHECK(result->failure == ConnectFailure::Local);
  CHECK(std::string(toString(ConnectFailure::Local)) == "local");
}

TEST_CASE("Connector destroyed before completion never runs its callback",
          "[upstream][connector]") {
  core::Dispatcher dispatcher;
  LoopbackListener server;
  REQUIRE(server.fd);
  int calls = 0;
  SECTION("to a listening socket") {
    auto connector = std::make_unique<Connector>(dispatcher, server.address, 2s,
                                                 [&](ConnectResult) { ++calls; });
    connector.reset();
  }
  SECTION("to a closed port") {
    auto connector =
        std::make_unique<Connector>(dispatcher, closedPort(), 2s, [&](ConnectResult) { ++calls; });
    connector.reset();
  }
  SECTION("failing at once") {
    auto connector = std::make_unique<Connector>(dispatcher, net::SocketAddress(), 2s,
                                                 [&](ConnectResult) { ++calls; });
    connector.reset();
  }
  bool sentinel = false;
  core::Timer later(dispatcher, [&] { sentinel = true; });
  later.enable(50ms);
  REQUIRE(runUntil(dispatcher, [&] { return sentinel; }));
  CHECK(calls == 0);
}

TEST_CASE("Connector callback may destroy its Connector", "[upstream][connector]") {
  core::Dispatcher dispatcher;
  LoopbackListener server;
  REQUIRE(server.fd);
  std::unique_ptr<Connector> connector;
  bool ok = false;
  connector = std::make_unique<Connector>(dispatcher, server.address, 2s, [&](ConnectResult r) {
    ok = r.ok();
    connector.reset();
  });
  REQUIRE(runUntil(dispatcher, [&] { return connector == nullptr; }));
  CHECK(ok);
}

TEST_CASE("Connector reports Timeout when the listener's backlog is full",
          "[upstream][connector]") {
  // listen(0) admits one connection to the accept queue; while it sits there
  // unaccepted, the kernel drops further SYNs and connects hang.
  core::Fd server(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(server);
  const auto any = loopback(0);
  REQUIRE(::bind(server.get(), any.raw(), any.length()) == 0);
  REQUIRE(::listen(server.get(), 0) == 0);
  const auto address = net::localAddress(server.get());

  std::vector<core::Fd> fillers;
  for (int i = 0; i < 2; ++i) {
    bool inProgress = false;
    std::string error;
    fillers.push_back(net::startConnect(address, &inProgress, &error));
    REQUIRE(fillers.back());
  }
  REQUIRE(testing::waitFor(fillers.front().get(), POLLOUT));
  REQUIRE(net::socketError(fillers.front().get()) == 0);

  core::Dispatcher dispatcher;
  std::optional<ConnectResult> result;
  const auto start = std::chrono::steady_clock::now();
  Connector connector(dispatcher, address, 150ms, [&](ConnectResult r) { result = std::move(r); });
  REQUIRE(runUntil(dispatcher, [&] { return result.has_value(); }));
  CHECK_FALSE(result->ok());
  CHECK(result->failure == ConnectFailure::Timeout);
  CHECK(result->error == "connect timeout");
  CHECK(std::chrono::steady_clock::now() - start >= 140ms);
  CHECK(result->seconds >= 0.14);
}

}  // namespace
}  // namespace sluice::upstream
