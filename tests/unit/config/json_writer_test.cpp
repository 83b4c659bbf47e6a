#include "config/json_writer.h"

#include <catch2/catch.hpp>

using sluice::config::jsonQuote;
using sluice::config::JsonWriter;

TEST_CASE("json strings escape quotes, backslashes and control characters", "[config][json]") {
  CHECK(jsonQuote("plain") == "\"plain\"");
  CHECK(jsonQuote("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(jsonQuote("\n\t\r\b\f") == "\"\\n\\t\\r\\b\\f\"");
  CHECK(jsonQuote(std::string("\x01\x1f\x7f", 3)) == "\"\\u0001\\u001f\\u007f\"");
  CHECK(jsonQuote(std::string("a\0b", 3)) == "\"a\\u0000b\"");
}

TEST_CASE("json strings keep valid UTF-8 and replace invalid bytes", "[config][json]") {
  CHECK(jsonQuote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(jsonQuote("\xff") == "\"\\ufffd\"");
  CHECK(jsonQuote("\xc3") == "\"\\ufffd\"");                        // truncated
  CHECK(jsonQuote("\xc0\xaf") == "\"\\ufffd\\ufffd\"");             // overlong
  CHECK(jsonQuote("\xed\xa0\x80") == "\"\\ufffd\\ufffd\\ufffd\"");  // surrogate
}

TEST_CASE("json writer nests objects and arrays with commas and indentation", "[config][json]") {
  JsonWriter json;
  json.beginObject();
  json.key("a").number(1);
  json.key("b").beginArray().string("x").boolean(true).endArray();
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
