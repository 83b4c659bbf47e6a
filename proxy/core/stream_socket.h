#pragma once

// StreamSocket: a connected non-blocking socket with an output queue, for
// relaying bytes with as few system calls as possible.
//
// Owner: a session. Thread: the loop of the Dispatcher it was made with.
//
// Why not a bufferevent: a bufferevent asks the kernel how much is readable
// (ioctl FIONREAD) before every read, and arms and disarms EV_WRITE around
// every write, so relaying one small message costs four or five system
// calls where recv + send would do. Here a read is one recv() into the
// caller's buffer, a write is one send() when nothing is queued, and
// EV_WRITE is armed only while the kernel's send buffer is full (after
// EAGAIN). What the socket does not take is queued and flushed when it is
// writable again; the owner sees that through onFlushed() and decides about
// back-pressure itself (pauseReading/resumeReading).

#include <cstddef>
#include <span>

#include "core/dispatcher.h"
#include "core/embedded_event.h"
#include "core/fd.h"
#include "core/libevent.h"

namespace sluice::core {

class StreamSocket {
 public:
  class Handler {
   public:
    // The socket is readable (data, EOF or an error): call read().
    virtual void onReadable(StreamSocket& socket) = 0;
    // Queued bytes were written; pending() says how many are left.
    virtual void onFlushed(StreamSocket& socket) = 0;
    // A write failed (peer reset or gone); `error` is the errno.
    virtual void onWriteError(StreamSocket& socket, int error) = 0;

   protected:
    ~Handler() = default;
  };

  enum class ReadStatus { Data, WouldBlock, Eof, Error };
  struct ReadResult {
    ReadStatus status;
    size_t bytes = 0;  // with Data
    int error = 0;     // with Error: the errno
  };

  // Takes the socket; reading starts enabled.
  StreamSocket(Dispatcher& dispatcher, core::Fd fd, Handler& handler);
  // Hands the socket's events to another owner (an http upstream connection
  // moving between its pool and a session): no system call.
  void setHandler(Handler& handler) { handler_ = &handler; }
  StreamSocket(const StreamSocket&) = delete;
  StreamSocket& operator=(const StreamSocket&) = delete;
  ~StreamSocket();

  // One recv() into `into`.
  ReadResult read(std::span<char> into);
  // Writes now what the socket takes and queues the rest. Returns false
  // (and queues nothing) once a write has failed; the error is reported
  // through onWriteError from the loop, never from inside send().
  bool send(const char* data, size_t size);
  // Moves all of `data` (chains, not copies) after what is queued.
  bool send(evbuffer* data);
  size_t pending() const { return output_ ? evbuffer_get_length(output_.get()) : 0; }

  void pauseReading();
  void resumeReading();
  bool readingPaused() const { return readPaused_; }
  // shutdown(SHUT_WR): FIN to the peer. Call once pending() is 0.
  void shutdownWrite();
  // close() will send RST instead of FIN (SO_LINGER 0): how a reset on one
  // side of a relay is passed on to the other.
  void resetOnClose();
  int fd() const { return fd_.get(); }
  // Gives the socket back (an http upstream connection returning to its
  // pool): its events are freed first, so epoll holds no stale entry and no
  // callback fires for it later. Queued output is dropped: call it only
  // when pending() is 0. The object is of no further use afterwards.
  core::Fd releaseFd();

 private:
  void ensureWriteSide();
  // Appends `chains` (moved) or else data/size (copied) and arms EV_WRITE.
  void queue(const char* data, size_t size, evbuffer* chains);
  void flush();
  void failWrite(int error);
  static void onReadEvent(evutil_socket_t, short, void* arg) noexcept;
  static void onWriteEvent(evutil_socket_t, short, void* arg) noexcept;

  Handler* handler_;
  event_base* const base_;
  core::Fd fd_;
  EmbeddedEvent readEvent_;  // every socket has one: kept inline
  // Both exist only while output waits for the socket (see ensureWriteSide).
  EventPtr writeEvent_;
  EvbufferPtr output_;
  int writeError_ = 0;  // sticky: the first failed write
  bool readPaused_ = false;
  bool writeArmed_ = false;
};

}  // namespace sluice::core
