#pragma once

// An independent, deliberately simple and strict reader of HTTP/1.1 requests
// (RFC 9112), used as the oracle of http_framing_diff_fuzz.cpp. It shares no
// code with proxy/http: a bug in sluice's framing must not be repeated here.
//
// It reads one request from the front of a buffer and says where it ends:
//   request-line  = method SP request-target SP "HTTP/1." DIGIT CRLF
//   field-line    = token ":" OWS *(VCHAR / obs-text / SP / HTAB) CRLF
//   framing       = Transfer-Encoding (final coding "chunked", once) or one
//                   Content-Length (1*DIGIT), never both; neither: no body
//   chunked-body  = *(1*HEXDIG *(BWS ";" BWS token [BWS "=" BWS
//                   (token / quoted-string)]) CRLF data CRLF) last-chunk
//                   trailer-fields CRLF
// Only CRLF ends a line anywhere. Header-only, for inclusion in fuzz targets.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace strict_http1 {

enum class Status { Ok, BadHead, BadBody, Incomplete };

struct Request {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> fields;
  std::string payload;  // decoded body
  size_t end = 0;       // bytes the request takes from the buffer
};

namespace detail {

inline bool tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  for (char t : std::string_view("!#$%&'*+-.^_`|~")) {
    if (c == static_cast<unsigned char>(t)) return true;
  }
  return false;
}
inline bool vchar(unsigned char c) {
  return c >= 0x21 && c <= 0x7E;
}
inline bool ws(unsigned char c) {
  return c == ' ' || c == '\t';
}
inline int hex(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
inline std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// The line at `pos` up to CRLF (exclusive); false if no CRLF yet. A bare CR
// or LF inside the line is left in it for the caller's checks to refuse.
inline bool line(std::string_view in, size_t pos, std::string_view& out, size_t& next) {
  const size_t crlf = in.find("\r\n", pos);
  if (crlf == std::string_view::npos) return false;
  out = in.substr(pos, crlf - pos);
  next = crlf + 2;
  return true;
}

// field-line content (no CRLF). Fills name and trimmed value.
inline bool fieldLine(std::string_view l, std::string& name, std::string& value) {
  const size_t colon = l.find(':');
  if (colon == 0 || colon == std::string_view::npos) return false;
  for (size_t i = 0; i < colon; ++i) {
    if (!tchar(static_cast<unsigned char>(l[i]))) return false;
  }
  std::string_view v = l.substr(colon + 1);
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (!(vchar(u) || u >= 0x80 || ws(u))) return false;
  }
  while (!v.empty() && ws(static_cast<unsigned char>(v.front())))
    v.remove_prefix(1);
  while (!v.empty() && ws(static_cast<unsigned char>(v.back())))
    v.remove_suffix(1);
  name.assign(l.substr(0, colon));
  value.assign(v);
  return true;
}

// chunk-size [chunk-ext], already without its CRLF.
inline bool chunkSizeLine(std::string_view l, uint64_t& size) {
  size_t i = 0;
  size = 0;
  while (i < l.size() && hex(static_cast<unsigned char>(l[i])) >= 0) {
    if (i >= 16) return false;
    size = size * 16 + static_cast<uint64_t>(hex(static_cast<unsigned char>(l[i])));
    ++i;
  }
  if (i == 0) return false;
  auto skipWs = [&] {
    while (i < l.size() && ws(static_cast<unsigned char>(l[i])))
      ++i;
  };
  auto token = [&] {
    const size_t start = i;
    while (i < l.size() && tchar(static_cast<unsigned char>(l[i])))
      ++i;
    return i > start;
  };
  while (i < l.size()) {
    skipWs();
    if (i >= l.size() || l[i] != ';') return false;
    ++i;
    skipWs();
    if (!token()) return false;
    const size_t afterName = i;
    skipWs();
    if (i < l.size() && l[i] == '=') {
      ++i;
      skipWs();
      if (i < l.size() && l[i] == '"') {
        ++i;
        bool closed = false;
        while (i < l.size()) {
          const auto c = static_cast<unsigned char>(l[i]);
          if (c == '"') {
            ++i;
            closed = true;
            break;
          }
          if (c == '\\') {
            if (i + 1 >= l.size()) return false;
            const auto q = static_cast<unsigned char>(l[i + 1]);
            if (!(ws(q) || vchar(q) || q >= 0x80)) return false;
            i += 2;
            continue;
          }
          if (!(ws(c) || c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E) ||
                c >= 0x80)) {
            return false;
          }
          ++i;
        }
        if (!closed) return false;
      } else if (!token()) {
        return false;
      }
    } else {
      i = afterName;  // whitespace after a name must lead to ";" or "="
      if (i < l.size() && l[i] != ';' && !ws(static_cast<unsigned char>(l[i]))) return false;
      if (i < l.size() && ws(static_cast<unsigned char>(l[i]))) {
        skipWs();
        if (i >= l.size()) return false;  // trailing whitespace before CRLF
      }
    }
  }
  return true;
}

}  // namespace detail

// Reads the request at the front of `in`.
inline Status read(std::string_view in, Request& req) {
  using namespace detail;
  req = Request{};
  size_t pos = 0;
  std::string_view l;
  size_t next = 0;
  if (!line(in, pos, l, next)) {
    return in.find('\n') != std::string_view::npos ? Status::BadHead : Status::Incomplete;
  }
  // request-line
  const size_t sp1 = l.find(' ');
  if (sp1 == 0 || sp1 == std::string_view::npos) return Status::BadHead;
  const size_t sp2 = l.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return Status::BadHead;
  for (size_t i = 0; i < sp1; ++i) {
    if (!tchar(static_cast<unsigned char>(l[i]))) return Status::BadHead;
  }
  for (size_t i = sp1 + 1; i < sp2; ++i) {
    if (!vchar(static_cast<unsigned char>(l[i]))) return Status::BadHead;
  }
  const std::string_view version = l.substr(sp2 + 1);
  if (version.size() != 8 || version.substr(0, 7) != "HTTP/1." || version[7] < '0' ||
      version[7] > '9') {
    return Status::BadHead;
  }
  req.method.assign(l.substr(0, sp1));
  req.target.assign(l.substr(sp1 + 1, sp2 - sp1 - 1));
  pos = next;
  // field lines
  while (true) {
    if (!line(in, pos, l, next)) {
      return in.find('\n', pos) != std::string_view::npos ? Status::BadHead : Status::Incomplete;
    }
    pos = next;
    if (l.empty()) break;
    std::string name;
    std::string value;
    if (!fieldLine(l, name, value)) return Status::BadHead;
    req.fields.emplace_back(std::move(name), std::move(value));
  }
  // framing
  int contentLengths = 0;
  bool te = false;
  uint64_t contentLength = 0;
  std::string codings;
  for (const auto& [name, value] : req.fields) {
    const std::string n = lower(name);
    if (n == "content-length") {
      ++contentLengths;
      if (value.empty() || value.size() > 18) return Status::BadHead;
      contentLength = 0;
      for (char c : value) {
        if (c < '0' || c > '9') return Status::BadHead;
        contentLength = contentLength * 10 + static_cast<uint64_t>(c - '0');
      }
    } else if (n == "transfer-encoding") {
      te = true;
      if (!codings.empty()) codings += ",";
      codings += lower(value);
    }
  }
  if (contentLengths > 1 || (te && contentLengths > 0)) return Status::BadHead;
  if (te) {
    // the final coding is chunked, and chunked appears once
    std::vector<std::string> list;
    size_t start = 0;
    while (start <= codings.size()) {
      size_t comma = codings.find(',', start);
      if (comma == std::string::npos) comma = codings.size();
      std::string item = codings.substr(start, comma - start);
      while (!item.empty() && ws(static_cast<unsigned char>(item.front())))
        item.erase(0, 1);
      while (!item.empty() && ws(static_cast<unsigned char>(item.back())))
        item.pop_back();
      if (!item.empty()) list.push_back(item);
      start = comma + 1;
    }
    int chunked = 0;
    for (const std::string& c : list)
      chunked += c == "chunked" ? 1 : 0;
    if (list.empty() || list.back() != "chunked" || chunked != 1) return Status::BadHead;
    // chunks
    while (true) {
      if (!line(in, pos, l, next)) {
        return in.find('\n', pos) != std::string_view::npos ? Status::BadBody : Status::Incomplete;
      }
      uint64_t size = 0;
      if (!chunkSizeLine(l, size)) return Status::BadBody;
      pos = next;
      if (size == 0) break;
      if (in.size() - pos < size) return Status::Incomplete;
      req.payload.append(in.substr(pos, size));
      pos += size;
      if (in.size() - pos < 2) {
        if (in.size() > pos && in[pos] != '\r') return Status::BadBody;
        return Status::Incomplete;
      }
      if (in.substr(pos, 2) != "\r\n") return Status::BadBody;
      pos += 2;
    }
    while (true) {
      if (!line(in, pos, l, next)) {
        return in.find('\n', pos) != std::string_view::npos ? Status::BadBody : Status::Incomplete;
      }
      pos = next;
      if (l.empty()) break;
      std::string name;
      std::string value;
      if (!fieldLine(l, name, value)) return Status::BadBody;
    }
  } else if (contentLengths == 1) {
    if (in.size() - pos < contentLength) return Status::Incomplete;
    req.payload.assign(in.substr(pos, contentLength));
    pos += contentLength;
  }
  req.end = pos;
  return Status::Ok;
}

}  // namespace strict_http1
