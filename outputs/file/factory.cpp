#include "outputs/factory.h"
#include "outputs/file/file_config.h"
#include "outputs/file/file_output.h"

namespace trailwarden {

std::unique_ptr<Output> make_file_output(const OutputSettings& s, const OutputEnv& env) {
  const FileOutputConfig config = parse_file_config(s);
  if (env.validate_only) return nullptr;
  return std::make_unique<FileOutput>(s.name, config.path, s.format);
}

}  // namespace trailwarden
