#include "process/session.h"

namespace sluice::process {

const char* code(TerminationReason reason) {
  switch (reason) {
    case TerminationReason::Completed:
      return "--";
    case TerminationReason::DownstreamReset:
      return "CR";
    case TerminationReason::UpstreamReset:
      return "SR";
    case TerminationReason::IdleTimeout:
      return "IT";
    case TerminationReason::ConnectFailed:
      return "SC";
    case TerminationReason::NoHealthyBackend:
      return "NH";
    case TerminationReason::QueueFull:
      return "QF";
    case TerminationReason::QueueTimeout:
      return "QT";
    case TerminationReason::Shutdown:
      return "KS";
  }
  return "??";
}

const char* label(TerminationReason reason) {
  switch (reason) {
    case TerminationReason::Completed:
      return "completed";
    case TerminationReason::DownstreamReset:
      return "downstream_reset";
    case TerminationReason::UpstreamReset:
      return "upstream_reset";
    case TerminationReason::IdleTimeout:
      return "idle_timeout";
    case TerminationReason::ConnectFailed:
      return "connect_failed";
    case TerminationReason::NoHealthyBackend:
      return "no_healthy_backend";
    case TerminationReason::QueueFull:
      return "queue_full";
    case TerminationReason::QueueTimeout:
      return "queue_timeout";
    case TerminationReason::Shutdown:
      return "shutdown";
  }
  return "unknown";
}

Session::Session(Worker& worker, std::shared_ptr<ListenerRuntime> listener,
                 const net::SocketAddress& client)
    : worker_(worker), listener_(std::move(listener)), client_(client) {}

Session::~Session() = default;

}  // namespace sluice::process
