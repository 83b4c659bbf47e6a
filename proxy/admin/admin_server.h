#pragma once

// AdminServer: the admin HTTP port (evhttp on the main thread's loop).
//
// Owner: the Server. Thread: main. Handlers read the runtime's atomics and
// the workers' session counts; nothing here touches a worker's data.
//
//   GET  /live     200 while the main loop runs
//   GET  /ready    200 when serving and every cluster has a healthy backend; 503 otherwise
//   GET  /metrics  Prometheus text format
//   GET  /stats    JSON: listeners, clusters, backends, pools
//   GET  /config   the effective config as JSON
//   POST /reload   same as SIGHUP
//   POST /drain    start draining; stay up until SIGTERM
// Anything else: 404; a known path with the wrong method: 405.

#include <event2/http.h>

#include <memory>
#include <string>

#include "config/config.h"
#include "core/dispatcher.h"

namespace sluice::core {
class Server;
}

namespace sluice::admin {

class AdminServer {
 public:
  AdminServer(core::Dispatcher& dispatcher, core::Server& server);
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  bool bind(const config::HostPort& address, std::string* error);

 private:
  struct HttpDeleter {
    void operator()(evhttp* http) const noexcept { evhttp_free(http); }
  };
  static void onRequest(evhttp_request* request, void* arg) noexcept;
  void handle(evhttp_request* request);

  core::Server& server_;
  std::unique_ptr<evhttp, HttpDeleter> http_;
};

}  // namespace sluice::admin
