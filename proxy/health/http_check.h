#pragma once

// HttpCheck: the `type: http` probe.
//
//   connect ──ok──► write request ──► read until the status line ──► done(code in range)
//      │                                    │
//      └─fail/timeout──► done(false)        └─EOF, garbage, > 1 KiB, timeout──► done(false)
//
// Only the status line is read: the verdict needs nothing else, and the
// request says `Connection: close`, so closing right after is polite.
// Owner/thread/lifetime: see probe.h.

#include <memory>
#include <string>

#include "core/libevent.h"
#include "core/timer.h"
#include "health/probe.h"
#include "upstream/connector.h"

namespace sluice::health {

class HttpCheck : public Probe {
 public:
  HttpCheck(core::Dispatcher& dispatcher, const net::SocketAddress& address,
            const config::HealthCheck& check, Done done);

  // The status code in an HTTP/1.x status line ("HTTP/1.1 200 OK"), or -1.
  static int parseStatusLine(const std::string& line);

 private:
  static void onReadCb(bufferevent* bev, void* arg) noexcept;
  static void onEventCb(bufferevent* bev, short what, void* arg) noexcept;
  void onConnected(upstream::ConnectResult result);
  void onReadable();
  void finish(Verdict verdict, std::string detail);

  core::Dispatcher& dispatcher_;
  const net::SocketAddress address_;
  const std::string path_;
  const int statusMin_;
  const int statusMax_;
  Done done_;
  std::unique_ptr<upstream::Connector> connector_;
  core::BuffereventPtr bev_;
  core::Timer deadline_;
};

}  // namespace sluice::health
