#include "http/message.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>
#include <utility>

#include "core/ascii.h"

namespace sluice::http {

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (core::asciiLower(a[i]) != core::asciiLower(b[i])) return false;
  }
  return true;
}

Headers::Headers(Headers&& other) noexcept
    : bytes_(std::move(other.bytes_)),
      fields_(std::move(other.fields_)),
      lookupSteps_(other.lookupSteps_) {
  other.clear();
}

Headers& Headers::operator=(Headers&& other) noexcept {
  if (this != &other) {
    bytes_ = std::move(other.bytes_);
    fields_ = std::move(other.fields_);
    lookupSteps_ = other.lookupSteps_;
    other.clear();
  }
  return *this;
}

void Headers::add(std::string_view name, std::string_view value) {
  // The views may point into bytes_, which appending can move.
  const auto inside = [&](std::string_view v) {
    return !v.empty() && std::less_equal<>()(bytes_.data(), v.data()) &&
           std::less<>()(v.data(), bytes_.data() + bytes_.size());
  };
  if (inside(name) || inside(value)) {
    const std::string copy = std::string(name).append(value);
    add(std::string_view(copy).substr(0, name.size()), std::string_view(copy).substr(name.size()));
    return;
  }
  startField();
  appendName(name);
  appendValue(value);
}

void Headers::startField() {
  // Most heads are well under this: one allocation each, not several.
  if (fields_.empty()) {
    fields_.reserve(16);
    bytes_.reserve(512);
  }
  // Offsets are 32-bit; the parser caps a head far below 4 GiB.
  if (bytes_.size() > std::numeric_limits<uint32_t>::max()) {
    throw std::length_error("header section over 4 GiB");
  }
  fields_.push_back(Field{static_cast<uint32_t>(bytes_.size()), 0});
}

void Headers::appendName(std::string_view piece) {
  bytes_.append(piece);
  fields_.back().nameLen += static_cast<uint32_t>(piece.size());
}

void Headers::appendValue(std::string_view piece) {
  bytes_.append(piece);
}

void Headers::endField() {
  if (fields_.empty()) return;
  // The last value ends the buffer; trimming stops at its name.
  const size_t valueStart = fields_.back().offset + size_t{fields_.back().nameLen};
  while (bytes_.size() > valueStart && (bytes_.back() == ' ' || bytes_.back() == '\t'))
    bytes_.pop_back();
}

void Headers::clear() {
  bytes_.clear();
  fields_.clear();
}

size_t Headers::allocatedBytes() const {
  return bytes_.capacity() + fields_.capacity() * sizeof(Field);
}

template <class Fn>
void Headers::forEachNamed(std::string_view name, Fn&& fn) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    ++lookupSteps_;
    if (fields_[i].nameLen != name.size()) continue;
    const Header h = (*this)[i];
    if (equalsIgnoreCase(h.name, name) && !fn(h.value)) return;
  }
}

size_t Headers::remove(std::string_view name) {
  // Compacts the buffer and the index in place, keeping the order.
  size_t kept = 0;
  size_t write = 0;
  for (size_t i = 0; i < fields_.size(); ++i) {
    ++lookupSteps_;
    const Header h = (*this)[i];
    if (equalsIgnoreCase(h.name, name)) continue;
    const size_t len = h.name.size() + h.value.size();
    // write <= the field's offset; later fields are read from further on.
    if (write != fields_[i].offset) std::memmove(bytes_.data() + write, h.name.data(), len);
    fields_[kept++] = Field{static_cast<uint32_t>(write), fields_[i].nameLen};
    write += len;
  }
  const size_t removed = fields_.size() - kept;
  fields_.resize(kept);
  bytes_.resize(write);
  return removed;
}

std::optional<std::string_view> Headers::get(std::string_view name) const {
  std::optional<std::string_view> found;
  forEachNamed(name, [&](std::string_view value) {
    found = value;
    return false;
  });
  return found;
}

size_t Headers::count(std::string_view name) const {
  size_t n = 0;
  forEachNamed(name, [&](std::string_view) {
    ++n;
    return true;
  });
  return n;
}

bool Headers::hasToken(std::string_view name, std::string_view token) const {
  bool found = false;
  forEachNamed(name, [&](std::string_view value) {
    forEachListToken(value, [&](std::string_view t) {
      if (equalsIgnoreCase(t, token)) found = true;
    });
    return !found;
  });
  return found;
}

std::string Headers::joined(std::string_view name) const {
  std::string out;
  bool first = true;
  forEachNamed(name, [&](std::string_view value) {
    if (!first) out += ", ";
    out += value;
    first = false;
    return true;
  });
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
