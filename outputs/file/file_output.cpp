#include "outputs/file/file_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <stdexcept>

namespace trailwarden {

FileOutput::FileOutput(std::string name, const std::string& path)
    : name_(std::move(name)), path_(path) {
  if (path == "-") {
    file_ = stdout;
  } else {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0 || !(file_ = ::fdopen(fd, "a"))) {
      if (fd >= 0) ::close(fd);
      throw std::runtime_error(
          fmt::format("output '{}': cannot open {}: {}", name_, path, std::strerror(errno)));
    }
    owned_ = true;
  }
  std::setvbuf(file_, nullptr, _IOFBF, 1 << 16);
}

FileOutput::~FileOutput() {
  if (owned_) std::fclose(file_);
  else std::fflush(file_);
}

bool FileOutput::write(std::string_view alert, std::string& error) {
  if (std::fwrite(alert.data(), 1, alert.size(), file_) != alert.size() ||
      std::fputc('\n', file_) == EOF) {
    error = fmt::format("output '{}': write to {} failed: {}", name_, path_, std::strerror(errno));
    return false;
  }
  return true;
}

bool FileOutput::flush(std::string& error) {
  if (std::fflush(file_) != 0) {
    error = fmt::format("output '{}': flush of {} failed: {}", name_, path_, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace trailwarden
