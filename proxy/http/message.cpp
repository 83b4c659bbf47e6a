#include "http/message.h"

#include <algorithm>

namespace sluice::http {

namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void Headers::add(std::string name, std::string value) {
  // Most messages carry a handful of fields: one allocation, not four.
  if (headers_.empty()) headers_.reserve(12);
  headers_.push_back(Header{std::move(name), std::move(value)});
}

size_t Headers::remove(std::string_view name) {
  const size_t before = headers_.size();
  std::erase_if(headers_, [&](const Header& h) { return equalsIgnoreCase(h.name, name); });
  return before - headers_.size();
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  for (const Header& h : headers_) {
    if (equalsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

size_t Headers::count(std::string_view name) const {
  return static_cast<size_t>(std::count_if(headers_.begin(), headers_.end(), [&](const Header& h) {
    return equalsIgnoreCase(h.name, name);
  }));
}

bool Headers::hasToken(std::string_view name, std::string_view token) const {
  bool found = false;
  for (const Header& h : headers_) {
    if (!equalsIgnoreCase(h.name, name)) continue;
    forEachListToken(h.value, [&](std::string_view t) {
      if (equalsIgnoreCase(t, token)) found = true;
    });
    if (found) return true;
  }
  return false;
}

std::string Headers::joined(std::string_view name) const {
  std::string out;
  bool first = true;
  for (const Header& h : headers_) {
    if (!equalsIgnoreCase(h.name, name)) continue;
    if (!first) out += ", ";
    out += h.value;
    first = false;
  }
  return out;
}

std::string_view bodyFramingName(BodyFraming framing) {
  switch (framing) {
    case BodyFraming::None:
      return "none";
    case BodyFraming::ContentLength:
      return "content_length";
    case BodyFraming::Chunked:
      return "chunked";
    case BodyFraming::CloseDelimited:
      return "close_delimited";
  }
  return "unknown";
}

}  // namespace sluice::http
