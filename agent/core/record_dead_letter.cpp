#include "agent/core/record_dead_letter.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>

#include "agent/common/json_writer.h"

namespace trailwarden {

RecordDeadLetterFile::RecordDeadLetterFile(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

bool RecordDeadLetterFile::write(std::string_view object, std::string_view message_id,
                                 const std::vector<BadRecord>& records, uint64_t omitted,
                                 std::string& error) {
  if (records.empty() && omitted == 0) return true;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::string text;
  auto head = [&](JsonWriter& w) {
    w.begin_object();
    w.field("time", static_cast<int64_t>(now));
    w.field("object", object);
    w.field("message_id", message_id);
  };
  for (const BadRecord& r : records) {
    JsonWriter w(text);
    head(w);
    w.field("record_index", r.index);
    w.field("reason", std::string_view(r.reason));
    w.field("record_bytes", r.bytes);
    w.field("excerpt", std::string_view(r.excerpt));
    w.end_object();
    text.push_back('\n');
  }
  if (omitted) {
    JsonWriter w(text);
    head(w);
    w.field("omitted", omitted);
    w.end_object();
    text.push_back('\n');
  }

  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0 && st.st_size > 0 &&
      static_cast<uint64_t>(st.st_size) + text.size() > max_bytes_) {
    const std::string old = path_ + ".1";
    if (std::rename(path_.c_str(), old.c_str()) != 0) {
      error = fmt::format("cannot rotate the record dead-letter file {} to {}: {}", path_, old,
                          std::strerror(errno));
      return false;
    }
  }
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = fmt::format("cannot open the record dead-letter file {}: {}", path_, std::strerror(errno));
    return false;
  }
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  const bool ok = done == text.size() && ::fdatasync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    error = fmt::format("cannot write the record dead-letter file {}: {}", path_, std::strerror(saved));
    return false;
  }
  return true;
}

}  // namespace trailwarden
