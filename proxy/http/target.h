#pragma once

// Request-target validation (RFC 9112 §3.2), stricter than http-parser.
//
// Debian's non-strict http-parser lets control bytes and bytes >= 0x80 into
// the URL; sluice re-serializes the start line from the parsed target, so a
// byte another hop reads as a separator (a tab, a vertical tab, a NUL, a
// UTF-8 sequence some servers normalize) would reach it unexamined. Every
// form of request-target (origin, absolute, authority, asterisk) is made of
// visible US-ASCII only: anything else is a 400.
//
// Thread: any (pure function).

#include <string_view>

namespace sluice::http {

// True if `target` is non-empty and every byte is VCHAR (0x21-0x7E): no CTL,
// no space-like byte, nothing >= 0x80.
bool isValidRequestTarget(std::string_view target);

}  // namespace sluice::http
