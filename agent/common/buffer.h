// Buffer: a growable byte buffer whose storage always has kPadding readable bytes past its
// size, as simdjson requires for parsing in place. Owns its storage; not thread-safe (one
// owner at a time). Reused across files so that steady-state decoding does not allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace trailwarden {

class Buffer {
 public:
  static constexpr size_t kPadding = 64;  // >= SIMDJSON_PADDING

  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&&) noexcept = default;
  Buffer& operator=(Buffer&&) noexcept = default;

  char* data() { return data_.get(); }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  bool empty() const { return size_ == 0; }
  std::string_view view() const { return {data_.get(), size_}; }

  // Ensures capacity() >= n, keeping the first size() bytes. Padding is always zeroed.
  void reserve(size_t n);
  // Sets size() to n (n <= capacity()). The padding after the new end is zeroed.
  void set_size(size_t n);
  void clear() { set_size(0); }
  void assign(std::string_view bytes);
  void append(std::string_view bytes);
  // If capacity() is over `keep` bytes, frees the storage (size and capacity become 0) and
  // returns true; otherwise keeps storage and contents for reuse. For after an unusually large
  // object: shrinking to `keep` bytes instead would pin (and touch) that much memory again.
  bool release_above(size_t keep);

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace trailwarden
