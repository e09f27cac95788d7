#include "agent/rules/regex.h"

#include <hs/hs.h>

#include <cstdlib>

namespace trailwarden::rules {

namespace {

// Per-thread scratch, grown to fit every database this thread has scanned with.
struct ThreadScratch {
  hs_scratch_t* scratch = nullptr;
  ~ThreadScratch() { hs_free_scratch(scratch); }
};

}  // namespace

std::shared_ptr<const Regex> Regex::compile(const std::string& source, std::string& error) {
  std::shared_ptr<Regex> r(new Regex());
  hs_compile_error_t* compile_error = nullptr;
  if (hs_compile(source.c_str(), HS_FLAG_SINGLEMATCH | HS_FLAG_ALLOWEMPTY, HS_MODE_BLOCK,
                 nullptr, &r->db_, &compile_error) != HS_SUCCESS) {
    error = compile_error ? compile_error->message : "cannot compile the expression";
    hs_free_compile_error(compile_error);
    return nullptr;
  }
  return r;
}

Regex::~Regex() { hs_free_database(db_); }

bool Regex::search(std::string_view text) const {
  thread_local ThreadScratch tls;
  if (hs_alloc_scratch(db_, &tls.scratch) != HS_SUCCESS) std::abort();  // out of memory
  bool found = false;
  auto on_match = [](unsigned int, unsigned long long, unsigned long long, unsigned int,
                     void* ctx) -> int {
    *static_cast<bool*>(ctx) = true;
    return 1;  // stop scanning
  };
  hs_scan(db_, text.data(), static_cast<unsigned int>(text.size()), 0, tls.scratch, on_match,
          &found);
  return found;
}

}  // namespace trailwarden::rules
