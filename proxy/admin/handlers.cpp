#include "admin/handlers.h"

#include <string_view>

#include "admin/metrics_text.h"
#include "admin/stats_json.h"
#include "config/loader.h"
#include "process/server.h"

namespace sluice::admin {
namespace {

using process::Server;

enum class Kind { Probe, Control };

struct Route {
  std::string_view path;
  bool post;  // else GET (and HEAD)
  Kind kind;
  AdminResponse (*answer)(Server& server);
};

AdminResponse text(int status, std::string body) {
  return AdminResponse{status, std::move(body)};
}

AdminResponse json(std::string body) {
  return AdminResponse{200, std::move(body), "application/json"};
}

AdminResponse ready(Server& server) {
  if (server.draining()) return text(503, "draining\n");
  if (auto cluster = server.unreadyCluster()) {
    return text(503, "cluster " + *cluster + " has no available backend\n");
  }
  return text(200, "ready\n");
}

AdminResponse reload(Server& server) {
  const auto result = server.reload();
  if (result.ok) return text(200, "reloaded: " + result.summary + "\n");
  std::string body;
  for (const auto& line : result.errors)
    body += line + "\n";
  return text(400, body);
}

AdminResponse undrain(Server& server) {
  std::string error;
  switch (server.endDrain(&error)) {
    case Server::UndrainResult::Resumed:
      return text(200, "serving\n");
    case Server::UndrainResult::NotDraining:
      return text(200, "not draining\n");
    case Server::UndrainResult::SignalDrain:
      return text(409, "draining for a signal: cannot undo\n");
    case Server::UndrainResult::Failed:
      break;
  }
  return text(500, "cannot listen again: " + error + "\n");
}

constexpr Route kRoutes[] = {
    {"/live", false, Kind::Probe, [](Server&) { return text(200, "live\n"); }},
    {"/ready", false, Kind::Probe, ready},
    {"/metrics", false, Kind::Probe,
     [](Server& s) {
       return AdminResponse{200, renderMetrics(s), "text/plain; version=0.0.4"};
     }},
    {"/stats", false, Kind::Control, [](Server& s) { return json(statsJson(s)); }},
    {"/config", false, Kind::Control, [](Server& s) { return json(config::toJson(*s.config())); }},
    {"/reload", true, Kind::Control, reload},
    {"/drain", true, Kind::Control,
     [](Server& s) {
       s.beginDrain(Server::DrainMode::StayUp);
       return text(202, "draining\n");
     }},
    {"/undrain", true, Kind::Control, undrain},
};

}  // namespace

AdminResponse handleRequest(Server& server, const RequestHead& head, const Access& access) {
  for (const Route& route : kRoutes) {
    if (route.path != head.path) continue;
    const bool allowed =
        route.post ? head.method == "POST" : head.method == "GET" || head.method == "HEAD";
    if (!allowed) {
      AdminResponse response = text(405, "method not allowed\n");
      response.extraHeaders = route.post ? "Allow: POST\r\n" : "Allow: GET\r\n";
      return response;
    }
    if (route.kind == Kind::Control && !access.loopbackPort && !access.tokenValid) {
      if (!access.tokenConfigured) {
        return text(403,
                    "control endpoints answer on a loopback admin address or with "
                    "admin.token_file\n");
      }
      AdminResponse response =
          text(401, access.tokenPresented ? "invalid token\n" : "bearer token required\n");
      response.extraHeaders = "WWW-Authenticate: Bearer realm=\"sluice-admin\"\r\n";
      return response;
    }
    return route.answer(server);
  }
  return text(404, "not found\n");
}

}  // namespace sluice::admin
