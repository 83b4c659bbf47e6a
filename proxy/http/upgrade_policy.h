#pragma once

// Which Upgrade requests become tunnels (listener key http.upgrade).
//
// After a 101 a session relays bytes blindly, with none of HTTP's limits
// (header sizes, body limits, request timeouts), so only protocols the
// operator listed may get there; the default is [websocket]. h2c in
// particular must never tunnel by default: the backend would then speak
// HTTP/2 to the client past every check sluice makes.
//
// A request offering anything else is not refused: it goes on as a plain
// HTTP/1.1 request, its Upgrade field (and Connection's "upgrade" and the
// fields Connection names, such as HTTP2-Settings) removed, which is what
// nginx does when it is not configured to pass Upgrade. RFC 9110 §7.8 lets a
// server ignore an Upgrade, so the client simply gets the ordinary answer.

#include <string>
#include <vector>

#include "http/message.h"

namespace sluice::http {

// True when every protocol `head` offers in Upgrade ("websocket",
// "h2c", "foo/2": the version is ignored) is on `allowed` (lowercase names),
// compared without case. False when it offers none.
bool upgradeAllowed(const RequestHead& head, const std::vector<std::string>& allowed);

}  // namespace sluice::http
