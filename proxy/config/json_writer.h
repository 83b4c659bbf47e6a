#pragma once

// A minimal JSON writer with two-space indentation, enough for GET /config:
//
//   JsonWriter json;
//   json.beginObject();
//   json.key("workers").number(4);
//   json.key("listeners").beginArray(); ... json.endArray();
//   json.endObject();
//   std::string text = json.take();
//
// Strings are escaped per RFC 8259; bytes that are not valid UTF-8 become
// U+FFFD, so the output is always valid JSON whatever the config held.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::config {

class JsonWriter {
 public:
  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view name);
  JsonWriter& string(std::string_view value);
  JsonWriter& number(uint64_t value);
  JsonWriter& boolean(bool value);

  std::string take() { return std::move(out_); }

 private:
  void beforeValue();
  void newline();
  void close(char bracket);

  std::string out_;
  // One entry per open object/array: whether it has an element yet.
  std::vector<bool> nonEmpty_;
  bool afterKey_ = false;
};

// `text` as a quoted JSON string.
std::string jsonQuote(std::string_view text);

}  // namespace sluice::config
