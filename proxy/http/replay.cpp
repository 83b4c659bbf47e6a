#include "http/replay.h"

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace sluice::http {

bool idempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE" ||
         method == "PUT" || method == "DELETE";
}

bool mayRetry(const RequestHead& request, bool mayHaveLeft) {
  return idempotentMethod(request.method) || !mayHaveLeft;
}

void ReplayBuffer::start(evbuffer* pending) {
  clear();
  overflowed_ = false;
  const size_t length = evbuffer_get_length(pending);
  if (length > budget_) {
    overflowed_ = true;
    return;
  }
  copy_.reset(evbuffer_new());
  if (!copy_) throw std::runtime_error("evbuffer_new failed");
  // Copy chunk by chunk: `pending` keeps its bytes (they are about to be sent).
  std::vector<evbuffer_iovec> chunks(
      static_cast<size_t>(std::max(evbuffer_peek(pending, -1, nullptr, nullptr, 0), 0)));
  const int n = evbuffer_peek(pending, -1, nullptr, chunks.data(), static_cast<int>(chunks.size()));
  for (int i = 0; i < n && i < static_cast<int>(chunks.size()); ++i) {
    evbuffer_add(copy_.get(), chunks[i].iov_base, chunks[i].iov_len);
  }
}

void ReplayBuffer::append(const char* data, size_t len) {
  if (!copy_) return;
  if (evbuffer_get_length(copy_.get()) + len > budget_) {
    overflow();
    return;
  }
  evbuffer_add(copy_.get(), data, len);
}

size_t ReplayBuffer::size() const {
  return copy_ ? evbuffer_get_length(copy_.get()) : 0;
}

bool ReplayBuffer::replayInto(evbuffer* out) {
  if (!copy_) return false;
  evbuffer_add_buffer(out, copy_.get());
  clear();
  return true;
}

void ReplayBuffer::clear() {
  copy_.reset();
}

void ReplayBuffer::overflow() {
  copy_.reset();
  overflowed_ = true;
}

}  // namespace sluice::http
