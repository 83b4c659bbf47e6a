#pragma once

// Listener: one worker's accepting socket for one `listeners:` entry.
//
// Owner: a Worker. Thread: that worker. Each worker binds its own socket
// with SO_REUSEPORT, so the kernel spreads new connections across workers
// and no accept ever crosses a thread.
//
//   Active ──EMFILE/ENFILE──► Paused ──retry timer──► Active
//     │                          │
//     └────────── close() ───────┴──► Closed
//
// Paused is how running out of file descriptors is survived: accepting stops
// (the kernel keeps queueing in the backlog) and resumes after a short
// delay, instead of spinning on a readable socket that accept() refuses.

#include <functional>
#include <string>

#include "core/dispatcher.h"
#include "core/fd.h"
#include "core/libevent.h"
#include "core/timer.h"
#include "net/address.h"

namespace sluice::net {

class Listener {
 public:
  enum class State { Active, Paused, Closed };
  using AcceptHandler = std::function<void(core::Fd, const SocketAddress&)>;

  // Takes over an already listening socket.
  Listener(core::Dispatcher& dispatcher, std::string name, core::Fd socket, AcceptHandler onAccept);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void close();
  State state() const { return state_; }
  const std::string& name() const { return name_; }
  // accept() errors other than running out of descriptors (counted, logged).
  uint64_t acceptErrors() const { return acceptErrors_; }

 private:
  static void onReadable(evutil_socket_t, short, void* arg) noexcept;
  void acceptSome();
  void pause();

  std::string name_;
  core::Fd socket_;
  AcceptHandler onAccept_;
  core::EventPtr event_;
  core::Timer resumeTimer_;
  State state_ = State::Active;
  int64_t lastPauseLogMs_ = -1000000;
  uint64_t acceptErrors_ = 0;
};

}  // namespace sluice::net
