// FileOutput: alerts as newline-delimited JSON appended to a file, or written to stdout ("-").
// A batch is delivered when it has been written and flushed to the kernel. reopen() (SIGHUP)
// reopens the path, for logrotate. Used by one thread at a time (see Output).
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "outputs/format.h"
#include "outputs/output.h"

namespace trailwarden {

class FileOutput : public Output {
 public:
  // Opens `path` for appending (created with mode 0640), or stdout for "-".
  // Throws std::runtime_error naming the path if it cannot be opened.
  FileOutput(std::string name, const std::string& path, AlertFormat format = AlertFormat::kOcsf);
  ~FileOutput() override;

  const std::string& name() const override { return name_; }
  DeliveryResult send(const std::vector<const AlertRecord*>& batch) override;
  void reopen() override;

 private:
  void open();

  std::string name_;
  std::string path_;
  AlertFormat format_;
  FILE* file_ = nullptr;
  bool owned_ = false;
  std::string line_;
};

}  // namespace trailwarden
