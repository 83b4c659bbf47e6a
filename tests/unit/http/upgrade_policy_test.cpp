#include "http/upgrade_policy.h"

#include <catch2/catch.hpp>

namespace sluice::http {
namespace {

RequestHead offering(std::initializer_list<const char*> values) {
  RequestHead head;
  head.method = "GET";
  head.headers.add("Host", "h");
  for (const char* value : values)
    head.headers.add("Upgrade", value);
  return head;
}

const std::vector<std::string> kWebsocketOnly{"websocket"};

TEST_CASE("WebsocketIsAllowedByDefaultInAnyCase", "[http][upgrade]") {
  CHECK(upgradeAllowed(offering({"websocket"}), kWebsocketOnly));
  CHECK(upgradeAllowed(offering({"WebSocket"}), kWebsocketOnly));
  CHECK(upgradeAllowed(offering({"websocket/13"}), kWebsocketOnly));
}

TEST_CASE("H2cAndUnlistedProtocolsAreNotTunneled", "[http][upgrade]") {
  CHECK_FALSE(upgradeAllowed(offering({"h2c"}), kWebsocketOnly));
  CHECK_FALSE(upgradeAllowed(offering({"websocket, h2c"}), kWebsocketOnly));
  CHECK_FALSE(upgradeAllowed(offering({"websocket", "h2c"}), kWebsocketOnly));
  CHECK_FALSE(upgradeAllowed(offering({"websockets"}), kWebsocketOnly));
  CHECK_FALSE(upgradeAllowed(offering({""}), kWebsocketOnly));
  CHECK_FALSE(upgradeAllowed(offering({}), kWebsocketOnly));
}

TEST_CASE("AnEmptyListAllowsNothingAndAListedH2cIsAllowed", "[http][upgrade]") {
  CHECK_FALSE(upgradeAllowed(offering({"websocket"}), {}));
  CHECK(upgradeAllowed(offering({"h2c", "websocket"}), {"websocket", "h2c"}));
}

}  // namespace
}  // namespace sluice::http
