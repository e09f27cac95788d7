#include "agent/integrity/local_trail_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>
#include <mutex>
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
    // O_NONBLOCK: a FIFO planted in the copy does not block the open (S_ISREG refuses it next).
    const int next = ::openat(fd, seg.c_str(),
                              O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
                                  (last ? 0 : O_DIRECTORY));
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
  // No folder on the way to the listing's root may be a symbolic link (the walk below follows
  // none either), so the listing never leaves DIR.
  fs::path root = dir_;
  std::error_code ec;
  size_t start = 0;
  while (start < folder.size()) {
    size_t slash = folder.find('/', start);
    if (slash == std::string::npos) slash = folder.size();
    root /= folder.substr(start, slash - start);
    if (fs::is_symlink(fs::symlink_status(root, ec))) return {};
    start = slash + 1;
  }
  // The sorted keys of a prefix are kept for its next pages (one walk per listing, not per page).
  std::lock_guard<std::mutex> lock(mu_);
  if (cached_prefix_ != prefix || !cached_) {
    cached_keys_.clear();
    fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
    if (!ec) {
      for (; it != end; it.increment(ec)) {
        if (ec)
          return {RemoteStatus::Code::kFatal, "listing " + root.string() + ": " + ec.message()};
        if (it->is_symlink(ec) || !it->is_regular_file(ec)) continue;
        std::string key = fs::relative(it->path(), dir_, ec).generic_string();
        if (ec || key.compare(0, prefix.size(), prefix) != 0) continue;
        cached_keys_.push_back(std::move(key));
      }
    }
    std::sort(cached_keys_.begin(), cached_keys_.end());
    cached_prefix_ = prefix;
    cached_ = true;
  }
  const std::string& after = token.empty() ? start_after : token;
  auto first = after.empty() ? cached_keys_.begin()
                             : std::upper_bound(cached_keys_.begin(), cached_keys_.end(), after);
  max_keys = std::clamp<size_t>(max_keys, 1, 1000);
  const size_t left = static_cast<size_t>(cached_keys_.end() - first);
  for (size_t i = 0; i < left && i < max_keys; ++i) out.objects.push_back({first[i], 0, ""});
  if (left > max_keys) out.next_token = first[max_keys - 1];
  return {};
}

}  // namespace trailwarden::integrity
