#include "http/chunked.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace sluice::http {
namespace {

using namespace std::literals;

// Re-frames what the decoder reports, as MessageParser does in Raw mode.
class Reframer : public ChunkedDecoder::Sink {
 public:
  bool chunkBegin(uint64_t size) override {
    sizes.push_back(size);
    out += size == 0 ? std::string(kLastChunk) : chunkSizeLine(size);
    return size <= stopAbove;
  }
  void chunkData(const char* data, size_t len) override {
    REQUIRE(len > 0);
    payload.append(data, len);
    out.append(data, len);
  }
  void chunkEnd() override { out += kChunkEnd; }
  void trailerField(std::string_view name, std::string_view value) override {
    trailers.emplace_back(std::string(name) + "=" + std::string(value));
    out += trailerLine(name, value);
  }

  uint64_t stopAbove = UINT64_MAX;
  std::vector<uint64_t> sizes;
  std::vector<std::string> trailers;
  std::string payload;
  std::string out;
};

struct Decoded {
  ChunkedDecoder::Status status = ChunkedDecoder::Status::NeedMore;
  ChunkedDecoder::Error error = ChunkedDecoder::Error::None;
  size_t consumed = 0;
  Reframer sink;
};

// Feeds `wire` split at `split` (both halves, draining what was consumed),
// or one byte at a time when `split` is npos.
Decoded decode(std::string_view wire, size_t split = std::string_view::npos,
               uint64_t maxTrailer = 64 * 1024) {
  Decoded d;
  ChunkedDecoder decoder(maxTrailer);
  std::vector<std::string_view> pieces;
  if (split == std::string_view::npos) {
    for (size_t i = 0; i < wire.size(); ++i)
      pieces.push_back(wire.substr(i, 1));
  } else {
    pieces = {wire.substr(0, split), wire.substr(split)};
  }
  std::string pending;
  for (std::string_view piece : pieces) {
    pending.append(piece);
    const auto r = decoder.feed(pending.data(), pending.size(), d.sink);
    d.consumed += r.consumed;
    pending.erase(0, r.consumed);
    d.status = r.status;
    if (r.status != ChunkedDecoder::Status::NeedMore) break;
  }
  d.error = decoder.error();
  if (d.status == ChunkedDecoder::Status::Done) d.sink.out += kTrailerEnd;  // as MessageParser does
  return d;
}

// Every split point and byte at a time.
std::vector<size_t> splits(std::string_view wire) {
  std::vector<size_t> s{std::string_view::npos};
  for (size_t i = 0; i <= wire.size(); ++i)
    s.push_back(i);
  return s;
}

TEST_CASE("ChunkedDecoderReadsAndReframesValidBodies", "[http][chunked]") {
  struct Case {
    std::string_view wire;
    std::string_view payload;
    std::string_view reframed;
  };
  for (const Case& c : {
           Case{"0\r\n\r\n", "", "0\r\n\r\n"}, Case{"000\r\n\r\n", "", "0\r\n\r\n"},
           Case{"5\r\nhello\r\n0\r\n\r\n", "hello", "5\r\nhello\r\n0\r\n\r\n"},
           Case{"A\r\n0123456789\r\n0\r\n\r\n", "0123456789", "a\r\n0123456789\r\n0\r\n\r\n"},
           Case{"0005\r\nhello\r\n0\r\n\r\n", "hello", "5\r\nhello\r\n0\r\n\r\n"},
           Case{"3;a\r\nabc\r\n0;b=c\r\n\r\n", "abc", "3\r\nabc\r\n0\r\n\r\n"},
           Case{"3 ; a = b ;c;d=\"q \\\" x\"\r\nabc\r\n0\r\n\r\n", "abc", "3\r\nabc\r\n0\r\n\r\n"},
           Case{"3;x=\"\xff\"\r\nabc\r\n0\r\n\r\n", "abc", "3\r\nabc\r\n0\r\n\r\n"},
           Case{"2\r\n\r\n\r\n0\r\n\r\n", "\r\n", "2\r\n\r\n\r\n0\r\n\r\n"},
           Case{"1\r\nz\r\n0\r\nX-Sum: 15\r\nA:b \r\nE:\r\n\r\n", "z",
                "1\r\nz\r\n0\r\nX-Sum: 15\r\nA: b\r\nE: \r\n\r\n"},
           Case{"ffffffffffffffff\r\n", "", "ffffffffffffffff\r\n"},  // the cap: 16 digits
       }) {
    for (size_t split : splits(c.wire)) {
      CAPTURE(c.wire, split);
      const Decoded d = decode(c.wire, split);
      if (c.wire.starts_with("ffff")) {
        CHECK(d.status == ChunkedDecoder::Status::NeedMore);
        CHECK(d.sink.sizes == std::vector<uint64_t>{UINT64_MAX});
        CHECK(d.sink.out == c.reframed);
        continue;
      }
      CHECK(d.status == ChunkedDecoder::Status::Done);
      CHECK(d.consumed == c.wire.size());
      CHECK(d.sink.payload == c.payload);
      CHECK(d.sink.out == c.reframed);
    }
  }
}

TEST_CASE("ChunkedDecoderStopsExactlyAtTheEndOfTheBody", "[http][chunked]") {
  const std::string body = "2\r\nhi\r\n0\r\n\r\n";
  const std::string wire = body + "GET / HTTP/1.1\r\n\r\n";
  for (size_t split : splits(wire)) {
    CAPTURE(split);
    const Decoded d = decode(wire, split);
    CHECK(d.status == ChunkedDecoder::Status::Done);
    CHECK(d.consumed == body.size());
  }
}

TEST_CASE("ChunkedDecoderRefusesEverythingOutsideTheGrammar", "[http][chunked]") {
  const std::string smuggle = "3c;\nAAAA\r\n" + std::string(0x3c, 'x') + "\r\n0\r\n\r\n";
  for (std::string_view wire : {
           std::string_view(smuggle),  // the attack: bare LF in an extension
           std::string_view("3;\n\r\nabc\r\n0\r\n\r\n"),
           std::string_view("3;a\nb\r\nabc\r\n0\r\n\r\n"),
           std::string_view("3\n"),           // bare LF ends the size line
           std::string_view("3;a\0b\r\n"sv),  // NUL in an extension
           std::string_view("3;a\x01\r\n"),   // CTL in an extension
           std::string_view("3;a\x7f\r\n"),   // DEL
           std::string_view("3;\x80\r\n"),    // obs-text outside a quoted-string
           std::string_view("3;a=\"b\r\n"),   // unterminated quoted-string
           std::string_view("3;a=\"\x01\"\r\n"),
           std::string_view("3;a=\"\\\x01\"\r\n"),
           std::string_view("3;a=(b)\r\n"),  // not a token
           std::string_view("3;=b\r\n"),     // no name
           std::string_view("3;\r\n"),       // empty extension
           std::string_view("3 \r\n"),       // BWS not followed by ";"
           std::string_view("3;a \r\n"),     // trailing BWS
           std::string_view("3;a=b \r\n"),
           std::string_view("3;a=\r\n"),  // "=" without a value
           std::string_view("\xb3\r\n"),  // a byte >= 0x80 where a digit belongs
           std::string_view("3\xa0\r\n"),
           std::string_view("\r\n"),  // no digits
           std::string_view(" 3\r\n"),
           std::string_view("-1\r\n"),
           std::string_view("0x3\r\n"),
           std::string_view("+3\r\n"),
           std::string_view("3\rX"),                   // CR not followed by LF
           std::string_view("10000000000000000\r\n"),  // 17 digits: overflow
           std::string_view("00000000000000003\r\n"),  // 17 digits even if small
           std::string_view("3\r\nabcX"),              // data not followed by CRLF
           std::string_view("3\r\nabc\n0\r\n\r\n"),
           std::string_view("3\r\nabc\rX"),
           std::string_view("0\r\n\n"),  // bare LF ends the body
           std::string_view("0\r\n\rX"),
           std::string_view("0\r\n X: y\r\n\r\n"),       // obs-fold at the start of the trailers
           std::string_view("0\r\nA: b\r\n c\r\n\r\n"),  // obs-fold continuing a trailer
           std::string_view("0\r\nA b: c\r\n\r\n"),      // bad trailer name
           std::string_view("0\r\nA : c\r\n\r\n"),
           std::string_view("0\r\n: c\r\n\r\n"),
           std::string_view("0\r\nA\r\n\r\n"),  // no colon
           std::string_view("0\r\n(A): c\r\n\r\n"),
           std::string_view("0\r\nA: b\nC: d\r\n\r\n"),  // bare LF in the trailers
           std::string_view("0\r\nA: b\rC: d\r\n\r\n"),
           std::string_view("0\r\nA: b\x01\r\n\r\n"),  // CTL in a trailer value
           std::string_view("0\r\nA: b\0\r\n\r\n"sv),  // NUL in a trailer value
       }) {
    for (size_t split : splits(wire)) {
      CAPTURE(wire, split);
      const Decoded d = decode(wire, split);
      CHECK(d.status == ChunkedDecoder::Status::Error);
      CHECK(d.error == ChunkedDecoder::Error::Syntax);
    }
  }
}

TEST_CASE("ChunkedDecoderCapsTheSizeLine", "[http][chunked]") {
  const std::string atCap = "1;" + std::string(ChunkedDecoder::kMaxLineBytes - 4, 'a') + "\r\n";
  CHECK(atCap.size() == ChunkedDecoder::kMaxLineBytes);
  CHECK(decode(atCap + "z\r\n0\r\n\r\n", 1000).status == ChunkedDecoder::Status::Done);
  const std::string over = "1;" + std::string(ChunkedDecoder::kMaxLineBytes - 3, 'a') + "\r\n";
  for (size_t split : {std::string_view::npos, size_t{0}, size_t{100}, over.size() - 1}) {
    const Decoded d = decode(over, split);
    CHECK(d.status == ChunkedDecoder::Status::Error);
    CHECK(d.error == ChunkedDecoder::Error::Syntax);
  }
}

TEST_CASE("ChunkedDecoderCapsTheTrailerSection", "[http][chunked]") {
  const std::string wire = "0\r\nA: " + std::string(40, 'b') + "\r\n\r\n";
  CHECK(decode(wire, 3, 47).status == ChunkedDecoder::Status::Done);  // 45 + final CRLF
  const Decoded d = decode(wire, 3, 46);
  CHECK(d.status == ChunkedDecoder::Status::Error);
  CHECK(d.error == ChunkedDecoder::Error::TrailerTooLarge);
}

TEST_CASE("ChunkedDecoderStopsWhenTheSinkSaysSo", "[http][chunked]") {
  Decoded d;
  ChunkedDecoder decoder;
  d.sink.stopAbove = 4;
  const std::string_view wire = "5\r\nhello\r\n0\r\n\r\n";
  const auto r = decoder.feed(wire.data(), wire.size(), d.sink);
  CHECK(r.status == ChunkedDecoder::Status::Error);
  CHECK(decoder.error() == ChunkedDecoder::Error::Stopped);
  CHECK(d.sink.payload.empty());  // refused before the data
}

TEST_CASE("ChunkedDecoderResetsForTheNextBody", "[http][chunked]") {
  Reframer sink;
  ChunkedDecoder decoder;
  const std::string_view bad = "3;\n";
  CHECK(decoder.feed(bad.data(), bad.size(), sink).status == ChunkedDecoder::Status::Error);
  CHECK(decoder.feed("0\r\n\r\n", 5, sink).status == ChunkedDecoder::Status::Error);
  decoder.reset();
  CHECK(decoder.feed("0\r\n\r\n", 5, sink).status == ChunkedDecoder::Status::Done);
  CHECK(decoder.done());
}

TEST_CASE("ChunkSizeLineIsLowerCaseHex", "[http][chunked]") {
  CHECK(chunkSizeLine(1) == "1\r\n");
  CHECK(chunkSizeLine(0x1A2B) == "1a2b\r\n");
  CHECK(chunkSizeLine(UINT64_MAX) == "ffffffffffffffff\r\n");
  CHECK(trailerLine("X-Sum", "15") == "X-Sum: 15\r\n");
}

TEST_CASE("FramingAndHopByHopTrailersAreForbidden", "[http][chunked]") {
  for (std::string_view name : {"Content-Length", "transfer-encoding", "HOST", "Trailer",
                                "Connection", "TE", "Upgrade", "Keep-Alive"}) {
    CHECK(isForbiddenTrailer(name));
  }
  CHECK_FALSE(isForbiddenTrailer("X-Sum"));
  CHECK_FALSE(isForbiddenTrailer("Server-Timing"));
}

}  // namespace
}  // namespace sluice::http
