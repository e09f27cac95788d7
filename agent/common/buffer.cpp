#include "agent/common/buffer.h"

#include <algorithm>
#include <cstring>

namespace trailwarden {

void Buffer::reserve(size_t n) {
  if (n <= capacity_ && data_) return;
  size_t cap = std::max<size_t>(n, capacity_ + capacity_ / 2);
  cap = std::max<size_t>(cap, 4096);
  std::unique_ptr<char[]> fresh(new char[cap + kPadding]);
  if (size_) std::memcpy(fresh.get(), data_.get(), size_);
  std::memset(fresh.get() + size_, 0, cap + kPadding - size_);
  data_ = std::move(fresh);
  capacity_ = cap;
}

void Buffer::set_size(size_t n) {
  if (!data_) reserve(n);
  size_ = n;
  std::memset(data_.get() + size_, 0, kPadding);
}

void Buffer::assign(std::string_view bytes) {
  reserve(bytes.size());
  if (!bytes.empty()) std::memcpy(data_.get(), bytes.data(), bytes.size());
  set_size(bytes.size());
}

void Buffer::append(std::string_view bytes) {
  reserve(size_ + bytes.size());
  if (!bytes.empty()) std::memcpy(data_.get() + size_, bytes.data(), bytes.size());
  set_size(size_ + bytes.size());
}

bool Buffer::release_above(size_t keep) {
  if (capacity_ <= keep) return false;
  data_.reset();
  size_ = capacity_ = 0;
  return true;
}

}  // namespace trailwarden
