#include "admin/admin_connection.h"

#include <algorithm>
#include <chrono>

namespace sluice::admin {
namespace {

using namespace std::chrono_literals;

// A whole request must arrive within this of the accept or of the previous
// response, and a response must be taken by the client within it too.
constexpr std::chrono::milliseconds kRequestTimeout = 10s;
// After an error response: how long, and how much, to read and discard so
// that the client sees the response instead of a reset.
constexpr std::chrono::milliseconds kLingerTimeout = 1s;
constexpr uint64_t kMaxLingerBytes = 1024 * 1024;
constexpr size_t kReadChunk = 16 * 1024;

const char* reasonPhrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 202:
      return "Accepted";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 431:
      return "Request Header Fields Too Large";
    case 503:
      return "Service Unavailable";
    default:
      return status >= 500 ? "Internal Server Error" : "Unknown";
  }
}

}  // namespace

AdminConnection::AdminConnection(core::Dispatcher& dispatcher, core::Fd fd, Owner& owner,
                                 bool loopbackPort)
    : owner_(owner),
      loopbackPort_(loopbackPort),
      socket_(dispatcher, std::move(fd), *this),
      timer_(dispatcher, [this] { onTimeout(); }) {
  timer_.enable(kRequestTimeout);
}

void AdminConnection::onReadable(core::StreamSocket&) {
  if (state_ == State::Closed) return;
  char buffer[kReadChunk];
  const auto result = socket_.read(buffer);
  switch (result.status) {
    case core::StreamSocket::ReadStatus::WouldBlock:
      return;
    case core::StreamSocket::ReadStatus::Eof:
    case core::StreamSocket::ReadStatus::Error:
      close();
      return;
    case core::StreamSocket::ReadStatus::Data:
      break;
  }
  if (state_ == State::Lingering) {
    lingerBytes_ += result.bytes;
    if (lingerBytes_ > kMaxLingerBytes) close();
    return;
  }
  consume(buffer, result.bytes);
}

void AdminConnection::consume(const char* data, size_t size) {
  const auto skipped = static_cast<size_t>(std::min<uint64_t>(bodyLeft_, size));
  bodyLeft_ -= skipped;
  data += skipped;
  size -= skipped;
  if (bodyLeft_ > 0) return;
  input_.append(data, size);
  if (waitingBody_) {
    const RequestHead head = std::move(*waitingBody_);
    waitingBody_.reset();
    respond(head);
  }
  processInput();
}

// Answers the complete requests in input_, one at a time: a pipelined
// request waits until the response before it is written.
void AdminConnection::processInput() {
  while (state_ == State::Reading && !input_.empty()) {
    ParsedHead parsed = parseRequestHead(input_);
    if (parsed.status == ParsedHead::Status::Incomplete) return;
    if (parsed.status == ParsedHead::Status::Error) {
      fail(parsed.errorStatus, parsed.errorText);
      return;
    }
    input_.erase(0, parsed.headBytes);
    const auto inBuffer =
        static_cast<size_t>(std::min<uint64_t>(parsed.head.contentLength, input_.size()));
    input_.erase(0, inBuffer);
    bodyLeft_ = parsed.head.contentLength - inBuffer;
    if (bodyLeft_ > 0) {
      waitingBody_ = std::move(parsed.head);
      return;
    }
    respond(parsed.head);
  }
}

void AdminConnection::respond(const RequestHead& head) {
  AdminResponse response;
  try {
    response = owner_.handle(head, *this);
  } catch (const std::exception& e) {
    response = AdminResponse{500, std::string(e.what()) + "\n"};
  }
  send(response, !head.keepAlive, head.method == "HEAD");
}

void AdminConnection::fail(int status, const std::string& text) {
  lingerAfterWrite_ = true;
  send(AdminResponse{status, text + "\n"}, true, false);
}

void AdminConnection::send(const AdminResponse& response, bool close, bool headOnly) {
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    reasonPhrase(response.status) + "\r\nContent-Type: " + response.contentType +
                    "\r\nContent-Length: " + std::to_string(response.body.size()) +
                    "\r\nCache-Control: no-store\r\n" + response.extraHeaders;
  if (close) out += "Connection: close\r\n";
  out += "\r\n";
  if (!headOnly) out += response.body;
  closeAfterWrite_ = close;
  state_ = State::Writing;
  if (!socket_.send(out.data(), out.size())) return;  // onWriteError follows
  if (socket_.pending() == 0) {
    responseWritten();
    return;
  }
  socket_.pauseReading();  // no more input while the client does not read
  timer_.enable(kRequestTimeout);
}

void AdminConnection::responseWritten() {
  if (lingerAfterWrite_) {
    // Unread input may follow (a body refused by its length, the rest of an
    // oversized head): half-close and read it away for a moment, so that
    // closing does not reset the connection before the client read the answer.
    state_ = State::Lingering;
    socket_.shutdownWrite();
    socket_.resumeReading();
    timer_.enable(kLingerTimeout);
    return;
  }
  if (closeAfterWrite_) {
    close();
    return;
  }
  state_ = State::Reading;
  socket_.resumeReading();
  timer_.enable(kRequestTimeout);
}

void AdminConnection::onFlushed(core::StreamSocket&) {
  if (state_ != State::Writing || socket_.pending() > 0) return;
  responseWritten();
  processInput();
}

void AdminConnection::onWriteError(core::StreamSocket&, int) {
  close();
}

void AdminConnection::onTimeout() {
  if (state_ == State::Reading && (!input_.empty() || bodyLeft_ > 0)) {
    fail(408, "request timeout");
    return;
  }
  close();
}

void AdminConnection::close() {
  if (state_ == State::Closed) return;
  state_ = State::Closed;
  timer_.disable();
  // The events go first, then the descriptor: epoll never holds a closed fd.
  core::Fd fd = socket_.releaseFd();
  fd.reset();
  owner_.connectionDone(this);
}

}  // namespace sluice::admin
