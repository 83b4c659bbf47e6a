#include "http/message.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

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

void Headers::const_iterator::read() {
  if (at_ >= bytes_.size()) {
    current_ = Header{};
    next_ = at_;
    return;
  }
  // An open last field lacks one or both separators.
  const size_t nameEnd = std::min(bytes_.find('\0', at_), bytes_.size());
  const size_t valueAt = std::min(nameEnd + 1, bytes_.size());
  const size_t valueEnd = std::min(bytes_.find('\0', valueAt), bytes_.size());
  current_ = Header{bytes_.substr(at_, nameEnd - at_), bytes_.substr(valueAt, valueEnd - valueAt)};
  next_ = std::min(valueEnd + 1, bytes_.size());
}

Headers::Headers(Headers&& other) noexcept
    : bytes_(std::move(other.bytes_)),
      count_(std::exchange(other.count_, 0)),
      open_(std::exchange(other.open_, Open::None)),
      lookupSteps_(other.lookupSteps_) {
  other.bytes_.clear();
}

Headers& Headers::operator=(Headers&& other) noexcept {
  if (this != &other) {
    bytes_ = std::move(other.bytes_);
    other.bytes_.clear();
    count_ = std::exchange(other.count_, 0);
    open_ = std::exchange(other.open_, Open::None);
    lookupSteps_ = other.lookupSteps_;
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
  open_ = Open::None;  // as given: no trimming
  bytes_.push_back('\0');
}

void Headers::startField() {
  endField();
  // Most heads are well under this: one allocation, not several.
  if (bytes_.empty()) bytes_.reserve(512);
  open_ = Open::Name;
  ++count_;
}

void Headers::append(std::string_view piece) {
  const size_t at = bytes_.size();
  bytes_.append(piece);
  if (piece.find('\0') != std::string_view::npos) {
    std::replace(bytes_.begin() + static_cast<ptrdiff_t>(at), bytes_.end(), '\0', ' ');
  }
}

void Headers::appendName(std::string_view piece) {
  append(piece);
}

void Headers::appendValue(std::string_view piece) {
  if (open_ == Open::Name) {
    bytes_.push_back('\0');
    open_ = Open::Value;
  }
  append(piece);
}

void Headers::endField() {
  if (open_ == Open::None) return;
  if (open_ == Open::Name) bytes_.push_back('\0');  // an empty value
  // The value ends the buffer; the name's separator stops the trim.
  while (!bytes_.empty() && (bytes_.back() == ' ' || bytes_.back() == '\t'))
    bytes_.pop_back();
  bytes_.push_back('\0');
  open_ = Open::None;
}

void Headers::clear() {
  bytes_.clear();
  count_ = 0;
  open_ = Open::None;
}

Header Headers::operator[](size_t i) const {
  auto it = begin();
  for (; i > 0; --i)
    ++it;
  return *it;
}

template <class Fn>
void Headers::forEachNamed(std::string_view name, Fn&& fn) const {
  for (const Header& h : *this) {
    ++lookupSteps_;
    if (equalsIgnoreCase(h.name, name) && !fn(h.value)) return;
  }
}

size_t Headers::remove(std::string_view name) {
  endField();
  // Compacts the buffer in place, keeping the order.
  size_t write = 0;
  size_t removed = 0;
  for (auto it = begin(); it != end(); ++it) {
    ++lookupSteps_;
    const size_t at = static_cast<size_t>(it->name.data() - bytes_.data());
    const size_t len = it->name.size() + it->value.size() + kFieldOverhead;
    if (equalsIgnoreCase(it->name, name)) {
      ++removed;
      continue;
    }
    // write <= at, and the iterator has read this field already.
    if (write != at) std::memmove(bytes_.data() + write, bytes_.data() + at, len);
    write += len;
  }
  bytes_.resize(write);
  count_ -= removed;
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
