// FileOutput: newline-delimited JSON alerts appended to a file, or written to stdout ("-").
// Buffered; flush() pushes the buffer to the kernel. Not thread-safe (see Output).
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "outputs/output.h"

namespace trailwarden {

class FileOutput : public Output {
 public:
  // Opens `path` for appending (created with mode 0640), or stdout for "-".
  // Throws std::runtime_error naming the path if it cannot be opened.
  FileOutput(std::string name, const std::string& path);
  ~FileOutput() override;

  const std::string& name() const override { return name_; }
  bool write(std::string_view alert, std::string& error) override;
  bool flush(std::string& error) override;

 private:
  std::string name_;
  std::string path_;
  FILE* file_ = nullptr;
  bool owned_ = false;
};

}  // namespace trailwarden
