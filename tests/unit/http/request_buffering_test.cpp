#include "http/request_buffering.h"

#include <catch2/catch.hpp>
#include <optional>

namespace sluice::http {
namespace {

RequestHead post(std::optional<uint64_t> contentLength, bool chunked, bool expectContinue = false) {
  RequestHead head;
  head.method = "POST";
  head.contentLength = contentLength;
  head.chunked = chunked;
  head.expectContinue = expectContinue;
  return head;
}

TEST_CASE("SmallBodiesAreReadBeforeLeasing", "[http][buffering]") {
  CHECK(bufferBodyFirst(post(1, false), 1024));
  CHECK(bufferBodyFirst(post(1024, false), 1024));
  CHECK(bufferBodyFirst(post(std::nullopt, true), 1024));  // tried; streams once it outgrows
}

TEST_CASE("LargeOrEmptyBodiesLeaseAtTheHead", "[http][buffering]") {
  CHECK_FALSE(bufferBodyFirst(post(1025, false), 1024));
  CHECK_FALSE(bufferBodyFirst(post(0, false), 1024));
  CHECK_FALSE(bufferBodyFirst(post(std::nullopt, false), 1024));
  CHECK_FALSE(bufferBodyFirst(post(10, false), 0));  // buffering off
}

TEST_CASE("BodiesAfterExpect100ContinueAreBufferedToo", "[http][buffering]") {
  // sluice sends the 100 Continue itself: an Expect header is no way around buffering.
  CHECK(bufferBodyFirst(post(10, false, true), 1024));
  CHECK(bufferBodyFirst(post(std::nullopt, true, true), 1024));
  CHECK_FALSE(bufferBodyFirst(post(1025, false, true), 1024));
}

TEST_CASE("BufferingEndsWhenCompleteOrOverTheLimit", "[http][buffering]") {
  CHECK_FALSE(bufferingOver(false, 0, 1024));
  CHECK_FALSE(bufferingOver(false, 1024, 1024));
  CHECK(bufferingOver(false, 1025, 1024));
  CHECK(bufferingOver(true, 10, 1024));
}

TEST_CASE("TheLimitIsCappedAtTheBufferSize", "[http][buffering]") {
  CHECK(requestBufferLimit(64 * 1024, 16 * 1024) == 16 * 1024);
  CHECK(requestBufferLimit(8 * 1024, 16 * 1024) == 8 * 1024);
  CHECK(requestBufferLimit(0, 16 * 1024) == 0);
}

}  // namespace
}  // namespace sluice::http
