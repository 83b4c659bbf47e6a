#pragma once

// The admin endpoints: what each answers and who may call it.
//
//   path       method     kind     answer
//   /live      GET, HEAD  probe    200 while the main loop runs
//   /ready     GET, HEAD  probe    200 while listening and not draining, and every
//                                  cluster with `readiness: requires_backend` has an
//                                  available backend; else 503
//   /metrics   GET, HEAD  probe    Prometheus text format
//   /stats     GET, HEAD  control  JSON: listeners, clusters, backends (addresses), pools
//   /config    GET, HEAD  control  the effective config as JSON
//   /reload    POST       control  same as SIGHUP
//   /drain     POST       control  drain; stay up until SIGTERM (or POST /undrain)
//   /undrain   POST       control  end a drain POST /drain started: listen again
//
// Unknown path: 404; known path, wrong method: 405 with Allow; a control
// endpoint without access (see admin_server.h): 401 or 403.

#include "admin/admin_connection.h"
#include "admin/request_head.h"

namespace sluice::process {
class Server;
}

namespace sluice::admin {

struct Access {
  bool loopbackPort = false;  // came through a listener bound to loopback
  bool tokenConfigured = false;
  bool tokenPresented = false;  // an `Authorization: Bearer` field was sent
  bool tokenValid = false;
};

AdminResponse handleRequest(process::Server& server, const RequestHead& head, const Access& access);

}  // namespace sluice::admin
