#include "core/log.h"

// Theory of operation. Every thread formats its line into a buffer of its
// own and hands it to the kernel with one write(2), without a lock: a write
// of up to PIPE_BUF bytes to a pipe is atomic, and so is one to a regular
// file, so lines never interleave. The write never blocks: when stderr is a
// pipe (a container runtime, systemd, `| tee`) whose reader falls behind, a
// full pipe would otherwise stall a worker and every session on it. So:
//
//   - a pipe or a terminal is reopened through /proc/self/fd/2 with
//     O_NONBLOCK: a file description of our own, so the flag does not leak
//     into whatever shares fd 2 (a parent shell's terminal);
//   - a socket is written with send(MSG_DONTWAIT);
//   - a regular file (or anything that cannot be reopened) is written as is.
//
// A line that does not fit is dropped and counted (droppedLines(), the
// sluice_log_dropped_total metric); the next line that gets through is
// preceded by a warning saying how many were lost. Nothing is queued, so
// nothing grows.

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>

namespace sluice::log {
namespace {

std::atomic<int> currentLevel{static_cast<int>(Level::Info)};
std::atomic<uint64_t> droppedTotal{0};
std::atomic<uint64_t> droppedUnreported{0};
thread_local std::string threadName = "main";

const char* levelName(Level level) {
  switch (level) {
    case Level::Error:
      return "error";
    case Level::Warn:
      return "warn";
    case Level::Info:
      return "info";
    case Level::Debug:
      return "debug";
  }
  return "?";
}

// Where lines go, decided once (at the first line) from what fd 2 is.
struct Output {
  int fd = STDERR_FILENO;
  bool socket = false;

  Output() {
    struct stat info {};
    if (::fstat(STDERR_FILENO, &info) != 0) return;
    if (S_ISSOCK(info.st_mode)) {
      socket = true;
    } else if (S_ISFIFO(info.st_mode) || S_ISCHR(info.st_mode)) {
      // Kept open for the life of the process.
      const int own = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
      if (own >= 0) fd = own;
    }
  }

  // True when all of `line` was written.
  bool write(const std::string& line) const {
    while (true) {
      const ssize_t n = socket ? ::send(fd, line.data(), line.size(), MSG_DONTWAIT | MSG_NOSIGNAL)
                               : ::write(fd, line.data(), line.size());
      if (n >= 0) return static_cast<size_t>(n) == line.size();
      if (errno != EINTR) return false;
    }
  }
};

const Output& output() {
  static const Output out;
  return out;
}

void appendLine(std::string& buffer, Level level, std::string_view message) {
  timeval now{};
  gettimeofday(&now, nullptr);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char stamp[64];
  const size_t length = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  char head[128];
  const int headLength =
      std::snprintf(head, sizeof head, "%.*s.%03ldZ %-5s [", static_cast<int>(length), stamp,
                    static_cast<long>(now.tv_usec / 1000), levelName(level));
  buffer.append(head, static_cast<size_t>(std::max(headLength, 0)));
  buffer += threadName;
  buffer += "] ";
  buffer += message;
  buffer += '\n';
}

}  // namespace

void setLevel(Level level) {
  currentLevel.store(static_cast<int>(level), std::memory_order_relaxed);
}

bool enabled(Level level) {
  return static_cast<int>(level) <= currentLevel.load(std::memory_order_relaxed);
}

void setThreadName(std::string name) {
  threadName = std::move(name);
}

uint64_t droppedLines() {
  return droppedTotal.load(std::memory_order_relaxed);
}

void write(Level level, std::string_view message) {
  thread_local std::string buffer;
  buffer.clear();
  const uint64_t lost = droppedUnreported.exchange(0, std::memory_order_relaxed);
  if (lost != 0) {
    appendLine(buffer, Level::Warn,
               std::to_string(lost) + " log line(s) dropped: stderr is not read fast enough");
  }
  appendLine(buffer, level, message);
  if (output().write(buffer)) return;
  // Counted as lost (the report, if any, is reported again with them).
  droppedTotal.fetch_add(1, std::memory_order_relaxed);
  droppedUnreported.fetch_add(lost + 1, std::memory_order_relaxed);
}

}  // namespace sluice::log
