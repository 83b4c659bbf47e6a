#include "http/replay.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>

namespace sluice::http {
namespace {

std::string drain(evbuffer* buffer) {
  std::string out(evbuffer_get_length(buffer), '\0');
  evbuffer_remove(buffer, out.data(), out.size());
  return out;
}

core::EvbufferPtr bufferWith(const std::string& bytes) {
  core::EvbufferPtr buffer(evbuffer_new());
  evbuffer_add(buffer.get(), bytes.data(), bytes.size());
  return buffer;
}

RequestHead request(std::string method, std::optional<uint64_t> contentLength, bool chunked) {
  RequestHead head;
  head.method = std::move(method);
  head.contentLength = contentLength;
  head.chunked = chunked;
  return head;
}

TEST_CASE("Only idempotent methods are retried once the request may have left", "[http][replay]") {
  for (const char* method : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    CAPTURE(method);
    CHECK(idempotentMethod(method));
    CHECK(mayRetry(request(method, 10, false), true));
    CHECK(mayRetry(request(method, std::nullopt, true), true));
    CHECK(mayRetry(request(method, std::nullopt, false), false));
  }
  for (const char* method : {"POST", "PATCH", "CONNECT", "get", "PROPFIND"}) {
    CAPTURE(method);
    CHECK_FALSE(idempotentMethod(method));
    // A bodiless POST that reached the backend may have been processed.
    CHECK_FALSE(mayRetry(request(method, std::nullopt, false), true));
    CHECK_FALSE(mayRetry(request(method, 0, false), true));
    CHECK_FALSE(mayRetry(request(method, 1, false), true));
    CHECK_FALSE(mayRetry(request(method, std::nullopt, true), true));
    // Provably never sent (the first write failed): safe to send elsewhere.
    CHECK(mayRetry(request(method, 0, false), false));
    CHECK(mayRetry(request(method, 100, false), false));
    CHECK(mayRetry(request(method, std::nullopt, true), false));
  }
}

TEST_CASE("ReplayBuffer keeps the staged bytes and every later byte", "[http][replay]") {
  ReplayBuffer replay(100);
  CHECK_FALSE(replay.usable());
  replay.append("ignored", 7);  // no copy started: nothing kept
  CHECK(replay.size() == 0);

  auto staged = bufferWith("PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234");
  replay.start(staged.get());
  CHECK(evbuffer_get_length(staged.get()) == 44);  // the source keeps its bytes
  replay.append("56789", 5);
  REQUIRE(replay.usable());
  CHECK(replay.size() == 49);

  auto out = bufferWith("");
  REQUIRE(replay.replayInto(out.get()));
  CHECK(drain(out.get()) == "PUT /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789");
  CHECK_FALSE(replay.usable());
  CHECK_FALSE(replay.replayInto(out.get()));
  CHECK(evbuffer_get_length(out.get()) == 0);
}

TEST_CASE("ReplayBuffer copies a staged buffer made of many chunks", "[http][replay]") {
  core::EvbufferPtr staged(evbuffer_new());
  std::string want;
  for (int i = 0; i < 300; ++i) {
    const std::string piece = "chunk-" + std::to_string(i) + ";";
    // A reference per piece: one evbuffer chain each.
    core::EvbufferPtr part = bufferWith(piece);
    evbuffer_add_buffer(staged.get(), part.get());
    evbuffer_add_reference(staged.get(), "|", 1, nullptr, nullptr);
    want += piece + "|";
  }
  ReplayBuffer replay(ReplayBuffer::kDefaultBudget);
  replay.start(staged.get());
  auto out = bufferWith("");
  REQUIRE(replay.replayInto(out.get()));
  CHECK(drain(out.get()) == want);
  CHECK(drain(staged.get()) == want);
}

TEST_CASE("ReplayBuffer gives up once the request outgrows the budget", "[http][replay]") {
  SECTION("while streaming") {
    ReplayBuffer replay(16);
    auto staged = bufferWith("0123456789");
    replay.start(staged.get());
    replay.append("abcdef", 6);  // exactly the budget: still kept
    CHECK(replay.usable());
    CHECK(replay.size() == 16);
    replay.append("g", 1);
    CHECK_FALSE(replay.usable());
    CHECK(replay.overflowed());
    CHECK(replay.size() == 0);
    replay.append("h", 1);  // stays given up
    CHECK_FALSE(replay.usable());
    auto out = bufferWith("");
    CHECK_FALSE(replay.replayInto(out.get()));
  }
  SECTION("already staged") {
    ReplayBuffer replay(16);
    auto staged = bufferWith("0123456789abcdefg");
    replay.start(staged.get());
    CHECK_FALSE(replay.usable());
    CHECK(replay.overflowed());
    CHECK(evbuffer_get_length(staged.get()) == 17);
  }
  SECTION("a new start forgets an earlier overflow") {
    ReplayBuffer replay(4);
    auto big = bufferWith("0123456789");
    replay.start(big.get());
    CHECK(replay.overflowed());
    auto small = bufferWith("ab");
    replay.start(small.get());
    CHECK(replay.usable());
    CHECK_FALSE(replay.overflowed());
  }
}

}  // namespace
}  // namespace sluice::http
