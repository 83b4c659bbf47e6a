#pragma once

// A small thread-safe logger: one line per message to stderr, with a UTC
// timestamp, the level and the thread's name. The level is an atomic so the
// main thread can change it on reload while workers log. Logging never
// blocks: a line stderr cannot take at once is dropped and counted (see
// log.cpp for how).
//
//   log::info("listener ", name, " bound to ", address);

#include <cstdint>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

#include "core/log_level.h"

namespace sluice::log {

void setLevel(Level level);
bool enabled(Level level);
// Names the calling thread in its log lines ("main", "worker-0", ...).
void setThreadName(std::string name);
void write(Level level, std::string_view message);
// Lines dropped so far because stderr (a full pipe) could not take them.
uint64_t droppedLines();

template <class... Args>
void emit(Level level, Args&&... args) {
  if (!enabled(level)) return;
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  write(level, out.str());
}

template <class... Args>
void error(Args&&... args) {
  emit(Level::Error, std::forward<Args>(args)...);
}
template <class... Args>
void warn(Args&&... args) {
  emit(Level::Warn, std::forward<Args>(args)...);
}
template <class... Args>
void info(Args&&... args) {
  emit(Level::Info, std::forward<Args>(args)...);
}
template <class... Args>
void debug(Args&&... args) {
  emit(Level::Debug, std::forward<Args>(args)...);
}

}  // namespace sluice::log
