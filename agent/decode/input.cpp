#include "agent/decode/input.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>

#include "agent/decode/gzip.h"

namespace trailwarden {

namespace {

size_t skip_bom_and_space(std::string_view s) {
  size_t i = 0;
  if (s.starts_with("\xEF\xBB\xBF")) i = 3;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

}  // namespace

InputFormat detect_format(std::string_view head) {
  if (head.size() >= 2 && static_cast<unsigned char>(head[0]) == 0x1f &&
      static_cast<unsigned char>(head[1]) == 0x8b)
    return InputFormat::kGzip;
  size_t i = skip_bom_and_space(head);
  if (i < head.size() && (head[i] == '{' || head[i] == '[')) return InputFormat::kJson;
  return InputFormat::kUnknown;
}

bool read_input(const std::string& path, size_t max_bytes, Buffer& out, std::string& error) {
  const bool is_stdin = path == "-";
  int fd = is_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = fmt::format("cannot open: {}", std::strerror(errno));
    return false;
  }
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
    if (static_cast<size_t>(st.st_size) > max_bytes) {
      error = fmt::format("file is {} bytes, over the limit of {} bytes (limits.max_compressed_bytes)",
                          st.st_size, max_bytes);
      if (!is_stdin) ::close(fd);
      return false;
    }
    out.reserve(static_cast<size_t>(st.st_size));
  } else if (!is_stdin && ::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    error = "is a directory";
    ::close(fd);
    return false;
  }
  out.clear();
  size_t size = 0;
  while (true) {
    if (size == out.capacity()) {
      if (size > max_bytes) break;
      out.reserve(std::min(max_bytes + 1, std::max<size_t>(size * 2, 1 << 16)));
    }
    ssize_t n = ::read(fd, out.data() + size, out.capacity() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = fmt::format("read error: {}", std::strerror(errno));
      if (!is_stdin) ::close(fd);
      return false;
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
    out.set_size(size);  // keeps the bytes when reserve() grows the buffer
    if (size > max_bytes) break;
  }
  if (!is_stdin) ::close(fd);
  if (size > max_bytes) {
    error = fmt::format("input is over the limit of {} bytes (limits.max_compressed_bytes)", max_bytes);
    return false;
  }
  out.set_size(size);
  return true;
}

bool decode_to_json(std::string_view bytes, const DecodeLimits& limits, Buffer& json,
                    std::string& error, std::string* dropped) {
  if (dropped) dropped->clear();
  switch (detect_format(bytes.substr(0, 64))) {
    case InputFormat::kGzip: {
      InflateResult r = inflate_gzip(bytes, limits.max_decompressed_bytes, json, error);
      if (r != InflateResult::kOk) return false;
      // The decompressed content must itself be JSON (a gzip of something else is refused).
      size_t i = skip_bom_and_space(json.view());
      if (i > 0) {
        if (dropped) dropped->assign(json.view().substr(0, i));
        std::string_view rest = json.view().substr(i);
        std::memmove(json.data(), rest.data(), rest.size());
        json.set_size(rest.size());
      }
      if (json.empty() || (json.data()[0] != '{' && json.data()[0] != '[')) {
        error = json.empty() ? "gzip data decompresses to nothing"
                             : "gzip data does not contain JSON (it does not start with '{' or '[')";
        return false;
      }
      return true;
    }
    case InputFormat::kJson: {
      if (bytes.size() > limits.max_decompressed_bytes) {
        error = fmt::format("JSON text is over the limit of {} bytes (limits.max_decompressed_bytes)",
                            limits.max_decompressed_bytes);
        return false;
      }
      const size_t i = skip_bom_and_space(bytes);
      if (dropped) dropped->assign(bytes.substr(0, i));
      json.assign(bytes.substr(i));
      return true;
    }
    case InputFormat::kUnknown:
      break;
  }
  error = bytes.empty() ? "empty input" : "not gzip or JSON (unrecognised first bytes)";
  return false;
}

}  // namespace trailwarden
