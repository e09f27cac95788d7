// FileSource: the Source (agent/sources/source.h) behind `replay`. The paths it is given —
// files, directories (read recursively, each directory's files sorted by name) or "-" for
// standard input — become one unit per file, handed out in that order; then the source ends.
// Paths that do not exist are not units: missing() lists them (the caller reports them).
// Acknowledgement is nothing: a file is read again by running replay again.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "agent/sources/source.h"

namespace trailwarden {

// Expands paths into the list of input files (directories recursively, sorted by name).
// Paths that do not exist are returned in `missing`.
std::vector<std::string> expand_inputs(const std::vector<std::string>& paths,
                                       std::vector<std::string>& missing);

class FileSource final : public Source {
 public:
  explicit FileSource(const std::vector<std::string>& paths);

  const std::vector<std::string>& files() const { return files_; }
  const std::vector<std::string>& missing() const { return missing_; }

  Status next(size_t max, const std::atomic<bool>& stop, std::vector<WorkUnit>& out,
              std::string& error) override;
  void done(AckToken, bool, const std::string&) override {}
  void release(const std::vector<AckToken>&) override {}
  void close() override {}

 private:
  std::vector<std::string> missing_;  // before files_: expand_inputs() fills it
  std::vector<std::string> files_;
  size_t next_ = 0;
};

}  // namespace trailwarden
