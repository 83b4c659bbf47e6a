#pragma once

// Turning parsed heads back into bytes for the other side of the proxy, and
// sluice's own error responses.
//
//   serializeRequestHead()   client request -> upstream (always HTTP/1.1
//                            keep-alive, hop-by-hop fields stripped,
//                            X-Forwarded-For / X-Forwarded-Proto added)
//   serializeResponseHead()  upstream response -> client (status line in the
//                            client's version, hop-by-hop stripped, the
//                            session's keep-alive decision in Connection)
//   buildErrorResponse()     400/408/413/431/502/503/504... with a short text
//                            body and X-Sluice-Reason
//
// Which fields are hop-by-hop (RFC 9110 §7.6.1), i.e. never forwarded:
//   Connection, every field Connection names, Keep-Alive, Proxy-Connection,
//   Proxy-Authenticate, Proxy-Authorization, TE, Trailer, and Upgrade unless
//   the session is forwarding an upgrade (then Connection: upgrade is sent).
//   Trailer only announces trailer fields; the fields themselves travel with
//   the re-framed chunked body (see chunked.h), so dropping it is harmless.
//
// Framing fields are kept, on purpose:
//   Transfer-Encoding is formally a hop-by-hop property of the message, but
//   sluice forwards the body in the same framing (a chunked body re-framed
//   chunk by chunk, see parser.h), so the framing header must travel with it
//   or the next hop would misread the body. Content-Length likewise.
//   Content-Length, Transfer-Encoding and Host are never removed even when
//   Connection names them ("Connection: Content-Length" would otherwise let a
//   client make sluice forward a body without its length: request smuggling).
//
// Forwarding fields (listener key http.forwarded_headers): by default
// (replace) the client's X-Forwarded-For, X-Forwarded-Proto, X-Real-IP and
// Forwarded are dropped, since any client can forge them, and sluice writes
// its own X-Forwarded-For (the peer address) and X-Forwarded-Proto. With
// appendForwardedFor (a listener behind a trusted load balancer) every
// incoming X-Forwarded-For value is kept, joined with ", ", the peer address
// appended, and X-Real-IP and Forwarded pass unchanged; X-Forwarded-Proto is
// replaced in both modes (sluice knows the scheme). Both are written last.
// In both modes a name spelling one of them with '_' (X_Forwarded_For) is
// dropped: CGI, WSGI and Rack backends read it as the same variable.
//
// An HTTP/1.0 client cannot read a chunked response. needsDechunk() tells the
// session so: the head then goes out without Transfer-Encoding and with
// Connection: close, and the session relays the body with
// BodyMode::Decoded and closes the connection to end it.

#include <cstdint>
#include <string>
#include <string_view>

#include "http/message.h"

namespace sluice::http {

// The standard reason phrase ("Service Unavailable"), "Unknown" if none.
std::string_view statusReason(uint16_t status);

// True for fields that are hop-by-hop whatever Connection says (Upgrade
// included; the serializers keep it when forwarding an upgrade).
bool isHopByHop(std::string_view name);

struct RequestRewrite {
  std::string_view clientIp{};      // appended to X-Forwarded-For; empty: not appended
  std::string_view proto = "http";  // X-Forwarded-Proto
  bool appendForwardedFor = false;  // keep the client's X-Forwarded-For chain & co. (see above)
  bool forwardUpgrade = false;      // keep Upgrade and send Connection: upgrade
  bool dropExpect = false;          // sluice itself answers Expect: 100-continue
  // Host sent when the client sent none (HTTP/1.0 allows that, HTTP/1.1
  // upstreams require one); may be empty (RFC 9112 §3.2).
  std::string_view fallbackHost{};
};

// "METHOD target HTTP/1.1\r\n" + fields + "\r\n".
std::string serializeRequestHead(const RequestHead& head, const RequestRewrite& rewrite);

struct ResponseRewrite {
  Version clientVersion{};      // the status line uses it (1.0 or 1.1)
  bool keepAlive = false;       // the session keeps the downstream connection open
  bool forwardUpgrade = false;  // relaying a 101: keep Upgrade, send Connection: upgrade
};

// Connection field written: "upgrade" when forwarding an upgrade, else
// "close" when !keepAlive, else "keep-alive" for an HTTP/1.0 client (the
// session passes keepAlive only if that client asked for it), else none
// (HTTP/1.1 default).
std::string serializeResponseHead(const ResponseHead& head, const ResponseRewrite& rewrite);

// A chunked response to an HTTP/1.0 client must be de-chunked and closed.
bool needsDechunk(const ResponseHead& head, Version clientVersion);

struct ErrorResponse {
  uint16_t status = 502;
  std::string_view reason{};  // X-Sluice-Reason token, e.g. "queue_timeout"
  bool close = true;          // the session closes after sending it
  Version clientVersion{};
  bool headRequest = false;  // answer to HEAD: headers only
};

// "HTTP/1.1 503 Service Unavailable\r\n"
// "Content-Type: text/plain\r\n"
// "Content-Length: 40\r\n"
// "X-Sluice-Reason: queue_timeout\r\n"
// "Connection: close\r\n\r\n"
// "503 Service Unavailable (queue_timeout)\n"
std::string buildErrorResponse(const ErrorResponse& error);

}  // namespace sluice::http
