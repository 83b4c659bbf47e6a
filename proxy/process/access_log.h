#pragma once

// AccessLog: one JSON line per tcp session and per http request
// (`log.access_log`: off | stdout | /path/file).
//
// Theory of operation. A worker never waits for the disk. Each worker owns
// one Buffer: write() formats the line on the worker and appends it under
// the buffer's own mutex, which only the writer thread ever contends for,
// and then only to swap the whole vector out (a pointer swap). A dedicated
// writer thread wakes every 100 ms (or when a buffer passes half full),
// swaps every buffer out and writes the lines with write(2). A buffer that
// holds kMaxBufferedBytes already drops the new line and counts it
// (sluice_access_log_dropped_total): traffic never stalls on a slow disk.
//
//   worker ──format──► Buffer (per worker) ──swap──► writer thread ──write(2)──► file
//
// The file is opened by the writer thread. reopen() (SIGUSR1, after
// logrotate renamed the file) asks the writer to close and open the path
// again before its next write. A file that cannot be opened or written is
// logged once (until it works again) and counted; lines for it are dropped.
//
// Owner: the Server (it outlives the workers). Thread: write() from any
// worker; everything else from the main thread.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace sluice::process {

// What one line says. Durations are seconds; a negative one is left out
// (the session never queued, never connected).
struct AccessRecord {
  const char* kind = "tcp";  // tcp | http
  std::chrono::system_clock::time_point start;
  std::string client;  // "10.0.0.1:51234"
  std::string listener;
  std::string backend;    // empty: none was reached
  int status = 0;         // http status sent to the client; 0 for tcp
  std::string method;     // http only
  std::string path;       // http only
  uint64_t bytesIn = 0;   // from the client
  uint64_t bytesOut = 0;  // to the client
  double duration = 0;
  double poolWait = -1;
  double connect = -1;
  const char* termination = "--";    // process::code(reason)
  const char* reason = "completed";  // process::label(reason)
};

// "2026-11-23T23:59:01.123Z"
std::string rfc3339Ms(std::chrono::system_clock::time_point time);
// The JSON line, without the trailing newline.
std::string formatAccessRecord(const AccessRecord& record);

class AccessLog {
 public:
  static constexpr size_t kMaxBufferedBytes = 4 << 20;  // per worker

  explicit AccessLog(size_t producers);
  ~AccessLog();  // flushes what is buffered, stops the writer
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // Main thread: "off", "stdout" or a path (at start and on reload).
  void configure(const std::string& target);
  // Main thread (SIGUSR1): close and reopen the file before the next write.
  void reopen();

  // Any thread: cheap check so sessions skip formatting when off.
  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  // Worker `producer` (its index): queue one record.
  void write(size_t producer, const AccessRecord& record);

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t writeErrors() const { return writeErrors_.load(std::memory_order_relaxed); }
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  // Blocks until everything queued so far is written (tests, shutdown).
  void flush();

 private:
  struct Buffer {
    std::mutex mutex;
    std::string lines;   // guarded by mutex
    uint64_t count = 0;  // lines in `lines`, guarded by mutex
  };
  void run();
  void writeOut(std::string& lines, uint64_t count);
  bool ensureOpen();
  void closeFile();

  std::vector<std::unique_ptr<Buffer>> buffers_;
  std::atomic<bool> enabled_{false};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> writeErrors_{0};
  std::atomic<uint64_t> written_{0};

  std::mutex controlMutex_;  // guards the fields below; never taken by a worker
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::string target_ = "off";
  bool reopen_ = false;
  bool stop_ = false;
  bool flushRequested_ = false;
  uint64_t flushGeneration_ = 0;
  uint64_t doneGeneration_ = 0;

  // Writer thread only.
  int fd_ = -1;
  bool ownsFd_ = false;
  std::string openTarget_;
  bool failing_ = false;

  std::thread writer_;
};

}  // namespace sluice::process
