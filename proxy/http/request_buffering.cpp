#include "http/request_buffering.h"

#include <algorithm>

namespace sluice::http {

uint64_t requestBufferLimit(uint64_t configured, uint64_t buffer) {
  return std::min(configured, buffer);
}

bool bufferBodyFirst(const RequestHead& head, uint64_t limit) {
  if (limit == 0 || !head.hasBody()) return false;
  return head.chunked || head.contentLength.value_or(0) <= limit;
}

bool bufferingOver(bool requestComplete, uint64_t bodyBytes, uint64_t limit) {
  return requestComplete || bodyBytes > limit;
}

}  // namespace sluice::http
