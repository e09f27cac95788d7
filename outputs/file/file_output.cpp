#include "outputs/file/file_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <stdexcept>

namespace trailwarden {

FileOutput::FileOutput(std::string name, const std::string& path, AlertFormat format)
    : name_(std::move(name)), path_(path), format_(format) {
  open();
  if (!file_)
    throw std::runtime_error(
        fmt::format("output '{}': cannot open {}: {}", name_, path_, std::strerror(errno)));
}

void FileOutput::open() {
  if (path_ == "-") {
    file_ = stdout;
    owned_ = false;
  } else {
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    // A previous run killed mid-write may have left a partial last line: start on a new line
    // so the next alert is not glued to it (the torn alert is delivered again from the buffer).
    if (fd >= 0) {
      off_t size = ::lseek(fd, 0, SEEK_END);
      char last = '\n';
      if (size > 0 && ::pread(fd, &last, 1, size - 1) == 1 && last != '\n') {
        if (::write(fd, "\n", 1) != 1) {
          ::close(fd);
          fd = -1;
        }
      }
    }
    file_ = fd >= 0 ? ::fdopen(fd, "a") : nullptr;
    if (!file_ && fd >= 0) ::close(fd);
    owned_ = file_ != nullptr;
  }
  if (file_) std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
}

FileOutput::~FileOutput() {
  if (owned_) std::fclose(file_);
  else if (file_) std::fflush(file_);
}

void FileOutput::reopen() {
  if (path_ == "-") return;
  if (owned_) std::fclose(file_);
  file_ = nullptr;
  open();
}

DeliveryResult FileOutput::send(const std::vector<const AlertRecord*>& batch) {
  DeliveryResult r;
  if (!file_) {
    reopen();
    if (!file_) {
      r.status = DeliveryResult::Status::kRetry;
      r.message = fmt::format("cannot open {}: {}", path_, std::strerror(errno));
      return r;
    }
  }
  for (const AlertRecord* a : batch) {
    line_.clear();
    format_alert(*a, format_, line_);
    line_.push_back('\n');
    if (std::fwrite(line_.data(), 1, line_.size(), file_) != line_.size()) {
      r.status = DeliveryResult::Status::kRetry;
      r.message = fmt::format("write to {} failed: {}", path_, std::strerror(errno));
      return r;
    }
  }
  if (std::fflush(file_) != 0) {
    r.status = DeliveryResult::Status::kRetry;
    r.message = fmt::format("flush of {} failed: {}", path_, std::strerror(errno));
  }
  return r;
}

}  // namespace trailwarden
