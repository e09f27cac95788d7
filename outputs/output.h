// Output: where alerts go. This is the one interface every destination implements; for now
// the only one is FileOutput (newline-delimited JSON to a file or stdout). Outputs are used by
// one thread at a time (the pipeline serialises calls).
#pragma once

#include <string>
#include <string_view>

namespace trailwarden {

class Output {
 public:
  virtual ~Output() = default;
  virtual const std::string& name() const = 0;
  // Writes one alert (a line of JSON without its newline). False with `error` on failure.
  virtual bool write(std::string_view alert, std::string& error) = 0;
  // Makes everything written so far durable at the destination (write + flush for files).
  virtual bool flush(std::string& error) = 0;
};

}  // namespace trailwarden
