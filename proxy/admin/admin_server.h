#pragma once

// AdminServer: the admin port, on the main thread's loop, with sluice's own
// listeners (net::Listener: accepts pause on EMFILE instead of spinning)
// and connections (admin_connection.h).
//
// Owner: the Server. Thread: main. Handlers (handlers.h) read the
// runtime's atomics and the workers' session counts; nothing here touches
// a worker's data.
//
// Two kinds of endpoints (handlers.h has the table):
//   probe    GET /live, /ready, /metrics: answered on every admin listener
//   control  /stats, /config, POST /reload, /drain, /undrain: answered on a
//            listener bound to a loopback address (127.0.0.0/8, ::1), or on
//            any listener with `Authorization: Bearer <admin.token_file>`;
//            otherwise 401 (a token is configured) or 403 (none is)
//
// Listeners: `admin.address`, and `admin.control_address` when set (the
// control endpoints on loopback while probes are on the pod network).
// Each takes at most kMaxConnectionsPerPort clients at once; past that the
// port's oldest client is closed to make room. Refusing the new one instead
// let anyone who can reach the port keep kubelet probes out with 64 idle
// sockets (liveness failed, every replica restarted); a probe sends its
// request as soon as it connects, so the newest connection must get in.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "admin/admin_connection.h"
#include "config/config.h"
#include "core/dispatcher.h"
#include "net/listener.h"

namespace sluice::process {
class Server;
}

namespace sluice::admin {

inline constexpr size_t kMaxConnectionsPerPort = 64;

class AdminServer final : private AdminConnection::Owner {
 public:
  AdminServer(core::Dispatcher& dispatcher, process::Server& server);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;
  ~AdminServer();

  // Binds admin.address (and admin.control_address). False with `*error`.
  bool bind(const config::Admin& admin, std::string* error);
  // The bearer token control requests may present; nullopt: none.
  void setToken(std::optional<std::string> token) { token_ = std::move(token); }

 private:
  struct Port {
    std::string name;
    bool loopback = false;
    size_t connections = 0;
    std::unique_ptr<net::Listener> listener;
  };
  bool bindPort(const std::string& name, const config::HostPort& address, std::string* error);
  void onAccept(Port& port, core::Fd fd);
  AdminResponse handle(const RequestHead& head, const AdminConnection& from) override;
  void connectionDone(AdminConnection* connection) override;

  core::Dispatcher& dispatcher_;
  process::Server& server_;
  std::optional<std::string> token_;
  std::vector<std::unique_ptr<Port>> ports_;
  struct Client {
    std::unique_ptr<AdminConnection> connection;
    Port* port;         // the port it counts against
    uint64_t accepted;  // accept order: the lowest is evicted first
  };
  std::unordered_map<AdminConnection*, Client> connections_;
  uint64_t accepts_ = 0;
};

}  // namespace sluice::admin
