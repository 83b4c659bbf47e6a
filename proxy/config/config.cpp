// The small behaviours of the plain config structs: printing addresses and
// enums (the same spellings the YAML uses) and finding a cluster by name.

#include "config/config.h"

namespace sluice::config {

std::string HostPort::toString() const {
  const bool bracket = !isName && host.find(':') != std::string::npos;
  std::string out = bracket ? "[" + host + "]" : host;
  return out + ":" + std::to_string(port);
}

const Cluster* Config::findCluster(const std::string& name) const {
  for (const auto& cluster : clusters) {
    if (cluster.name == name) return &cluster;
  }
  return nullptr;
}

const char* toString(LogLevel level) {
  switch (level) {
    case LogLevel::Error:
      return "error";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Info:
      return "info";
    case LogLevel::Debug:
      return "debug";
  }
  return "?";
}

const char* toString(Protocol protocol) {
  switch (protocol) {
    case Protocol::Tcp:
      return "tcp";
    case Protocol::Http:
      return "http";
  }
  return "?";
}

const char* toString(Balance balance) {
  switch (balance) {
    case Balance::RoundRobin:
      return "round_robin";
    case Balance::LeastConnections:
      return "least_connections";
    case Balance::RandomTwo:
      return "random_two";
    case Balance::HashClientIp:
      return "hash_client_ip";
  }
  return "?";
}

const char* toString(ProxyProtocolVersion version) {
  switch (version) {
    case ProxyProtocolVersion::Off:
      return "off";
    case ProxyProtocolVersion::V1:
      return "v1";
    case ProxyProtocolVersion::V2:
      return "v2";
  }
  return "?";
}

const char* toString(HealthCheckType type) {
  switch (type) {
    case HealthCheckType::Tcp:
      return "tcp";
    case HealthCheckType::Http:
      return "http";
  }
  return "?";
}

const char* toString(Readiness readiness) {
  return readiness == Readiness::RequiresBackend ? "requires_backend" : "independent";
}

}  // namespace sluice::config
