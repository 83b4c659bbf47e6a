#pragma once

// RequestHead: the admin port's request parser. The admin port serves a
// handful of GETs and body-less POSTs to probes, Prometheus and operators,
// so it takes only what those send, and refuses the rest before buffering
// it (the data path's parser, http/parser.*, is built for proxying):
//
//   request-line  METHOD SP /target SP HTTP/1.0|HTTP/1.1 CRLF
//   field lines   token ":" OWS value OWS CRLF   (no obs-fold, no CTL, CRLF only)
//   CRLF
//   body          Content-Length bytes only (read and discarded); no
//                 Transfer-Encoding
//
//   more than kMaxHeadBytes before the blank line  -> 431
//   more than kMaxFields field lines               -> 431
//   Content-Length above kMaxBodyBytes             -> 413 (before any body byte is read)
//   anything malformed                             -> 400
//
// Pure: no I/O, no state between calls; parseRequestHead() is called again
// on the grown buffer after each read (heads are small and capped).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::admin {

inline constexpr size_t kMaxHeadBytes = 8 * 1024;
inline constexpr size_t kMaxFields = 64;
inline constexpr uint64_t kMaxBodyBytes = 64 * 1024;

struct RequestHead {
  std::string method;
  std::string path;  // the target without its query
  bool keepAlive = true;
  uint64_t contentLength = 0;
  std::optional<std::string> bearer;  // the credentials of `Authorization: Bearer ...`
};

struct ParsedHead {
  enum class Status { Incomplete, Complete, Error };
  Status status = Status::Incomplete;
  size_t headBytes = 0;  // Complete: bytes up to and including the blank line
  int errorStatus = 0;   // Error: 400, 413 or 431
  std::string errorText;
  RequestHead head;
};

ParsedHead parseRequestHead(std::string_view buffer);

}  // namespace sluice::admin
