// YAML text -> an immutable Config, or every error in it.
//
// Theory of operation. Loading runs in three passes over one Diagnostics:
//
//   text --yaml-cpp--> node tree --readers--> Config --validate--> Config
//          syntax          shapes, types,        cross-field rules
//          errors          ranges, unknown keys  (names, addresses, pool)
//
// 1. yaml-cpp parses the text (yaml_document.cpp). A syntax error stops
//    here: there is no tree.
// 2. The readers (node_reader.h, sections.cpp and the top-level readers
//    below) walk the tree. Every struct starts from defaults.h; each key that
//    is present overwrites its field, or reports an error at the key's
//    line:col and leaves the default. Every mapping then reports the keys
//    nobody asked for as unknown, with a "did you mean" hint. The readers
//    also record where each config path was written.
// 3. validate.cpp checks rules between fields, and uses those recorded
//    positions to point at the offending line. Checks whose inputs already
//    failed in pass 2 are skipped, so one typo gives one error.
//
// Nothing throws out of here: yaml-cpp exceptions become errors, and the
// readers only use yaml-cpp calls that do not throw on a well-formed tree.

#include "config/loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <yaml-cpp/yaml.h>

#include "config/defaults.h"
#include "config/diagnostics.h"
#include "config/node_reader.h"
#include "config/sections.h"
#include "config/units.h"
#include "config/validate.h"
#include "config/yaml_document.h"

namespace sluice::config {
namespace {

using namespace defaults;

const Choices<LogLevel> kLogLevels{{"error", LogLevel::Error},
                                   {"warn", LogLevel::Warn},
                                   {"info", LogLevel::Info},
                                   {"debug", LogLevel::Debug}};

Config defaultConfig() {
  Config config;
  config.workers = kWorkers;
  config.drainDelay = kDrainDelay;
  config.drainTimeout = kDrainTimeout;
  config.admin.address = HostPort{std::string(kAdminHost), kAdminPort, false};
  config.limits.maxConnections = kGlobalMaxConnections;
  config.log = Log{kLogLevel, std::string(kAccessLog)};
  return config;
}

// "auto" or 1..kMaxWorkers.
void readWorkers(const ValueReader& value, uint32_t& out) {
  auto text = value.text();
  if (!text) return;
  if (*text == "auto") {
    out = 0;
    return;
  }
  auto number = parseDigits(*text);
  if (!number || *number < 1 || *number > kMaxWorkers) {
    value.fail("expected auto or a number of threads (1.." + std::to_string(kMaxWorkers) +
               "), got '" + *text + "'");
    return;
  }
  out = static_cast<uint32_t>(*number);
}

// "off", "stdout" or a file path. A YAML boolean word is a likely slip for
// "off", not a file name.
void readAccessLog(const ValueReader& value, std::string& out) {
  auto text = value.text();
  if (!text) return;
  for (const char* word :
       {"true", "false", "yes", "no", "on", "True", "False", "Yes", "No", "On"}) {
    if (*text == word) {
      value.fail("expected off, stdout or a file path, got '" + *text + "'");
      return;
    }
  }
  out = *text;
}

void readAdmin(const ValueReader& value, Admin& out) {
  MapReader map(value);
  if (auto address = map.take("address")) {
    if (auto parsed = address->address(false)) out.address = *parsed;
  }
  if (auto address = map.take("control_address")) out.controlAddress = address->address(false);
  if (auto file = map.take("token_file")) {
    if (auto path = file->text()) out.tokenFile = *path;
  }
  map.finish();
}

void readLimits(const ValueReader& value, Limits& out) {
  MapReader map(value);
  map.integer("max_connections", out.maxConnections, 1u, kMaxConnectionsLimit);
  map.finish();
}

void readLog(const ValueReader& value, Log& out) {
  MapReader map(value);
  map.choice("level", out.level, kLogLevels);
  if (auto accessLog = map.take("access_log")) readAccessLog(*accessLog, out.accessLog);
  map.finish();
}

void readDns(const ValueReader& value, Dns& out) {
  MapReader map(value);
  if (auto resolvers = map.take("resolvers")) {
    forEachItem(*resolvers, [&](const ValueReader& item) {
      if (auto address = item.address(false)) out.resolvers.push_back(*address);
    });
  }
  map.finish();
}

// Calls read(item) for each item of a required, non-empty list.
template <class Read>
void readList(MapReader& top, std::string_view key, const char* noun, Read read) {
  auto list = top.require(key);
  if (!list) return;
  forEachItem(*list, read);
  if (list->node().IsSequence() && list->node().size() == 0) {
    list->fail(std::string("must list at least one ") + noun);
  }
}

void readConfig(const YAML::Node& root, Diagnostics& diag, Config& config) {
  MapReader top(ValueReader(root, root.Mark(), "", diag));
  if (!top.ok()) return;
  if (auto value = top.take("workers")) readWorkers(*value, config.workers);
  top.duration("drain_delay", config.drainDelay, kZeroOk);
  top.duration("drain_timeout", config.drainTimeout, kZeroOk);
  if (auto value = top.take("admin")) readAdmin(*value, config.admin);
  if (auto value = top.take("limits")) readLimits(*value, config.limits);
  if (auto value = top.take("log")) readLog(*value, config.log);
  if (auto value = top.take("dns")) readDns(*value, config.dns);
  readList(top, "listeners", "listener",
           [&](const ValueReader& item) { config.listeners.push_back(readListener(item)); });
  readList(top, "clusters", "cluster",
           [&](const ValueReader& item) { config.clusters.push_back(readCluster(item)); });
  top.finish();
}

// Reads a whole regular file of at most kMaxConfigFileBytes; on failure
// returns false with the reason. A device (/dev/zero), a FIFO or a directory
// is refused before any read, so neither `sluice check` nor a reload can be
// made to block or to grow without bound.
bool readWholeFile(const std::string& path, std::string& text, std::string& error) {
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block here.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    error = std::strerror(errno);
    return false;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    error = std::strerror(errno);
    ::close(fd);
    return false;
  }
  if (!S_ISREG(info.st_mode)) {
    error = S_ISDIR(info.st_mode) ? std::strerror(EISDIR) : "not a regular file";
    ::close(fd);
    return false;
  }
  const auto tooLarge = [&] {
    error = "larger than " + std::to_string(defaults::kMaxConfigFileBytes / defaults::kMiB) +
            " MiB, the limit for a config file";
    ::close(fd);
    return false;
  };
  if (static_cast<uint64_t>(info.st_size) > defaults::kMaxConfigFileBytes) return tooLarge();
  char buffer[16384];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::strerror(errno);
      ::close(fd);
      return false;
    }
    // The file may grow while it is read.
    if (text.size() + static_cast<size_t>(n) > defaults::kMaxConfigFileBytes) return tooLarge();
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return true;
}

LoadResult load(const std::string& yaml, const std::string& name, const std::string& sourcePath) {
  Diagnostics diag(name);
  Config config = defaultConfig();
  config.sourcePath = sourcePath;
  try {
    YAML::Node root;
    if (parseSingleDocument(yaml, diag, root)) {
      readConfig(root, diag, config);
      validate(config, diag);
    }
  } catch (const YAML::Exception& e) {
    diag.error(e.mark, "", e.msg);
  } catch (const std::exception& e) {
    diag.error(YAML::Mark::null_mark(), "", std::string("cannot load: ") + e.what());
  } catch (...) {
    diag.error(YAML::Mark::null_mark(), "", "cannot load: unknown error");
  }
  LoadResult result;
  if (diag.empty()) {
    result.config = std::make_shared<const Config>(std::move(config));
  } else {
    result.errors = diag.takeErrors();
  }
  return result;
}

}  // namespace

LoadResult loadString(const std::string& yaml, const std::string& name) {
  return load(yaml, name, "");
}

LoadResult loadFile(const std::string& path) {
  std::string text;
  std::string error;
  if (!readWholeFile(path, text, error)) {
    LoadResult result;
    result.errors.push_back(ConfigError{path, 0, 0, "cannot read: " + error});
    return result;
  }
  return load(text, path, path);
}

}  // namespace sluice::config
