#include "admin/request_head.h"

#include <algorithm>

namespace sluice::admin {
namespace {

bool isTokenChar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isTokenChar);
}

// A field value's bytes: visible ASCII, obs-text, SP and HTAB; no CTL.
bool isFieldValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

// The request-target: origin-form, visible ASCII only.
bool isTarget(std::string_view s) {
  return !s.empty() && s.front() == '/' && std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);
         });
}

// True when the comma-separated list `value` holds `token` (any case).
bool hasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (equalsIgnoreCase(trimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

ParsedHead error(int status, std::string text) {
  ParsedHead result;
  result.status = ParsedHead::Status::Error;
  result.errorStatus = status;
  result.errorText = std::move(text);
  return result;
}

}  // namespace

ParsedHead parseRequestHead(std::string_view buffer) {
  const size_t end = buffer.substr(0, kMaxHeadBytes).find("\r\n\r\n");
  // A bare LF would otherwise only show at the cap (or never, for a client
  // that ends its head with LF LF and waits): refuse it as soon as it arrives.
  const std::string_view region =
      buffer.substr(0, end == std::string_view::npos ? kMaxHeadBytes : end + 4);
  for (size_t lf = region.find('\n'); lf != std::string_view::npos;
       lf = region.find('\n', lf + 1)) {
    if (lf == 0 || region[lf - 1] != '\r') return error(400, "bare LF");
  }
  if (end == std::string_view::npos) {
    if (buffer.size() >= kMaxHeadBytes) return error(431, "request header too large");
    return {};
  }
  std::string_view head = buffer.substr(0, end + 2);  // every line ends in CRLF
  ParsedHead result;
  result.headBytes = end + 4;
  auto nextLine = [&head](std::string_view& line) {
    const size_t crlf = head.find("\r\n");
    line = head.substr(0, crlf);
    head.remove_prefix(crlf + 2);
    // A CR or LF inside a line is a bare one: framing others read differently.
    return line.find_first_of("\r\n") == std::string_view::npos;
  };

  std::string_view line;
  if (!nextLine(line)) return error(400, "bare CR or LF");
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return error(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!isToken(method) || !isTarget(target)) return error(400, "malformed request line");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return error(400, "unsupported version");
  result.head.method = std::string(method);
  result.head.path = std::string(target.substr(0, target.find('?')));
  result.head.keepAlive = version == "HTTP/1.1";

  size_t fields = 0;
  bool sawLength = false;
  while (!head.empty()) {
    if (!nextLine(line)) return error(400, "bare CR or LF");
    if (++fields > kMaxFields) return error(431, "too many header fields");
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) {
      return error(400, "malformed header field");  // obs-fold starts with SP/HTAB: lands here
    }
    const std::string_view name = line.substr(0, colon);
    const std::string_view value = trimOws(line.substr(colon + 1));
    if (!isFieldValue(value)) return error(400, "control byte in a header field");
    if (equalsIgnoreCase(name, "Content-Length")) {
      if (value.empty() || value.size() > 18 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        return error(400, "bad Content-Length");
      }
      const uint64_t length = std::stoull(std::string(value));
      if (sawLength && length != result.head.contentLength) return error(400, "bad Content-Length");
      sawLength = true;
      result.head.contentLength = length;
    } else if (equalsIgnoreCase(name, "Transfer-Encoding")) {
      return error(400, "Transfer-Encoding is not accepted here");
    } else if (equalsIgnoreCase(name, "Connection")) {
      if (hasToken(value, "close")) result.head.keepAlive = false;
      if (hasToken(value, "keep-alive")) result.head.keepAlive = true;
    } else if (equalsIgnoreCase(name, "Authorization")) {
      const size_t space = value.find(' ');
      if (space != std::string_view::npos && equalsIgnoreCase(value.substr(0, space), "Bearer")) {
        result.head.bearer = std::string(trimOws(value.substr(space + 1)));
      }
    }
  }
  if (result.head.contentLength > kMaxBodyBytes) return error(413, "request body too large");
  result.status = ParsedHead::Status::Complete;
  return result;
}

}  // namespace sluice::admin
