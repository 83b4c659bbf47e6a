#pragma once

// ProxyProtocolReader: takes the PROXY v1/v2 header off a freshly accepted
// connection (listener `proxy_protocol: true`) before any session exists.
//
//   accepted ──readable──► peek ──parse──┬─ NeedMore: every peeked byte is header:
//      │                                 │            recv them, wait for more
//      │                                 ├─ Done: recv the rest of the header only,
//      │                                 │        hand fd + addresses to the worker
//      └── proxy_protocol_timeout ───────┴─ Error/EOF/timeout: close, report why
//
// The reader never reads past the header: it peeks (MSG_PEEK), and only
// consumes bytes the parser has proven to be header bytes. Whatever the
// client sent after the header is still in the socket when the session
// takes the fd, so any session type (tcp or http) reads it first, as if no
// header had been there; nothing is copied or handed over.
//
// Owner: the Worker (one per connection still in its header). Thread: that
// worker. `done` runs exactly once, from the loop; the worker then frees the
// reader through deferredDelete().

#include <functional>
#include <string>
#include <vector>

#include "core/dispatcher.h"
#include "core/fd.h"
#include "core/libevent.h"
#include "core/timer.h"
#include "net/address.h"
#include "net/proxy_protocol.h"

namespace sluice::net {

class ProxyProtocolReader : public core::DeferredDeletable {
 public:
  struct Result {
    core::Fd fd;           // valid on success
    SocketAddress client;  // the header's source, or the socket peer (LOCAL/UNKNOWN)
    std::string error;     // empty on success
  };
  using Done = std::function<void(ProxyProtocolReader*, Result)>;

  ProxyProtocolReader(core::Dispatcher& dispatcher, core::Fd fd, const SocketAddress& peer,
                      std::chrono::milliseconds timeout, Done done);
  ProxyProtocolReader(const ProxyProtocolReader&) = delete;
  ProxyProtocolReader& operator=(const ProxyProtocolReader&) = delete;

 private:
  static void onReadable(evutil_socket_t, short, void* arg) noexcept;
  void readSome();
  void finish(std::string error);

  core::Fd fd_;
  const SocketAddress peer_;
  Done done_;
  core::EventPtr event_;
  core::Timer timeout_;
  std::vector<uint8_t> header_;  // bytes consumed so far, all of them header
  proxy_protocol::ParseResult parsed_;
};

}  // namespace sluice::net
