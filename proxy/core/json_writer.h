#pragma once

// JsonWriter: builds JSON text with the commas and escaping done for you.
// Keys and values are written in call order. Compact by default (access log
// lines, /stats); Layout::Indented puts each element on its own line with
// two-space indentation (GET /config, meant for people).
//
//   JsonWriter w; w.beginObject(); w.key("name").value("web"); w.endObject();
//
// Strings are escaped per RFC 8259, and bytes that are not valid UTF-8
// become U+FFFD, so the output is valid JSON whatever a config or a client
// put into the strings.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

class JsonWriter {
 public:
  enum class Layout { Compact, Indented };
  explicit JsonWriter(Layout layout = Layout::Compact) : indented_(layout == Layout::Indented) {}

  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
  JsonWriter& value(bool flag);
  JsonWriter& value(int64_t number);
  JsonWriter& value(uint64_t number);
  JsonWriter& value(int number) { return value(static_cast<int64_t>(number)); }
  JsonWriter& value(unsigned number) { return value(static_cast<uint64_t>(number)); }
  JsonWriter& value(double number);
  JsonWriter& null();

  const std::string& str() const { return out_; }
  std::string take() { return std::move(out_); }
  // `text` as a quoted JSON string.
  static std::string escape(std::string_view text);

 private:
  void separate();
  void close(char bracket);
  void newline();

  std::string out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
  bool afterKey_ = false;
  const bool indented_;
};

}  // namespace sluice::core
