#include "net/proxy_protocol_reader.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace sluice::net {

ProxyProtocolReader::ProxyProtocolReader(core::Dispatcher& dispatcher, core::Fd fd,
                                         const SocketAddress& peer,
                                         std::chrono::milliseconds timeout, Done done)
    : fd_(std::move(fd)),
      peer_(peer),
      done_(std::move(done)),
      timeout_(dispatcher, [this] { finish("timeout"); }) {
  header_.reserve(64);
  event_.reset(event_new(dispatcher.base(), fd_.get(), EV_READ | EV_PERSIST,
                         &ProxyProtocolReader::onReadable, this));
  event_add(event_.get(), nullptr);
  timeout_.enable(timeout);
}

void ProxyProtocolReader::onReadable(evutil_socket_t, short, void* arg) noexcept {
  static_cast<ProxyProtocolReader*>(arg)->readSome();
}

void ProxyProtocolReader::readSome() {
  // Peek at what the header may still need, after the bytes already taken.
  std::vector<uint8_t> bytes(header_);
  const size_t room = proxy_protocol::kV2MaxBytes - header_.size();
  bytes.resize(header_.size() + room);
  const ssize_t n = ::recv(fd_.get(), bytes.data() + header_.size(), room, MSG_PEEK);
  if (n == 0) {
    finish("closed before the header ended");
    return;
  }
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    finish(std::string("read: ") + std::strerror(errno));
    return;
  }
  bytes.resize(header_.size() + static_cast<size_t>(n));
  parsed_ = proxy_protocol::parse(bytes.data(), bytes.size());
  size_t take = 0;
  switch (parsed_.status) {
    case proxy_protocol::Status::Error:
      finish(parsed_.error != nullptr ? parsed_.error : "malformed header");
      return;
    case proxy_protocol::Status::NeedMore:
      if (bytes.size() >= proxy_protocol::kV2MaxBytes) {
        finish("header too long");
        return;
      }
      take = static_cast<size_t>(n);  // all header: consume, or the socket stays readable
      break;
    case proxy_protocol::Status::Done:
      take = parsed_.consumed - header_.size();
      break;
  }
  // Consume exactly `take` bytes; they are in the socket buffer already.
  std::vector<uint8_t> sink(take);
  size_t got = 0;
  while (got < take) {
    const ssize_t r = ::recv(fd_.get(), sink.data() + got, take - got, 0);
    if (r <= 0) {
      if (r < 0 && errno == EINTR) continue;
      finish("read failed");
      return;
    }
    got += static_cast<size_t>(r);
  }
  header_.insert(header_.end(), sink.begin(), sink.end());
  if (parsed_.status == proxy_protocol::Status::Done) finish("");
}

void ProxyProtocolReader::finish(std::string error) {
  if (!done_) return;
  event_.reset();
  timeout_.disable();
  Result result;
  result.error = std::move(error);
  if (result.error.empty()) {
    result.fd = std::move(fd_);
    const auto& source = parsed_.source;
    if (parsed_.hasAddresses()) {
      const socklen_t length =
          source.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
      result.client = SocketAddress(reinterpret_cast<const sockaddr*>(&source), length);
    } else {
      result.client = peer_;  // LOCAL or UNKNOWN: the connection speaks for itself
    }
  }
  auto done = std::move(done_);
  done_ = nullptr;
  done(this, std::move(result));  // may hand this reader to deferredDelete()
}

}  // namespace sluice::net
