#pragma once

// Request buffering: reading a small request body whole before an upstream
// connection is leased (listener key http.request_buffer_size), as nginx's
// proxy_request_buffering does.
//
// Why: a lease is a backend slot (pool.max_connections across the workers).
// Leased at the head, a request whose client trickles its body holds a slot
// for as long as the client likes (up to timeouts.request), so a handful of
// slow uploads could make every other request queue and get 503. Buffered,
// the same request holds only its own staging buffer while its body comes
// in, and the connection for one round trip.
//
// Which requests wait for their body (bufferBodyFirst):
//   * a body is expected (Content-Length > 0, or chunked),
//   * it can fit: Content-Length <= the limit; a chunked body is tried and
//     streams as soon as its wire bytes outgrow the limit (bufferingOver),
//   * also when the client waits for a 100 Continue: sluice sends it itself
//     and drops Expect from the forwarded head, as nginx does (otherwise an
//     Expect header would be a way around buffering, back to pinned slots).
// The limit is the smaller of http.request_buffer_size and buffer_size: a
// request never stages more than buffer_size bytes (back-pressure), so a
// bigger buffer could never fill. Everything else leases at the head and
// streams its body, as before; timeouts.request_body (408) bounds how long
// either kind waits for the next body byte.
//
// Per-IP cap on busy leases: not done. With buffering, a lease is held by a
// client only while a body larger than the limit streams; such uploads are
// bounded by timeouts.request_body and max_connections_per_ip.

#include <cstddef>
#include <cstdint>

#include "http/message.h"

namespace sluice::http {

// The body limit in effect: `configured` (0: never buffer) capped at `buffer`.
uint64_t requestBufferLimit(uint64_t configured, uint64_t buffer);

// At the head: read this request's body before asking for a connection?
bool bufferBodyFirst(const RequestHead& head, uint64_t limit);

// After each parse step while buffering: ask for a connection now? True once
// the request is complete or its body outgrew the limit (it streams on).
// `bodyBytes`: body bytes as received (chunk framing included).
bool bufferingOver(bool requestComplete, uint64_t bodyBytes, uint64_t limit);

}  // namespace sluice::http
