// http_response_fuzz: MessageParser in response mode under the split-point
// oracle (http_oracle.h): the bytes fed whole, split in two at a point the
// fuzzer picks, and one byte at a time when short, must give the same
// transcript. Before each final response the parser is told the request it
// answers (expectResponseTo: HEAD, an upgrade offer), 1xx responses come and
// go in between, a 101 ends HTTP, EOF ends a close-delimited body, and a
// chunked body may be decoded (BodyMode::Decoded) as for an HTTP/1.0 client.
//
// Input: 5 option bytes, then what a backend sends.
//   [0]    flags: 0x01 decode chunked bodies, 0x02 small header limit,
//                 0x04 EOF after the bytes, 0x08 body limit
//   [1..2] split point, big-endian, modulo (size + 1)
//   [3]    the requests of the first four final responses, two bits each
//          from the low end: 0x1 HEAD (else GET), 0x2 asks for an upgrade
//   [4]    limit: maxHeaderBytes = 24 + 4 * [4] (0x02), maxBodyBytes = 1 + [4] (0x08)

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
  bool dechunk = false;
  bool eof = false;
  uint8_t requests = 0;
  size_t split = 0;
  std::string_view bytes;
};

Options readOptions(const uint8_t* data, size_t size) {
  sluice::fuzz::OptionBytes in(data, size);
  Options options;
  const uint8_t flags = in.byte();
  const uint16_t split = in.u16();
  options.requests = in.byte();
  const uint8_t limit = in.byte();
  options.bytes = in.rest();
  options.split = split % (options.bytes.size() + 1);
  options.dechunk = (flags & 0x01) != 0;
  if (flags & 0x02) options.limits.maxHeaderBytes = 24 + 4 * uint64_t{limit};
  options.eof = (flags & 0x04) != 0;
  if (flags & 0x08) options.limits.maxBodyBytes = 1 + uint64_t{limit};
  return options;
}

// The only code that knows ResponseHead's shape.
std::string describe(const ResponseHead& head) {
  // append() takes std::string and std::string_view members alike.
  std::string out = "response HTTP/" + std::to_string(head.version.major) + "." +
                    std::to_string(head.version.minor) + " " + std::to_string(head.status) + " ";
  out.append(head.reason);
  out += "\n";
  for (const auto& field : head.headers) {
    out.append(field.name);
    out += ": ";
    out.append(field.value);
    out += "\n";
  }
  out += "keepAlive " + std::to_string(head.keepAlive) + " framing " +
         std::string(bodyFramingName(head.framing)) + " contentLength " +
         (head.contentLength ? std::to_string(*head.contentLength) : "-") + "\n";
  return out;
}

// The request the n-th final response answers.
RequestHead requestFor(uint8_t requests, size_t n) {
  const unsigned bits = n < 4 ? (requests >> (2 * n)) & 0x3 : 0;
  RequestHead request;
  request.method = (bits & 0x1) ? "HEAD" : "GET";
  request.upgrade = (bits & 0x2) != 0;  // what expectResponseTo() reads; no headers needed
  return request;
}

class Upstream : public Recorder {
 public:
  explicit Upstream(bool dechunk) : dechunk_(dechunk) {}
  void attach(MessageParser& parser) { parser_ = &parser; }

  HeadAction onResponseHead(ResponseHead& head) override {
    // As the session does for an HTTP/1.0 client: decode a chunked body.
    const bool decode = dechunk_ && !head.interim() && head.framing == BodyFraming::Chunked;
    parser_->setBodyMode(decode ? BodyMode::Decoded : BodyMode::Raw);
    beginMessage(describe(head), head.framing == BodyFraming::Chunked, decode);
    final_ = !head.interim();
    return HeadAction::proceed();
  }
  // After a message: was it the final response to the current request?
  bool wasFinal() const { return final_; }

 private:
  MessageParser* parser_ = nullptr;  // set by attach(), before any byte is fed
  bool dechunk_;
  bool final_ = false;
};

Transcript run(const Options& options, const std::vector<std::string_view>& pieces) {
  Upstream upstream(options.dechunk);
  MessageParser parser(ParserMode::Response, upstream, options.limits);
  upstream.attach(parser);
  size_t answered = 0;
  parser.expectResponseTo(requestFor(options.requests, answered));
  return sluice::fuzz::feedPieces(parser, upstream, pieces, options.eof, [&] {
    if (upstream.wasFinal()) parser.expectResponseTo(requestFor(options.requests, ++answered));
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sluice::fuzz;
  checkSplitsAgree(readOptions(data, size), run);
  return 0;
}
