#include "process/server.h"

#include <csignal>
#include <thread>

#include "admin/admin_server.h"
#include "admin/token.h"
#include "core/clock.h"
#include "core/log.h"
#include "health/discovery.h"
#include "health/health_checker.h"
#include "net/socket.h"

namespace sluice::process {
namespace {

constexpr std::chrono::milliseconds kDrainPollInterval{50};

}  // namespace

Server::Server(RuntimePtr runtime, uint32_t workerCount)
    : runtime_(std::move(runtime)),
      configPath_(runtime_->config->sourcePath),
      workerCount_(workerCount),
      drainDelayTimer_(dispatcher_, [this] { closeListeners(); }),
      drainPollTimer_(dispatcher_, [this] { pollDrain(); }) {}

Server::~Server() {
  for (auto& worker : workers_) {
    worker->dispatcher().post([w = worker.get()] {
      w->abortAll();
      w->stop();
    });
  }
  for (auto& worker : workers_)
    worker->join();
  workers_.clear();
}

bool Server::start() {
  const uint32_t count = workerCount_;
  std::vector<std::vector<core::Fd>> sockets(count);
  if (std::string error; !bindListeners(sockets, &error)) {
    log::error(error);
    return false;
  }
  accessLog_ = std::make_unique<AccessLog>(count);
  accessLog_->configure(config()->log.accessLog);
  shared_.accessLog = accessLog_.get();
  for (uint32_t i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<Worker>(static_cast<int>(i), static_cast<int>(count),
                                                runtime_, shared_, std::move(sockets[i])));
  }
  admin_ = std::make_unique<admin::AdminServer>(dispatcher_, *this);
  std::string error;
  if (!config()->admin.tokenFile.empty()) {
    auto token = admin::readTokenFile(config()->admin.tokenFile, &error);
    if (!token) {
      log::error("admin.token_file: ", error);
      return false;
    }
    admin_->setToken(std::move(token));
  }
  if (!admin_->bind(config()->admin, &error)) {
    log::error("admin: ", error);
    return false;
  }
  for (int signal : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) {
    signalEvents_.emplace_back(
        event_new(dispatcher_.base(), signal, EV_SIGNAL | EV_PERSIST, &Server::onSignal, this));
    event_add(signalEvents_.back().get(), nullptr);
  }
  healthChecker_ = std::make_unique<health::HealthChecker>(
      dispatcher_, [this](const auto& backend) { closeIdleEverywhere(backend); });
  discovery_ = std::make_unique<health::Discovery>(
      dispatcher_, [this] { return runtime_->clusters; },
      [this](const auto& backend) { closeIdleEverywhere(backend); },
      [this] { syncBackendWatchers(); });
  if (!discovery_->start(config()->dns, &error)) {
    log::error(error);
    return false;
  }
  healthChecker_->follow([this] { return runtime_->clusters; });
  for (auto& worker : workers_)
    shared_.workers.push_back(worker.get());
  for (auto& worker : workers_)
    worker->start();
  log::info("sluice ", SLUICE_VERSION, " running: ", config()->listeners.size(), " listener(s), ",
            count, " worker(s), admin on ", config()->admin.address.toString(),
            config()->admin.controlAddress
                ? " (control on " + config()->admin.controlAddress->toString() + ")"
                : std::string());
  for (const auto& listener : config()->listeners) {
    log::info("listener ", listener.name, " on ", listener.address.toString(), " (",
              config::toString(listener.protocol), ") -> cluster ", listener.cluster);
  }
  return true;
}

int Server::run() {
  dispatcher_.run();
  return exitCode_;
}

int64_t Server::sessionCount() const {
  int64_t total = 0;
  for (const auto& worker : workers_)
    total += worker->sessionCount();
  return total;
}

bool Server::bindListeners(std::vector<std::vector<core::Fd>>& sockets, std::string* error) const {
  for (const auto& listener : config()->listeners) {
    auto addresses = net::SocketAddress::resolve(listener.address, error);
    if (addresses.empty()) {
      *error = "listener " + listener.name + ": cannot resolve " + listener.address.toString() +
               ": " + *error;
      return false;
    }
    for (auto& perWorker : sockets) {
      core::Fd fd = net::listenOn(addresses.front(), true, error);
      if (!fd) {
        *error = "listener " + listener.name + ": " + *error;
        return false;
      }
      perWorker.push_back(std::move(fd));
    }
  }
  return true;
}

// Readiness says whether this process can accept and answer. A cluster
// without backends is answered with sluice's own fast 503; only clusters
// that opt in take the whole process out of rotation (one dead backend
// would otherwise empty the Service of every replica at once).
std::optional<std::string> Server::unreadyCluster() const {
  const int64_t now = core::monotonicMs();
  for (const auto& cluster : runtime_->clusters) {
    if (cluster->config().readiness == config::Readiness::RequiresBackend &&
        !cluster->anyAvailable(now)) {
      return cluster->config().name;
    }
  }
  return std::nullopt;
}

void Server::syncBackendWatchers() {
  if (healthChecker_) healthChecker_->sync(runtime_->clusters);
}

void Server::closeIdleEverywhere(const std::shared_ptr<upstream::Backend>& backend) {
  for (auto& worker : workers_) {
    // The closure keeps the Backend alive until the worker has run it.
    worker->dispatcher().post([w = worker.get(), backend] { w->closeIdleTo(backend.get()); });
  }
}

void Server::onSignal(evutil_socket_t signal, short, void* arg) noexcept {
  auto* self = static_cast<Server*>(arg);
  if (signal == SIGHUP) {
    log::info("SIGHUP: reloading ", self->configPath_);
    self->reload();  // logs the outcome
    return;
  }
  if (signal == SIGUSR1) {
    log::info("SIGUSR1: reopening the access log");
    self->accessLog_->reopen();
    return;
  }
  if (self->draining() && self->drainMode_ == DrainMode::ExitWhenDone) {
    log::warn("second ", signal == SIGINT ? "SIGINT" : "SIGTERM", ": exiting now");
    self->finish();
    return;
  }
  log::info(signal == SIGINT ? "SIGINT" : "SIGTERM", ": draining");
  self->beginDrain(DrainMode::ExitWhenDone);
}

void Server::beginDrain(DrainMode mode) {
  if (draining()) {
    // A signal after POST /drain: the same drain, now ending in exit.
    if (mode == DrainMode::ExitWhenDone) drainMode_ = mode;
    if (listenersClosed_ && mode == DrainMode::ExitWhenDone) pollDrain();
    return;
  }
  drainMode_ = mode;
  shared_.draining.store(true);
  log::info("drain: not ready; accepting for ", config()->drainDelay.count(), "ms more");
  drainDelayTimer_.enable(config()->drainDelay);
}

Server::UndrainResult Server::endDrain(std::string* error) {
  if (!draining()) return UndrainResult::NotDraining;
  if (drainMode_ == DrainMode::ExitWhenDone || exiting_) return UndrainResult::SignalDrain;
  if (listenersClosed_) {
    std::vector<std::vector<core::Fd>> sockets(workers_.size());
    if (!bindListeners(sockets, error)) {
      log::error("undrain: ", *error, "; still draining");
      return UndrainResult::Failed;
    }
    for (size_t i = 0; i < workers_.size(); ++i) {
      auto perWorker = std::make_shared<std::vector<core::Fd>>(std::move(sockets[i]));
      workers_[i]->dispatcher().post(
          [w = workers_[i].get(), perWorker] { w->endDrain(std::move(*perWorker)); });
    }
  }
  drainDelayTimer_.disable();
  drainPollTimer_.disable();
  listenersClosed_ = false;
  shared_.draining.store(false);
  log::info("undrain: serving again");
  return UndrainResult::Resumed;
}

void Server::closeListeners() {
  listenersClosed_ = true;
  for (auto& worker : workers_) {
    worker->dispatcher().post([w = worker.get()] {
      w->closeListeners();
      w->beginDrain();
    });
  }
  drainDeadlineMs_ = core::monotonicMs() + config()->drainTimeout.count();
  log::info("drain: listeners closed; ", sessionCount(), " session(s) in flight, up to ",
            config()->drainTimeout.count(), "ms");
  pollDrain();
}

void Server::pollDrain() {
  const int64_t sessions = sessionCount();
  const bool timedOut = core::monotonicMs() >= drainDeadlineMs_;
  if (sessions == 0 || timedOut) {
    if (timedOut && sessions > 0) {
      log::warn("drain: timeout with ", sessions, " session(s) left; closing them");
    }
    if (drainMode_ == DrainMode::ExitWhenDone) {
      finish();
      return;
    }
    if (timedOut) {
      for (auto& worker : workers_) {
        worker->dispatcher().post([w = worker.get()] { w->abortAll(); });
      }
    }
    log::info("drain: done; staying up until SIGTERM");
    return;  // a later signal calls pollDrain() again and exits
  }
  drainPollTimer_.enable(kDrainPollInterval);
}

void Server::finish() {
  if (exiting_) return;
  exiting_ = true;
  for (auto& worker : workers_) {
    worker->dispatcher().post([w = worker.get()] {
      w->closeListeners();
      w->abortAll();
      w->stop();
    });
  }
  for (auto& worker : workers_)
    worker->join();
  log::info("exiting");
  dispatcher_.exit();
}

}  // namespace sluice::process
