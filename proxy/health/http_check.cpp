#include "health/http_check.h"

#include <cctype>

namespace sluice::health {
namespace {

constexpr size_t kMaxStatusLineBytes = 1024;

}  // namespace

HttpCheck::HttpCheck(core::Dispatcher& dispatcher, const net::SocketAddress& address,
                     const config::HealthCheck& check, Done done)
    : dispatcher_(dispatcher),
      address_(address),
      path_(check.path.empty() ? "/" : check.path),
      statusMin_(check.expectStatusMin),
      statusMax_(check.expectStatusMax),
      done_(std::move(done)),
      deadline_(dispatcher, [this] { finish(Verdict::Fail, "timeout"); }) {
  // One deadline for the whole exchange; the connect has its own, equal one.
  deadline_.enable(check.timeout);
  connector_ = std::make_unique<upstream::Connector>(
      dispatcher, address, check.timeout,
      [this](upstream::ConnectResult result) { onConnected(std::move(result)); });
}

int HttpCheck::parseStatusLine(const std::string& line) {
  // "HTTP/1.x SSS" then a space, or the end of the line.
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0 || line[8] != ' ') return -1;
  if (!std::isdigit(static_cast<unsigned char>(line[7]))) return -1;
  int code = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (!std::isdigit(static_cast<unsigned char>(line[i]))) return -1;
    code = code * 10 + (line[i] - '0');
  }
  if (line.size() > 12 && line[12] != ' ') return -1;
  return code;
}

void HttpCheck::onConnected(upstream::ConnectResult result) {
  if (!result.ok()) {
    finish(connectVerdict(result.failure), "connect: " + result.error);
    return;
  }
  bev_.reset(
      bufferevent_socket_new(dispatcher_.base(), result.fd.release(), BEV_OPT_CLOSE_ON_FREE));
  bufferevent_setcb(bev_.get(), &HttpCheck::onReadCb, nullptr, &HttpCheck::onEventCb, this);
  const std::string request = "GET " + path_ + " HTTP/1.1\r\nHost: " + address_.toString() +
                              "\r\nUser-Agent: sluice-health-check\r\nConnection: close\r\n\r\n";
  bufferevent_write(bev_.get(), request.data(), request.size());
  bufferevent_enable(bev_.get(), EV_READ | EV_WRITE);
}

void HttpCheck::onReadable() {
  evbuffer* input = bufferevent_get_input(bev_.get());
  size_t lineLength = 0;
  evbuffer_ptr eol = evbuffer_search_eol(input, nullptr, &lineLength, EVBUFFER_EOL_CRLF);
  if (eol.pos < 0) {
    if (evbuffer_get_length(input) > kMaxStatusLineBytes)
      finish(Verdict::Fail, "status line too long");
    return;
  }
  std::string line(static_cast<size_t>(eol.pos), '\0');
  evbuffer_copyout(input, line.data(), line.size());
  const int code = parseStatusLine(line);
  if (code < 0) {
    finish(Verdict::Fail, "not an HTTP/1.x status line");
  } else if (code < statusMin_ || code > statusMax_) {
    finish(Verdict::Fail, "status " + std::to_string(code));
  } else {
    finish(Verdict::Pass, "");
  }
}

void HttpCheck::onReadCb(bufferevent*, void* arg) noexcept {
  static_cast<HttpCheck*>(arg)->onReadable();
}

void HttpCheck::onEventCb(bufferevent*, short what, void* arg) noexcept {
  auto* self = static_cast<HttpCheck*>(arg);
  if (what & BEV_EVENT_EOF) {
    self->onReadable();  // a status line may have come with the FIN
    if (self->done_) self->finish(Verdict::Fail, "closed before a status line");
  } else if (what & BEV_EVENT_ERROR) {
    self->finish(Verdict::Fail, "connection error");
  }
}

void HttpCheck::finish(Verdict verdict, std::string detail) {
  if (!done_) return;
  deadline_.disable();
  if (bev_) bufferevent_disable(bev_.get(), EV_READ | EV_WRITE);
  auto done = std::move(done_);
  done_ = nullptr;
  done(verdict, std::move(detail));  // may hand this probe to deferredDelete()
}

std::unique_ptr<Probe> startHttpCheck(core::Dispatcher& dispatcher,
                                      const net::SocketAddress& address,
                                      const config::HealthCheck& check, Probe::Done done) {
  return std::make_unique<HttpCheck>(dispatcher, address, check, std::move(done));
}

}  // namespace sluice::health
