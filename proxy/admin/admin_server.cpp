#include "admin/admin_server.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include <cstring>
#include <stdexcept>

#include "admin/stats_json.h"
#include "config/loader.h"
#include "core/server.h"
#include "metrics/collector.h"

namespace sluice::admin {
namespace {

void reply(evhttp_request* request, int status, const char* reason, const std::string& body,
           const char* contentType = "text/plain; charset=utf-8") {
  evkeyvalq* headers = evhttp_request_get_output_headers(request);
  evhttp_add_header(headers, "Content-Type", contentType);
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evbuffer* out = evhttp_request_get_output_buffer(request);
  evbuffer_add(out, body.data(), body.size());
  evhttp_send_reply(request, status, reason, nullptr);
}

}  // namespace

AdminServer::AdminServer(core::Dispatcher& dispatcher, core::Server& server)
    : server_(server), http_(evhttp_new(dispatcher.base())) {
  if (!http_) throw std::runtime_error("evhttp_new failed");
  evhttp_set_allowed_methods(http_.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                              EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
  evhttp_set_gencb(http_.get(), &AdminServer::onRequest, this);
  evhttp_set_timeout(http_.get(), 10);
}

bool AdminServer::bind(const config::HostPort& address, std::string* error) {
  if (evhttp_bind_socket(http_.get(), address.host.c_str(), address.port) != 0) {
    *error = "cannot bind " + address.toString() + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

void AdminServer::onRequest(evhttp_request* request, void* arg) noexcept {
  try {
    static_cast<AdminServer*>(arg)->handle(request);
  } catch (const std::exception& e) {
    reply(request, 500, "Internal Server Error", std::string(e.what()) + "\n");
  }
}

void AdminServer::handle(evhttp_request* request) {
  const char* uri = evhttp_request_get_uri(request);
  std::string path = uri != nullptr ? uri : "/";
  if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
  const auto method = evhttp_request_get_command(request);
  const bool isGet = method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
  const bool isPost = method == EVHTTP_REQ_POST;

  auto expect = [&](bool allowed, const char* allow) {
    if (allowed) return true;
    evhttp_add_header(evhttp_request_get_output_headers(request), "Allow", allow);
    reply(request, 405, "Method Not Allowed", "method not allowed\n");
    return false;
  };

  if (path == "/live") {
    if (expect(isGet, "GET")) reply(request, 200, "OK", "live\n");
  } else if (path == "/ready") {
    if (!expect(isGet, "GET")) return;
    if (server_.draining()) {
      reply(request, 503, "Service Unavailable", "draining\n");
    } else if (!server_.ready()) {
      reply(request, 503, "Service Unavailable", "no healthy backend\n");
    } else {
      reply(request, 200, "OK", "ready\n");
    }
  } else if (path == "/metrics") {
    if (expect(isGet, "GET")) {
      reply(request, 200, "OK", metrics::render(server_), "text/plain; version=0.0.4");
    }
  } else if (path == "/stats") {
    if (expect(isGet, "GET")) reply(request, 200, "OK", statsJson(server_), "application/json");
  } else if (path == "/config") {
    if (expect(isGet, "GET")) {
      reply(request, 200, "OK", config::toJson(*server_.config()), "application/json");
    }
  } else if (path == "/drain") {
    if (!expect(isPost, "POST")) return;
    server_.beginDrain(core::Server::DrainMode::StayUp);
    reply(request, 202, "Accepted", "draining\n");
  } else if (path == "/reload") {
    if (!expect(isPost, "POST")) return;
    const auto result = server_.reload();
    if (result.ok) {
      reply(request, 200, "OK", "reloaded: " + result.summary + "\n");
    } else {
      std::string body;
      for (const auto& line : result.errors)
        body += line + "\n";
      reply(request, 400, "Bad Request", body);
    }
  } else {
    reply(request, 404, "Not Found", "not found\n");
  }
}

}  // namespace sluice::admin
