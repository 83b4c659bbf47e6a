#include "net/listener.h"

#include <poll.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "../../fakes/event_loop.h"
#include "../../fakes/loopback.h"
#include "core/timer.h"
#include "net/socket.h"

namespace sluice::net {
namespace {

using namespace std::chrono_literals;
using testing::runUntil;

struct Accepted {
  core::Fd fd;
  SocketAddress peer;
};

TEST_CASE("Listener accepts connections and hands over the fd and peer address",
          "[net][listener]") {
  core::Dispatcher dispatcher;
  std::string error;
  core::Fd socket = listenOn(testing::loopback(0), false, &error);
  REQUIRE(socket);
  const SocketAddress address = localAddress(socket.get());
  std::vector<Accepted> accepted;
  Listener listener(dispatcher, "web", std::move(socket),
                    [&](core::Fd fd, const SocketAddress& peer) {
                      accepted.push_back({std::move(fd), peer});
                    });
  CHECK(listener.name() == "web");
  CHECK(listener.state() == Listener::State::Active);

  std::vector<core::Fd> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(testing::connectTo(address));
    REQUIRE(clients.back());
  }
  CHECK(accepted.empty());  // accepting happens on the loop
  REQUIRE(runUntil(dispatcher, [&] { return accepted.size() == clients.size(); }));
  CHECK(listener.acceptErrors() == 0);

  for (size_t i = 0; i < clients.size(); ++i) {
    const auto clientSide = localAddress(clients[i].get());
    // Accepted in connection order from one backlog.
    CHECK(accepted[i].peer.toString() == clientSide.toString());
    CHECK(accepted[i].peer.sameIp(clientSide));
    REQUIRE(accepted[i].fd);
    // The handed-over fd is the other end of that client's connection.
    const std::string greeting = "hello " + std::to_string(i);
    REQUIRE(::send(clients[i].get(), greeting.data(), greeting.size(), 0) ==
            static_cast<ssize_t>(greeting.size()));
    REQUIRE(testing::waitFor(accepted[i].fd.get(), POLLIN));
    char buffer[64] = {};
    const ssize_t got = ::recv(accepted[i].fd.get(), buffer, sizeof buffer, 0);
    CHECK(std::string(buffer, got > 0 ? static_cast<size_t>(got) : 0) == greeting);
  }
}

TEST_CASE("Listener hands over non-blocking sockets", "[net][listener]") {
  core::Dispatcher dispatcher;
  std::string error;
  core::Fd socket = listenOn(testing::loopback(0), false, &error);
  REQUIRE(socket);
  const SocketAddress address = localAddress(socket.get());
  core::Fd handed;
  Listener listener(dispatcher, "l", std::move(socket),
                    [&](core::Fd fd, const SocketAddress&) { handed = std::move(fd); });
  core::Fd client = testing::connectTo(address);
  REQUIRE(client);
  REQUIRE(runUntil(dispatcher, [&] { return handed.valid(); }));
  char byte;
  CHECK(::recv(handed.get(), &byte, 1, 0) == -1);
  CHECK((errno == EAGAIN || errno == EWOULDBLOCK));
}

TEST_CASE("Listener close() stops accepting", "[net][listener]") {
  core::Dispatcher dispatcher;
  std::string error;
  core::Fd socket = listenOn(testing::loopback(0), false, &error);
  REQUIRE(socket);
  const SocketAddress address = localAddress(socket.get());
  int handled = 0;
  Listener listener(dispatcher, "l", std::move(socket),
                    [&](core::Fd, const SocketAddress&) { ++handled; });

  // A client already in the backlog when the listener closes is never handed over.
  core::Fd queued = testing::connectTo(address);
  REQUIRE(queued);
  listener.close();
  CHECK(listener.state() == Listener::State::Closed);
  listener.close();  // idempotent
  CHECK(listener.state() == Listener::State::Closed);

  bool sentinel = false;
  core::Timer later(dispatcher, [&] { sentinel = true; });
  later.enable(50ms);
  REQUIRE(runUntil(dispatcher, [&] { return sentinel; }));
  CHECK(handled == 0);
  // The port is really closed: new connections are refused.
  CHECK_FALSE(testing::connectTo(address));
}

}  // namespace
}  // namespace sluice::net
