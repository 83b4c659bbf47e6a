#include "core/log.h"

#include <sys/time.h>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sluice::log {
namespace {

std::atomic<int> currentLevel{static_cast<int>(Level::Info)};
std::mutex writeMutex;  // one line at a time; stderr is unbuffered
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

void write(Level level, std::string_view message) {
  timeval now{};
  gettimeofday(&now, nullptr);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::lock_guard lock(writeMutex);
  std::fprintf(stderr, "%s.%03ldZ %-5s [%s] %.*s\n", stamp, static_cast<long>(now.tv_usec / 1000),
               levelName(level), threadName.c_str(), static_cast<int>(message.size()),
               message.data());
}

}  // namespace sluice::log
