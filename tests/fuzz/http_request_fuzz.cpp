// http_request_fuzz: MessageParser in request mode under the split-point
// oracle (http_oracle.h). The bytes are fed whole, split in two at a point
// the fuzzer picks, and one byte at a time when short; every way must give
// the same transcript. Pipelined requests are parsed one after another with
// resume(), as a session does.
//
// Input: 4 option bytes, then what a client sends.
//   [0]    flags: 0x01 small header limit, 0x02 body limit, 0x04 EOF after the bytes
//   [1..2] split point, big-endian, modulo (size + 1)
//   [3]    limit: maxHeaderBytes = 24 + 4 * [3] (0x01), maxBodyBytes = 1 + [3] (0x02)
// A DELETE request is rejected by the head callback (403), to cover that path.

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.h"
#include "http/parser.h"
#include "http_oracle.h"

namespace {

using namespace sluice::http;
using sluice::fuzz::Recorder;
using sluice::fuzz::Transcript;

struct Options {
  ParserLimits limits;
  bool eof = false;
  size_t split = 0;
  std::string_view bytes;
};

Options readOptions(const uint8_t* data, size_t size) {
  sluice::fuzz::OptionBytes in(data, size);
  Options options;
  const uint8_t flags = in.byte();
  const uint16_t split = in.u16();
  const uint8_t limit = in.byte();
  options.bytes = in.rest();
  options.split = split % (options.bytes.size() + 1);
  if (flags & 0x01) options.limits.maxHeaderBytes = 24 + 4 * uint64_t{limit};
  if (flags & 0x02) options.limits.maxBodyBytes = 1 + uint64_t{limit};
  options.eof = (flags & 0x04) != 0;
  return options;
}

// The only code that knows RequestHead's shape.
std::string describe(const RequestHead& head) {
  // append() takes std::string and std::string_view members alike.
  std::string out = "request ";
  out.append(head.method);
  out += " ";
  out.append(head.target);
  out += " HTTP/" + std::to_string(head.version.major) + "." + std::to_string(head.version.minor) +
         "\n";
  for (const auto& field : head.headers) {
    out.append(field.name);
    out += ": ";
    out.append(field.value);
    out += "\n";
  }
  out += "keepAlive " + std::to_string(head.keepAlive) + " contentLength " +
         (head.contentLength ? std::to_string(*head.contentLength) : "-") + " chunked " +
         std::to_string(head.chunked) + " expectContinue " + std::to_string(head.expectContinue) +
         " upgrade " + std::to_string(head.upgrade) + "\n";
  return out;
}

class Client : public Recorder {
 public:
  HeadAction onRequestHead(RequestHead& head) override {
    beginMessage(describe(head), head.chunked, false);
    if (head.method == "DELETE") return HeadAction::reject(403, "forbidden");
    return HeadAction::proceed();
  }
};

Transcript run(const Options& options, const std::vector<std::string_view>& pieces) {
  Client client;
  MessageParser parser(ParserMode::Request, client, options.limits);
  return sluice::fuzz::feedPieces(parser, client, pieces, options.eof, [] {});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice::fuzz;
  checkSplitsAgree(readOptions(data, size), run);
  return 0;
}
