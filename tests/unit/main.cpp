// doctest's main, with the agent's log quieted to warnings so test output stays readable.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <spdlog/spdlog.h>

int main(int argc, char** argv) {
  spdlog::set_level(spdlog::level::warn);
  return doctest::Context(argc, argv).run();
}
