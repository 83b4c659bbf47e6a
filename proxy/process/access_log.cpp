#include "process/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <ctime>

#include "core/json_writer.h"
#include "core/log.h"

namespace sluice::process {
namespace {

constexpr std::chrono::milliseconds kWriterInterval{100};
constexpr std::chrono::seconds kFlushWait{5};

double roundMicros(double seconds) {
  return std::round(seconds * 1e6) / 1e6;
}

}  // namespace

std::string rfc3339Ms(std::chrono::system_clock::time_point time) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
  const time_t seconds = static_cast<time_t>(ms / 1000);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[40];
  const size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", static_cast<int>(ms % 1000));
  return stamp;
}

std::string formatAccessRecord(const AccessRecord& r) {
  core::JsonWriter w;
  w.beginObject();
  w.key("time").value(rfc3339Ms(r.start));
  w.key("kind").value(r.kind);
  w.key("client").value(r.client);
  w.key("listener").value(r.listener);
  w.key("backend");
  if (r.backend.empty()) {
    w.null();
  } else {
    w.value(r.backend);
  }
  if (r.status != 0) w.key("status").value(r.status);
  if (!r.method.empty()) w.key("method").value(r.method);
  if (!r.path.empty()) w.key("path").value(r.path);
  w.key("bytes_in").value(r.bytesIn);
  w.key("bytes_out").value(r.bytesOut);
  w.key("duration_s").value(roundMicros(r.duration));
  if (r.poolWait >= 0) w.key("pool_wait_s").value(roundMicros(r.poolWait));
  if (r.connect >= 0) w.key("connect_s").value(roundMicros(r.connect));
  w.key("termination").value(r.termination);
  w.key("reason").value(r.reason);
  w.endObject();
  return w.str();
}

AccessLog::AccessLog(size_t producers) {
  for (size_t i = 0; i < producers; ++i)
    buffers_.push_back(std::make_unique<Buffer>());
  writer_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() {
  {
    std::lock_guard lock(controlMutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

void AccessLog::configure(const std::string& target) {
  {
    std::lock_guard lock(controlMutex_);
    target_ = target.empty() ? "off" : target;
    enabled_.store(target_ != "off", std::memory_order_relaxed);
  }
  wake_.notify_all();
}

void AccessLog::reopen() {
  {
    std::lock_guard lock(controlMutex_);
    reopen_ = true;
  }
  wake_.notify_all();
}

void AccessLog::write(size_t producer, const AccessRecord& record) {
  if (!enabled() || producer >= buffers_.size()) return;
  std::string line = formatAccessRecord(record);
  line += '\n';
  Buffer& buffer = *buffers_[producer];
  bool wakeWriter = false;
  {
    std::lock_guard lock(buffer.mutex);
    if (buffer.lines.size() + line.size() > kMaxBufferedBytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    buffer.lines += line;
    ++buffer.count;
    wakeWriter = buffer.lines.size() > kMaxBufferedBytes / 2;
  }
  if (wakeWriter) wake_.notify_one();
}

void AccessLog::flush() {
  std::unique_lock lock(controlMutex_);
  const uint64_t mine = ++flushGeneration_;
  flushRequested_ = true;
  wake_.notify_all();
  flushed_.wait_for(lock, kFlushWait, [&] { return doneGeneration_ >= mine || stop_; });
}

void AccessLog::run() {
  log::setThreadName("access-log");
  std::string batch;
  std::string taken;
  for (;;) {
    std::string target;
    bool reopen = false;
    bool stop = false;
    uint64_t generation = 0;
    {
      std::unique_lock lock(controlMutex_);
      wake_.wait_for(lock, kWriterInterval, [&] { return stop_ || reopen_ || flushRequested_; });
      target = target_;
      reopen = reopen_;
      reopen_ = false;
      stop = stop_;
      flushRequested_ = false;
      generation = flushGeneration_;
    }
    if (reopen || target != openTarget_) {
      closeFile();
      openTarget_ = target;
    }
    batch.clear();
    uint64_t count = 0;
    for (auto& buffer : buffers_) {
      {
        std::lock_guard lock(buffer->mutex);
        taken.swap(buffer->lines);
        count += buffer->count;
        buffer->count = 0;
      }
      batch += taken;
      taken.clear();
    }
    if (count > 0) writeOut(batch, count);
    {
      std::lock_guard lock(controlMutex_);
      doneGeneration_ = generation;
    }
    flushed_.notify_all();
    if (stop) break;
  }
  closeFile();
}

bool AccessLog::ensureOpen() {
  if (fd_ >= 0) return true;
  if (openTarget_ == "off") return false;
  if (openTarget_ == "stdout") {
    fd_ = STDOUT_FILENO;
    ownsFd_ = false;
  } else {
    fd_ = ::open(openTarget_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ownsFd_ = true;
    if (fd_ < 0) {
      if (!failing_) {
        log::error("access log: cannot open ", openTarget_, ": ", std::strerror(errno),
                   "; dropping access log lines until it can be opened");
      }
      failing_ = true;
      writeErrors_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  if (failing_) log::info("access log: writing to ", openTarget_, " again");
  failing_ = false;
  return true;
}

void AccessLog::writeOut(std::string& lines, uint64_t count) {
  if (!ensureOpen()) {
    if (openTarget_ != "off") dropped_.fetch_add(count, std::memory_order_relaxed);
    return;
  }
  size_t offset = 0;
  while (offset < lines.size()) {
    const ssize_t n = ::write(fd_, lines.data() + offset, lines.size() - offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!failing_) {
        log::error("access log: cannot write ", openTarget_, ": ", std::strerror(errno),
                   "; dropping access log lines until it works again");
      }
      failing_ = true;
      writeErrors_.fetch_add(1, std::memory_order_relaxed);
      dropped_.fetch_add(count, std::memory_order_relaxed);
      closeFile();  // try a fresh open next time
      return;
    }
    offset += static_cast<size_t>(n);
  }
  written_.fetch_add(count, std::memory_order_relaxed);
}

void AccessLog::closeFile() {
  if (fd_ >= 0 && ownsFd_) ::close(fd_);
  fd_ = -1;
  ownsFd_ = false;
}

}  // namespace sluice::process
