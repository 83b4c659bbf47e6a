#include "core/json_writer.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

namespace sluice::core {
namespace {

using namespace std::string_literals;

TEST_CASE("JsonWriter writes empty containers", "[core][json]") {
  CHECK(JsonWriter().beginObject().endObject().str() == "{}");
  CHECK(JsonWriter().beginArray().endArray().str() == "[]");
}

TEST_CASE("JsonWriter separates members and elements with commas, none trailing", "[core][json]") {
  JsonWriter w;
  w.beginObject();
  w.key("a").value(1);
  w.key("b")
      .beginArray()
      .value(1)
      .value(2)
      .beginObject()
      .key("c")
      .value(true)
      .endObject()
      .endArray();
  w.key("d").beginObject().endObject();
  w.key("e").null();
  w.endObject();
  CHECK(w.str() == R"({"a":1,"b":[1,2,{"c":true}],"d":{},"e":null})");
}

TEST_CASE("JsonWriter nests containers inside arrays", "[core][json]") {
  JsonWriter w;
  w.beginArray();
  w.beginObject().endObject();
  w.beginArray().beginArray().endArray().endArray();
  w.beginObject().key("x").beginArray().value("y").endArray().endObject();
  w.endArray();
  CHECK(w.str() == R"([{},[[]],{"x":["y"]}])");
}

TEST_CASE("JsonWriter keeps call order of keys", "[core][json]") {
  JsonWriter w;
  w.beginObject().key("z").value(1).key("a").value(2).key("m").value(3).endObject();
  CHECK(w.str() == R"({"z":1,"a":2,"m":3})");
}

TEST_CASE("JsonWriter escapes quotes, backslashes and control characters", "[core][json]") {
  CHECK(JsonWriter::escape(R"(say "hi")") == R"("say \"hi\"")");
  CHECK(JsonWriter::escape(R"(C:\path\)") == R"("C:\\path\\")");
  CHECK(JsonWriter::escape("a\nb\rc\td") == R"("a\nb\rc\td")");
  CHECK(JsonWriter::escape("\x01\x1f"s) == R"("\u0001\u001f")");
  CHECK(JsonWriter::escape("nul\0byte"s) == R"("nul\u0000byte")");
  CHECK(JsonWriter::escape("\b\f") == R"("\b\f")");
  CHECK(JsonWriter::escape("\x7f") == R"("\u007f")");
  CHECK(JsonWriter::escape("") == R"("")");
  CHECK(JsonWriter::escape("/") == R"("/")");
}

TEST_CASE("JsonWriter keeps valid UTF-8 and replaces invalid bytes with U+FFFD", "[core][json]") {
  CHECK(JsonWriter::escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(JsonWriter::escape("\xff") == R"("\ufffd")");
  CHECK(JsonWriter::escape("\xc3") == R"("\ufffd")");                                // truncated
  CHECK(JsonWriter::escape("\xc0\xaf") == R"("\ufffd\ufffd")");                      // overlong
  CHECK(JsonWriter::escape("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");            // surrogate
  CHECK(JsonWriter::escape("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // > U+10FFFF
}

TEST_CASE("JsonWriter indented layout puts each element on its own line", "[core][json]") {
  JsonWriter json(JsonWriter::Layout::Indented);
  json.beginObject();
  json.key("a").value(1);
  json.key("b").beginArray().value("x").value(true).endArray();
  json.key("c").beginObject().endObject();
  json.key("d").beginArray().endArray();
  json.endObject();
  CHECK(json.take() ==
        "{\n"
        "  \"a\": 1,\n"
        "  \"b\": [\n"
        "    \"x\",\n"
        "    true\n"
        "  ],\n"
        "  \"c\": {},\n"
        "  \"d\": []\n"
        "}");
}

TEST_CASE("JsonWriter escapes keys as well as values", "[core][json]") {
  JsonWriter w;
  w.beginObject().key("a\"b").value("c\\d").endObject();
  CHECK(w.str() == R"({"a\"b":"c\\d"})");
}

TEST_CASE("JsonWriter writes string overloads as strings, not booleans", "[core][json]") {
  JsonWriter w;
  const std::string owned = "s";
  w.beginArray().value("lit").value(owned).value(std::string_view("v")).value(false).endArray();
  CHECK(w.str() == R"(["lit","s","v",false])");
}

TEST_CASE("JsonWriter writes integers exactly across their range", "[core][json]") {
  JsonWriter w;
  w.beginArray();
  w.value(0).value(-5).value(42u);
  w.value(std::numeric_limits<int64_t>::min()).value(std::numeric_limits<int64_t>::max());
  w.value(std::numeric_limits<uint64_t>::max());
  w.endArray();
  CHECK(w.str() == "[0,-5,42,-9223372036854775808,9223372036854775807,18446744073709551615]");
}

TEST_CASE("JsonWriter writes doubles compactly", "[core][json]") {
  JsonWriter w;
  w.beginArray().value(0.5).value(-2.25).value(3.14159265).value(1e21).value(0.0).endArray();
  CHECK(w.str() == "[0.5,-2.25,3.14159,1e+21,0]");
}

// BUG (proxy/core/json_writer.cpp, JsonWriter::value(double)): snprintf("%.6g")
// prints NaN and infinities as "nan"/"inf", which is not JSON, so one 0/0
// ratio makes a whole admin response unparsable. Expected: null.
TEST_CASE("JsonWriter writes non-finite doubles as null", "[core][json]") {
  JsonWriter w;
  w.beginArray();
  w.value(std::numeric_limits<double>::quiet_NaN());
  w.value(std::numeric_limits<double>::infinity());
  w.value(-std::numeric_limits<double>::infinity());
  w.endArray();
  CHECK(w.str() == "[null,null,null]");
}

}  // namespace
}  // namespace sluice::core
