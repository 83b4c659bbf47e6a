// Server side of a configuration reload (SIGHUP, POST /reload).
//
// Theory of operation (nginx's "build new, swap only if valid"):
//
//   read + validate the file ──errors──► keep the old config; log and answer
//        │                                every file:line:col line; count failure
//        ▼
//   Runtime::build(new, old)   clusters, backends (reused by address: slot
//        │                     counts, health and counters carry over),
//        │                     listener stats (by name), admission queues
//        ▼
//   bind sockets for listener addresses that are new (one per worker,
//   SO_REUSEPORT) ──bind fails──► drop them, keep the old config; failure
//        ▼
//   post (runtime, new sockets) to every worker; each swaps on its own loop
//   (process/worker_reload.cpp): new sessions use the new snapshot, sessions in
//   flight finish on theirs, unchanged listener sockets are never closed, so
//   no connection is refused and no accept backlog is lost.
//
// Not reloadable: the admin addresses and the worker count (a warning says
// so; the running values stay in the effective config). log.level and
// log.access_log apply at once; admin.token_file is read again. A reload during a drain is refused.

#include <set>

#include "admin/admin_server.h"
#include "admin/token.h"
#include "config/loader.h"
#include "core/log.h"
#include "net/socket.h"
#include "process/server.h"

namespace sluice::process {

Server::ReloadResult Server::reload() {
  ReloadResult result;
  auto fail = [&](std::vector<std::string> errors) {
    ++reloadsFailed_;
    log::error("reload failed; keeping the running config (", errors.size(), " error(s))");
    for (const auto& e : errors)
      log::error("  ", e);
    result.ok = false;
    result.errors = std::move(errors);
    return result;
  };
  try {
    if (draining()) return fail({"draining: reload refused"});
    auto loaded = config::loadFile(configPath_);
    if (!loaded.ok()) {
      std::vector<std::string> errors;
      for (const auto& e : loaded.errors)
        errors.push_back(e.format());
      return fail(std::move(errors));
    }
    auto next = std::make_shared<config::Config>(*loaded.config);
    if (!(next->admin.address == config()->admin.address) ||
        next->admin.controlAddress != config()->admin.controlAddress) {
      log::warn("reload: admin.address and admin.control_address are not reloadable; keeping ",
                config()->admin.address.toString(), " (restart to move them)");
      next->admin.address = config()->admin.address;
      next->admin.controlAddress = config()->admin.controlAddress;
    }
    // The token is re-read on every reload (a rotated Secret); an unreadable
    // file fails the reload and the running token stays.
    std::optional<std::string> token;
    if (!next->admin.tokenFile.empty()) {
      std::string error;
      token = admin::readTokenFile(next->admin.tokenFile, &error);
      if (!token) return fail({"admin.token_file: " + error});
    }
    if (next->workers != config()->workers) {
      log::warn("reload: workers is not reloadable; keeping the running count");
      next->workers = config()->workers;
    }
    config::ConfigPtr snapshot = next;
    RuntimePtr runtime = Runtime::build(snapshot, runtime_.get());

    std::set<std::string> bound;
    for (const auto& listener : config()->listeners)
      bound.insert(listener.address.toString());
    std::vector<Worker::OpenedSockets> opened(workers_.size());
    for (const auto& listener : snapshot->listeners) {
      const std::string address = listener.address.toString();
      if (bound.count(address) != 0) continue;
      std::string error;
      auto addresses = net::SocketAddress::resolve(listener.address, &error);
      if (addresses.empty()) {
        return fail({"listener " + listener.name + ": cannot resolve " + address + ": " + error});
      }
      for (auto& perWorker : opened) {
        core::Fd fd = net::listenOn(addresses.front(), true, &error);
        if (!fd) return fail({"listener " + listener.name + ": " + error});
        perWorker.emplace_back(address, std::move(fd));
      }
    }

    for (size_t i = 0; i < workers_.size(); ++i) {
      auto sockets = std::make_shared<Worker::OpenedSockets>(std::move(opened[i]));
      workers_[i]->dispatcher().post([w = workers_[i].get(), runtime, sockets] {
        w->applyRuntime(runtime, std::move(*sockets));
      });
    }
    runtime_ = runtime;
    if (admin_) admin_->setToken(std::move(token));
    log::setLevel(config()->log.level);
    accessLog_->configure(config()->log.accessLog);
    ++reloadsSucceeded_;
    result.ok = true;
    result.summary = config::summarize(*config());
    log::info("reload: ", result.summary);
    return result;
  } catch (const std::exception& e) {
    return fail({std::string("reload: ") + e.what()});
  }
}

}  // namespace sluice::process
