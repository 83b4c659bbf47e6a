#include "core/stream_socket.h"

#include <sys/socket.h>

#include <cerrno>

namespace sluice::core {
namespace {

bool wouldBlock(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

}  // namespace

StreamSocket::StreamSocket(Dispatcher& dispatcher, core::Fd fd, Handler& handler)
    : handler_(&handler), base_(dispatcher.base()), fd_(std::move(fd)) {
  readEvent_.assign(base_, fd_.get(), EV_READ | EV_PERSIST, &StreamSocket::onReadEvent, this);
  event_add(readEvent_.get(), nullptr);
}

// Most sockets are idle most of the time, and most writes complete at once:
// the output queue and its write event exist only while bytes wait.
void StreamSocket::ensureWriteSide() {
  if (!output_) output_.reset(evbuffer_new());
  if (!writeEvent_) {
    writeEvent_.reset(
        event_new(base_, fd_.get(), EV_WRITE | EV_PERSIST, &StreamSocket::onWriteEvent, this));
  }
}

void StreamSocket::queue(const char* data, size_t size, evbuffer* chains) {
  ensureWriteSide();
  if (chains != nullptr) {
    evbuffer_add_buffer(output_.get(), chains);
  } else {
    evbuffer_add(output_.get(), data, size);
  }
  if (!writeArmed_) {
    writeArmed_ = true;
    event_add(writeEvent_.get(), nullptr);
  }
}

// The events go before the fd closes (members are destroyed in reverse
// order, and fd_ is declared before them), so epoll never holds a closed fd.
StreamSocket::~StreamSocket() = default;

StreamSocket::ReadResult StreamSocket::read(std::span<char> into) {
  const ssize_t n = ::recv(fd_.get(), into.data(), into.size(), 0);
  if (n > 0) return {ReadStatus::Data, static_cast<size_t>(n)};
  if (n == 0) return {ReadStatus::Eof};
  if (wouldBlock(errno)) return {ReadStatus::WouldBlock};
  return {ReadStatus::Error, 0, errno};
}

bool StreamSocket::send(const char* data, size_t size) {
  if (writeError_ != 0) return false;
  if (size == 0) return true;
  if (pending() == 0) {
    const ssize_t n = ::send(fd_.get(), data, size, MSG_NOSIGNAL);
    if (n < 0 && !wouldBlock(errno)) {
      failWrite(errno);
      return false;
    }
    const auto sent = static_cast<size_t>(n > 0 ? n : 0);
    data += sent;
    size -= sent;
    if (size == 0) return true;
  }
  queue(data, size, nullptr);
  return true;
}

bool StreamSocket::send(evbuffer* data) {
  if (writeError_ != 0) return false;
  if (evbuffer_get_length(data) == 0) return true;
  if (pending() == 0) {
    if (evbuffer_write(data, fd_.get()) < 0 && !wouldBlock(errno)) {
      failWrite(errno);
      return false;
    }
    if (evbuffer_get_length(data) == 0) return true;
  }
  queue(nullptr, 0, data);
  return true;
}

void StreamSocket::flush() {
  if (evbuffer_write(output_.get(), fd_.get()) < 0 && !wouldBlock(errno)) {
    failWrite(errno);
    return;
  }
  if (pending() == 0) {
    // Drained: give the queue and the event back (the event is not running
    // its callback any more once deleted, so freeing it here is safe).
    writeArmed_ = false;
    writeEvent_.reset();
    output_.reset();
  }
  handler_->onFlushed(*this);
}

// Remembers the error and drops what is queued; the handler hears of it on
// the next loop turn (send() may be running inside the other side's read
// callback, which must not see this session end under it).
void StreamSocket::failWrite(int error) {
  writeError_ = error;
  ensureWriteSide();
  evbuffer_drain(output_.get(), evbuffer_get_length(output_.get()));
  event_active(writeEvent_.get(), EV_WRITE, 1);
}

void StreamSocket::pauseReading() {
  if (readPaused_) return;
  readPaused_ = true;
  event_del(readEvent_.get());
}

void StreamSocket::resumeReading() {
  if (!readPaused_) return;
  readPaused_ = false;
  event_add(readEvent_.get(), nullptr);
}

core::Fd StreamSocket::releaseFd() {
  readEvent_.reset();
  writeEvent_.reset();
  writeArmed_ = false;
  readPaused_ = true;
  return std::move(fd_);
}

void StreamSocket::shutdownWrite() {
  ::shutdown(fd_.get(), SHUT_WR);
}

void StreamSocket::resetOnClose() {
  linger abortive{1, 0};
  ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive);
}

void StreamSocket::onReadEvent(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<StreamSocket*>(arg);
  self->handler_->onReadable(*self);
}

void StreamSocket::onWriteEvent(evutil_socket_t, short, void* arg) noexcept {
  auto* self = static_cast<StreamSocket*>(arg);
  if (self->writeError_ != 0) {
    if (self->writeArmed_) {
      self->writeArmed_ = false;
      event_del(self->writeEvent_.get());
    }
    self->handler_->onWriteError(*self, self->writeError_);
    return;
  }
  self->flush();
}

}  // namespace sluice::core
