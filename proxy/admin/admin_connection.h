#pragma once

// AdminConnection: one client of the admin port, served with sluice's own
// small HTTP/1.1 code on a core::StreamSocket (evhttp buffered whatever a
// client sent and closed its sockets before removing their events).
//
// Owner: the AdminServer (a map of unique_ptr). Thread: main. It ends only
// through close(), which removes the socket's events, then closes the fd,
// then hands the object to the owner for a deferred delete.
//
//   Reading ──head (+ body, discarded)──► handler ──► Writing ──flushed──► Reading
//     │  malformed / too large / timeout                        │ Connection: close
//     ▼                                                         ▼
//   error response, then Lingering (shutdown, discard input, 1 s) ──► Closed
//
// Bounds: the head is capped at kMaxHeadBytes and kMaxFields, a body at
// kMaxBodyBytes (never stored: only counted off), every state at a timer,
// and reading pauses while a response waits for the socket, so a client
// holds at most ~24 KiB of input here however it behaves.

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "admin/request_head.h"
#include "core/dispatcher.h"
#include "core/fd.h"
#include "core/stream_socket.h"
#include "core/timer.h"

namespace sluice::admin {

struct AdminResponse {
  AdminResponse() = default;
  AdminResponse(int status, std::string body, std::string contentType = "text/plain; charset=utf-8")
      : status(status), body(std::move(body)), contentType(std::move(contentType)) {}

  int status = 200;
  std::string body;
  std::string contentType = "text/plain; charset=utf-8";
  std::string extraHeaders;  // whole "Name: value\r\n" lines
};

class AdminConnection final : public core::DeferredDeletable, private core::StreamSocket::Handler {
 public:
  class Owner {
   public:
    virtual AdminResponse handle(const RequestHead& head, const AdminConnection& from) = 0;
    // The connection has closed its socket; the owner deletes it (deferred).
    virtual void connectionDone(AdminConnection* connection) = 0;

   protected:
    ~Owner() = default;
  };

  // `loopbackPort`: the listener it came through is bound to a loopback address.
  AdminConnection(core::Dispatcher& dispatcher, core::Fd fd, Owner& owner, bool loopbackPort);
  AdminConnection(const AdminConnection&) = delete;
  AdminConnection& operator=(const AdminConnection&) = delete;

  bool loopbackPort() const { return loopbackPort_; }
  // Closes at once, whatever the state (the owner makes room for a new client).
  void evict() { close(); }

 private:
  enum class State { Reading, Writing, Lingering, Closed };

  void onReadable(core::StreamSocket& socket) override;
  void onFlushed(core::StreamSocket& socket) override;
  void onWriteError(core::StreamSocket& socket, int error) override;
  void onTimeout();
  void consume(const char* data, size_t size);
  void processInput();
  void respond(const RequestHead& head);
  void fail(int status, const std::string& text);
  void send(const AdminResponse& response, bool close, bool headOnly);
  void responseWritten();
  void close();

  Owner& owner_;
  const bool loopbackPort_;
  core::StreamSocket socket_;
  core::Timer timer_;
  State state_ = State::Reading;
  std::string input_;                       // head bytes not yet parsed
  uint64_t bodyLeft_ = 0;                   // body bytes still to skip
  std::optional<RequestHead> waitingBody_;  // the request whose body is being skipped
  bool closeAfterWrite_ = false;
  bool lingerAfterWrite_ = false;
  uint64_t lingerBytes_ = 0;
};

}  // namespace sluice::admin
