#include "agent/sources/file/file_source.h"

#include <algorithm>
#include <filesystem>

namespace trailwarden {

namespace fs = std::filesystem;

std::vector<std::string> expand_inputs(const std::vector<std::string>& paths,
                                       std::vector<std::string>& missing) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    if (p == "-") {
      out.push_back(p);
      continue;
    }
    std::error_code ec;
    auto status = fs::status(p, ec);
    if (ec || !fs::exists(status)) {
      missing.push_back(p);
      continue;
    }
    if (!fs::is_directory(status)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) found.push_back(it->path().string());
    }
    if (ec) missing.push_back(p + " (" + ec.message() + ")");
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

FileSource::FileSource(const std::vector<std::string>& paths)
    : files_(expand_inputs(paths, missing_)) {}

Source::Status FileSource::next(size_t max, const std::atomic<bool>&, std::vector<WorkUnit>& out,
                                std::string&) {
  for (size_t n = 0; n < max && next_ < files_.size(); ++n, ++next_) {
    WorkUnit u;
    u.payload = WorkUnit::Payload::kFile;
    u.path = files_[next_];
    u.name = u.path == "-" ? std::string("<stdin>") : u.path;
    u.token = next_;
    out.push_back(std::move(u));
  }
  return next_ < files_.size() ? Status::kOk : Status::kEnd;
}

}  // namespace trailwarden
