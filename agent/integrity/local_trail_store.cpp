#include "agent/integrity/local_trail_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <vector>

namespace trailwarden::integrity {

namespace fs = std::filesystem;

bool LocalTrailStore::safe_key(const std::string& key) {
  if (key.empty() || key.front() == '/' || key.find('\0') != std::string::npos ||
      key.find('\\') != std::string::npos)
    return false;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    const std::string_view seg(key.data() + start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    start = end + 1;
  }
  return true;
}

RemoteStatus LocalTrailStore::get(const ObjectRef& object, size_t max_bytes, Buffer& out,
                                  const std::atomic<bool>*) {
  if (object.bucket != bucket_ || !safe_key(object.key))
    return {RemoteStatus::Code::kNotFound, "not in the local copy: " + object.key};
  // Each folder and the file opened without following symbolic links.
  int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return {RemoteStatus::Code::kFatal, "cannot open " + dir_};
  size_t start = 0;
  while (fd >= 0) {
    const size_t slash = object.key.find('/', start);
    const bool last = slash == std::string::npos;
    const std::string seg = object.key.substr(start, last ? std::string::npos : slash - start);
    const int next = ::openat(fd, seg.c_str(),
                              O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
    ::close(fd);
    fd = next;
    if (last) break;
    start = slash + 1;
  }
  if (fd < 0) return {RemoteStatus::Code::kNotFound, "not found: " + object.key};
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return {RemoteStatus::Code::kNotFound, "not a file: " + object.key};
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return {RemoteStatus::Code::kTooLarge, object.key + " is larger than allowed"};
  }
  const size_t size = static_cast<size_t>(st.st_size);
  out.reserve(size);
  out.set_size(size);
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, out.data() + done, size - done);
    if (n <= 0) {
      ::close(fd);
      return {RemoteStatus::Code::kFatal, "cannot read " + object.key};
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return {};
}

RemoteStatus LocalTrailStore::list(const std::string& bucket, const std::string& prefix,
                                   const std::string& start_after, const std::string& token,
                                   size_t max_keys, ObjectPage& out, const std::atomic<bool>*) {
  out = {};
  if (bucket != bucket_) return {RemoteStatus::Code::kNotFound, "no such bucket: " + bucket};
  // The deepest folder the prefix names completely.
  const size_t cut = prefix.rfind('/');
  const std::string folder = cut == std::string::npos ? "" : prefix.substr(0, cut);
  if (!folder.empty() && !safe_key(folder)) return {};
  const fs::path root = fs::path(dir_) / folder;
  std::vector<std::string> keys;
  std::error_code ec;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) return {};  // nothing there
  for (; it != end; it.increment(ec)) {
    if (ec) return {RemoteStatus::Code::kFatal, "listing " + root.string() + ": " + ec.message()};
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    std::string key = fs::relative(it->path(), dir_, ec).generic_string();
    if (ec || key.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string& after = token.empty() ? start_after : token;
    if (!after.empty() && key <= after) continue;
    keys.push_back(std::move(key));
  }
  std::sort(keys.begin(), keys.end());
  max_keys = std::clamp<size_t>(max_keys, 1, 1000);
  for (size_t i = 0; i < keys.size() && i < max_keys; ++i) out.objects.push_back({keys[i], 0, ""});
  if (keys.size() > max_keys) out.next_token = keys[max_keys - 1];
  return {};
}

}  // namespace trailwarden::integrity
