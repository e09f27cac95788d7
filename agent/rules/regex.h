// Regex: a regular expression from a filter pattern (%...%), compiled with Vectorscan so that
// matching takes linear time in the event's length whatever the expression (no backtracking:
// a hostile CloudTrail record cannot stall the agent). Immutable after compile(); search() may
// be called from any thread (each thread keeps its own scratch space).
#pragma once

#include <memory>
#include <string>
#include <string_view>

struct hs_database;

namespace trailwarden::rules {

class Regex {
 public:
  // Compiles `source`; returns nullptr with `error` set if it is not a valid expression.
  static std::shared_ptr<const Regex> compile(const std::string& source, std::string& error);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // True if the expression matches anywhere in `text` (anchors ^ and $ bind to its ends).
  bool search(std::string_view text) const;

 private:
  Regex() = default;
  hs_database* db_ = nullptr;
};

}  // namespace trailwarden::rules
