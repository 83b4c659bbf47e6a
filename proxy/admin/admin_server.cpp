#include "admin/admin_server.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "admin/handlers.h"
#include "admin/token.h"
#include "core/log.h"
#include "net/socket.h"

namespace sluice::admin {
namespace {

// 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104: only this host can connect.
bool isLoopback(const net::SocketAddress& address) {
  const sockaddr* raw = address.raw();
  if (raw->sa_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(raw);
    return (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
  }
  if (raw->sa_family == AF_INET6) {
    const in6_addr& ip = reinterpret_cast<const sockaddr_in6*>(raw)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&ip)) return true;
    return IN6_IS_ADDR_V4MAPPED(&ip) && ip.s6_addr[12] == 127;
  }
  return false;
}

}  // namespace

AdminServer::AdminServer(core::Dispatcher& dispatcher, process::Server& server)
    : dispatcher_(dispatcher), server_(server) {}

// Connections first (each removes its events, then closes its fd), then the
// listeners.
AdminServer::~AdminServer() {
  connections_.clear();
  ports_.clear();
}

bool AdminServer::bind(const config::Admin& admin, std::string* error) {
  if (!bindPort("admin", admin.address, error)) return false;
  if (admin.controlAddress && !bindPort("admin-control", *admin.controlAddress, error)) {
    return false;
  }
  const bool controlReachable =
      std::any_of(ports_.begin(), ports_.end(), [](const auto& port) { return port->loopback; });
  if (!controlReachable && !token_) {
    log::warn("admin: ", admin.address.toString(),
              " is not a loopback address and neither admin.control_address nor "
              "admin.token_file is set: /stats, /config, /reload, /drain and /undrain answer 403 "
              "(SIGHUP reloads, SIGTERM drains)");
  }
  return true;
}

bool AdminServer::bindPort(const std::string& name, const config::HostPort& address,
                           std::string* error) {
  auto resolved = net::SocketAddress::resolve(address, error);
  if (resolved.empty()) {
    *error = "cannot resolve " + address.toString() + ": " + *error;
    return false;
  }
  core::Fd fd = net::listenOn(resolved.front(), false, error);
  if (!fd) {
    *error = "cannot bind " + address.toString() + ": " + *error;
    return false;
  }
  auto port = std::make_unique<Port>();
  Port* raw = port.get();
  port->name = name;
  port->loopback = isLoopback(resolved.front());
  port->listener = std::make_unique<net::Listener>(
      dispatcher_, name, std::move(fd), [this, raw](core::Fd accepted, const net::SocketAddress&) {
        onAccept(*raw, std::move(accepted));
      });
  ports_.push_back(std::move(port));
  return true;
}

void AdminServer::onAccept(Port& port, core::Fd fd) {
  if (port.connections >= kMaxConnectionsPerPort) {
    AdminConnection* oldest = nullptr;
    uint64_t oldestAccepted = UINT64_MAX;
    for (const auto& [raw, client] : connections_) {
      if (client.port == &port && client.accepted < oldestAccepted) {
        oldest = raw;
        oldestAccepted = client.accepted;
      }
    }
    log::debug(port.name, ": ", kMaxConnectionsPerPort, " clients already; closing the oldest");
    if (oldest != nullptr) oldest->evict();  // connectionDone() uncounts it
  }
  ++port.connections;
  auto connection = std::make_unique<AdminConnection>(
      dispatcher_, std::move(fd), static_cast<AdminConnection::Owner&>(*this), port.loopback);
  AdminConnection* raw = connection.get();
  connections_.emplace(raw, Client{std::move(connection), &port, accepts_++});
}

void AdminServer::connectionDone(AdminConnection* connection) {
  auto it = connections_.find(connection);
  if (it == connections_.end()) return;
  --it->second.port->connections;
  dispatcher_.deferredDelete(std::move(it->second.connection));
  connections_.erase(it);
}

AdminResponse AdminServer::handle(const RequestHead& head, const AdminConnection& from) {
  Access access;
  access.loopbackPort = from.loopbackPort();
  access.tokenConfigured = token_.has_value();
  access.tokenPresented = head.bearer.has_value();
  access.tokenValid = token_ && head.bearer && tokenMatches(*token_, *head.bearer);
  return handleRequest(server_, head, access);
}

}  // namespace sluice::admin
