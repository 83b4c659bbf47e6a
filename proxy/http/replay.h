#pragma once

// Replaying a request on a fresh upstream connection.
//
// A keep-alive upstream connection can be closed by the backend at the very
// moment sluice sends the next request on it (the backend's idle timeout
// races the reuse). The backend then never answered, and most likely never
// processed, the request. HttpSession retries such a request once, on a
// fresh connection, when all of these hold:
//   * the connection was reused (a fresh one failing is a real failure),
//   * no byte of a response arrived (not even a 100 Continue),
//   * it has not been retried already,
//   * mayRetry(): the method is idempotent (RFC 9110 §9.2.2: sending it
//     twice does what sending it once does), or the request provably never
//     left: the first write of its head on this connection failed, so the
//     kernel took none of it. Any other request (a POST, even one without a
//     body) may have been read and acted on by a backend that then closed
//     without answering; sending it again could do it twice, so it fails
//     with 502 instead. A write that succeeded locally proves nothing: the
//     backend may have read it before closing.
//   * every byte sent on the failed connection is still at hand: the
//     ReplayBuffer kept a copy (idempotent methods only) and never went over
//     its budget, or nothing left and the staged bytes are all still there.
//
// ReplayBuffer is that copy. The session starts it when the request goes
// out on a reused connection (with what is staged then: the head and the
// body read so far, none of it sent yet) and feeds it every later body byte
// as it streams. A body that outgrows the budget is not kept: the copy is
// freed and the request is not retried (the client gets the 502).
//
// Why 64 KiB: it covers the idempotent requests that carry bodies in
// practice (a PUT of a JSON document, a DELETE with a small body) while the
// copy stays as large as one direction's default buffer_size, so a request
// in flight at most doubles what its buffering already costs. A copy only
// exists while its request holds an upstream connection, so all copies
// together stay under budget x pool.max_connections. HAProxy's L7 retries
// likewise only replay a request that fits its buffer (tune.bufsize).
//
// Owner: the exchange of one HttpSession. Thread: that session's worker.

#include <cstddef>
#include <string_view>

#include "core/libevent.h"
#include "http/message.h"

namespace sluice::http {

// GET, HEAD, OPTIONS, TRACE, PUT, DELETE (RFC 9110 §9.2.2). Case-sensitive,
// as methods are.
bool idempotentMethod(std::string_view method);

// The request may be sent again after its attempt failed unanswered.
// `mayHaveLeft`: some byte of it may have reached the backend (any write of
// it on the connection succeeded, even partly, even only locally).
bool mayRetry(const RequestHead& request, bool mayHaveLeft);

class ReplayBuffer {
 public:
  static constexpr size_t kDefaultBudget = 64 * 1024;

  explicit ReplayBuffer(size_t budget = kDefaultBudget) : budget_(budget) {}

  // Starts a copy with the bytes now in `pending` (left in place). Any
  // earlier copy is dropped first.
  void start(evbuffer* pending);
  // More request bytes went out; ignored unless a copy is being kept.
  void append(const char* data, size_t len);
  // A copy was started and holds every byte since: a replay is possible.
  bool usable() const { return copy_ != nullptr; }
  // True once the request outgrew the budget (the copy was dropped).
  bool overflowed() const { return overflowed_; }
  size_t size() const;
  // Moves the copy to the end of `out` and stops keeping one. False (and
  // nothing moved) when !usable().
  bool replayInto(evbuffer* out);
  // Stops keeping a copy and frees it.
  void clear();

 private:
  void overflow();

  size_t budget_;
  core::EvbufferPtr copy_;  // null: no copy kept
  bool overflowed_ = false;
};

}  // namespace sluice::http
