#include "net/listener.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/clock.h"
#include "core/log.h"

namespace sluice::net {
namespace {

// Accepts per wake-up before yielding to the other events of the loop, so
// a connection storm cannot starve established sessions.
constexpr int kAcceptBatch = 64;
constexpr std::chrono::milliseconds kPauseOnExhaustion{100};
constexpr int64_t kPauseLogIntervalMs = 5000;

}  // namespace

Listener::Listener(core::Dispatcher& dispatcher, std::string name, core::Fd socket,
                   AcceptHandler onAccept)
    : name_(std::move(name)),
      socket_(std::move(socket)),
      onAccept_(std::move(onAccept)),
      event_(event_new(dispatcher.base(), socket_.get(), EV_READ | EV_PERSIST,
                       &Listener::onReadable, this)),
      resumeTimer_(dispatcher, [this] {
        if (state_ != State::Paused) return;
        state_ = State::Active;
        event_add(event_.get(), nullptr);
      }) {
  event_add(event_.get(), nullptr);
}

void Listener::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  resumeTimer_.disable();
  event_.reset();
  socket_.reset();
}

void Listener::onReadable(evutil_socket_t, short, void* arg) noexcept {
  static_cast<Listener*>(arg)->acceptSome();
}

void Listener::acceptSome() {
  for (int i = 0; i < kAcceptBatch && state_ == State::Active; ++i) {
    sockaddr_storage peer{};
    socklen_t peerLen = sizeof peer;
    int fd = ::accept4(socket_.get(), reinterpret_cast<sockaddr*>(&peer), &peerLen,
                       SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pause();
        return;
      }
      ++acceptErrors_;
      log::warn("listener ", name_, ": accept: ", std::strerror(errno));
      return;
    }
    onAccept_(core::Fd(fd), SocketAddress(reinterpret_cast<sockaddr*>(&peer), peerLen));
  }
}

void Listener::pause() {
  const int err = errno;
  ++acceptErrors_;
  state_ = State::Paused;
  event_del(event_.get());
  resumeTimer_.enable(kPauseOnExhaustion);
  const int64_t now = core::monotonicMs();
  if (now - lastPauseLogMs_ >= kPauseLogIntervalMs) {
    lastPauseLogMs_ = now;
    log::warn("listener ", name_, ": accept: ", std::strerror(err),
              "; pausing accepts (raise the open-file limit, see `sluice doctor`)");
  }
}

}  // namespace sluice::net
