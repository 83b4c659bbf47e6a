#include "http/rewrite.h"

#include <http_parser.h>

#include <algorithm>
#include <array>
#include <vector>

#include "core/ascii.h"

namespace sluice::http {

namespace {

constexpr std::array<std::string_view, 8> kHopByHop = {
    "Connection",          "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
    "Proxy-Authorization", "TE",         "Trailer",          "Upgrade",
};

// Fields a Connection header may not remove (see rewrite.h).
constexpr std::array<std::string_view, 3> kNeverNominated = {
    "Content-Length",
    "Transfer-Encoding",
    "Host",
};

bool inList(std::string_view name, const auto& list) {
  for (std::string_view entry : list) {
    if (equalsIgnoreCase(name, entry)) return true;
  }
  return false;
}

bool lessIgnoreCase(std::string_view a, std::string_view b) {
  const auto lower = [](char c) { return static_cast<unsigned char>(core::asciiLower(c)); };
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(),
                                      [&](char x, char y) { return lower(x) < lower(y); });
}

// The field names the Connection headers of a message nominate as
// hop-by-hop, collected once (sorted, case-insensitive): asking
// Headers::hasToken("Connection", name) per field instead costs fields x
// fields, and a 64 KiB head of tiny fields stalled a worker for seconds.
class Nominated {
 public:
  explicit Nominated(const Headers& headers) {
    for (const Header& h : headers) {
      if (!equalsIgnoreCase(h.name, "Connection")) continue;
      forEachListToken(h.value, [&](std::string_view token) {
        // Hop-by-hop fields go anyway ("keep-alive", "upgrade": no entry).
        if (!inList(token, kNeverNominated) && !isHopByHop(token)) names_.push_back(token);
      });
    }
    std::sort(names_.begin(), names_.end(), lessIgnoreCase);
  }

  // True if a Connection header names `name`.
  bool contains(std::string_view name) const {
    return std::binary_search(names_.begin(), names_.end(), name, lessIgnoreCase);
  }

  bool stripped(std::string_view name, bool forwardUpgrade) const {
    if (forwardUpgrade && equalsIgnoreCase(name, "Upgrade")) return false;
    return isHopByHop(name) || contains(name);
  }

 private:
  std::vector<std::string_view> names_;
};

// The client's own forwarding claims (see rewrite.h): X-Forwarded-Proto is
// always sluice's; in replace mode the others are dropped too.
// A name with '_' where the forwarding field has '-' (X_Forwarded_For) is the
// same variable to a backend that maps both to HTTP_X_FORWARDED_FOR (CGI,
// WSGI, Rack): it could overwrite sluice's own field there. Never forwarded.
bool underscoreForwardingAlias(std::string_view name) {
  if (name.find('_') == std::string_view::npos) return false;
  std::string dashed(name);
  std::replace(dashed.begin(), dashed.end(), '_', '-');
  return equalsIgnoreCase(dashed, "X-Forwarded-For") ||
         equalsIgnoreCase(dashed, "X-Forwarded-Proto") || equalsIgnoreCase(dashed, "X-Real-IP");
}

bool clientForwardingDropped(std::string_view name, const RequestRewrite& rewrite) {
  if (equalsIgnoreCase(name, "X-Forwarded-Proto") || underscoreForwardingAlias(name)) return true;
  return !rewrite.appendForwardedFor &&
         (equalsIgnoreCase(name, "X-Real-IP") || equalsIgnoreCase(name, "Forwarded"));
}

void appendField(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void appendVersion(std::string& out, Version version) {
  out.append("HTTP/");
  out.append(std::to_string(version.major));
  out.push_back('.');
  out.append(std::to_string(version.minor));
}

}  // namespace

std::string_view statusReason(uint16_t status) {
  std::string_view reason = http_status_str(static_cast<http_status>(status));
  if (reason.empty() || reason.front() == '<') return "Unknown";
  return reason;
}

bool isHopByHop(std::string_view name) {
  return inList(name, kHopByHop);
}

std::string serializeRequestHead(const RequestHead& head, const RequestRewrite& rewrite) {
  std::string out;
  out.reserve(256);
  out.append(head.method);
  out.push_back(' ');
  out.append(head.target);
  out.append(" HTTP/1.1\r\n");
  if (!head.headers.has("Host")) appendField(out, "Host", rewrite.fallbackHost);

  std::string forwardedFor;
  const Nominated nominated(head.headers);
  const bool keepForwardedFor =
      rewrite.appendForwardedFor && !nominated.contains("X-Forwarded-For");
  for (const Header& h : head.headers) {
    if (equalsIgnoreCase(h.name, "X-Forwarded-For")) {
      if (!keepForwardedFor) continue;
      if (!forwardedFor.empty()) forwardedFor.append(", ");
      forwardedFor.append(h.value);
      continue;
    }
    if (clientForwardingDropped(h.name, rewrite)) continue;
    if (rewrite.dropExpect && equalsIgnoreCase(h.name, "Expect")) continue;
    if (nominated.stripped(h.name, rewrite.forwardUpgrade)) continue;
    appendField(out, h.name, h.value);
  }
  if (!rewrite.clientIp.empty()) {
    if (!forwardedFor.empty()) forwardedFor.append(", ");
    forwardedFor.append(rewrite.clientIp);
  }

  appendField(out, "Connection", rewrite.forwardUpgrade ? "upgrade" : "keep-alive");
  if (!forwardedFor.empty()) appendField(out, "X-Forwarded-For", forwardedFor);
  appendField(out, "X-Forwarded-Proto", rewrite.proto);
  out.append("\r\n");
  return out;
}

bool needsDechunk(const ResponseHead& head, Version clientVersion) {
  return head.framing == BodyFraming::Chunked && !clientVersion.atLeast11();
}

std::string serializeResponseHead(const ResponseHead& head, const ResponseRewrite& rewrite) {
  const bool dechunk = needsDechunk(head, rewrite.clientVersion);
  const bool keepAlive = rewrite.keepAlive && !dechunk;

  std::string out;
  out.reserve(256);
  appendVersion(out, Version{1, rewrite.clientVersion.atLeast11() ? uint16_t{1} : uint16_t{0}});
  out.push_back(' ');
  out.append(std::to_string(head.status));
  out.push_back(' ');
  out.append(head.reason.empty() ? statusReason(head.status) : std::string_view(head.reason));
  out.append("\r\n");

  const Nominated nominated(head.headers);
  for (const Header& h : head.headers) {
    if (nominated.stripped(h.name, rewrite.forwardUpgrade)) continue;
    if (dechunk && equalsIgnoreCase(h.name, "Transfer-Encoding")) continue;
    appendField(out, h.name, h.value);
  }
  if (rewrite.forwardUpgrade) {
    appendField(out, "Connection", "upgrade");
  } else if (!keepAlive) {
    appendField(out, "Connection", "close");
  } else if (!rewrite.clientVersion.atLeast11()) {
    appendField(out, "Connection", "keep-alive");
  }
  out.append("\r\n");
  return out;
}

std::string buildErrorResponse(const ErrorResponse& error) {
  const std::string_view reasonPhrase = statusReason(error.status);
  std::string body = std::to_string(error.status);
  body.push_back(' ');
  body.append(reasonPhrase);
  if (!error.reason.empty()) {
    body.append(" (");
    body.append(error.reason);
    body.push_back(')');
  }
  body.push_back('\n');

  std::string out;
  out.reserve(192 + body.size());
  appendVersion(out, Version{1, error.clientVersion.atLeast11() ? uint16_t{1} : uint16_t{0}});
  out.push_back(' ');
  out.append(std::to_string(error.status));
  out.push_back(' ');
  out.append(reasonPhrase);
  out.append("\r\n");
  appendField(out, "Content-Type", "text/plain");
  appendField(out, "Content-Length", std::to_string(body.size()));
  if (!error.reason.empty()) appendField(out, "X-Sluice-Reason", error.reason);
  if (error.close) {
    appendField(out, "Connection", "close");
  } else if (!error.clientVersion.atLeast11()) {
    appendField(out, "Connection", "keep-alive");
  }
  out.append("\r\n");
  if (!error.headRequest) out.append(body);
  return out;
}

}  // namespace sluice::http
