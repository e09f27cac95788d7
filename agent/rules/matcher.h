// RuleMatcher and MatchSession: run a set of enabled rules over CloudTrail records.
//
// RuleMatcher is built once from the enabled rules; it owns the prefilter and is immutable,
// so one instance serves every thread. Each thread opens its own MatchSession, which owns a
// DOM parser and scratch space. For a file: session.begin(json) scans the whole text for the
// rules' literals once; then session.match(record) is called for each record in order and
// parses/evaluates only records in which some rule's literals occur.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/decode/limits.h"
#include "agent/rules/prefilter.h"
#include "agent/rules/rule.h"

namespace simdjson::dom {
class element;
class parser;
}  // namespace simdjson::dom

namespace trailwarden::rules {

class RuleMatcher {
 public:
  // `rules` must outlive the matcher. Throws std::runtime_error if the prefilter cannot be built.
  explicit RuleMatcher(std::vector<const Rule*> rules);
  ~RuleMatcher();

  const std::vector<const Rule*>& rules() const { return rules_; }
  const Prefilter& prefilter() const { return *prefilter_; }

 private:
  std::vector<const Rule*> rules_;
  std::unique_ptr<Prefilter> prefilter_;
};

struct MatchCounters {
  uint64_t records = 0;    // records offered to match()
  uint64_t evaluated = 0;  // records parsed and evaluated (prefilter candidates)
  uint64_t parse_errors = 0;
  uint64_t repaired = 0;  // records matched after replacing lone surrogate escapes (\ufffd)
};

class MatchSession {
 public:
  // Called for each (rule, record) match; `slot` indexes RuleMatcher::rules(). `record` is the
  // parsed event, or nullptr for an event that is not a JSON object (text events).
  using OnMatch = std::function<void(size_t slot, std::string_view raw,
                                     const simdjson::dom::element* record)>;

  MatchSession(const RuleMatcher& matcher, const DecodeLimits& limits);
  ~MatchSession();

  // Starts a file: `text` is the whole decompressed file; records passed to match() must be
  // sub-views of it, in increasing order. The text must stay valid until the next begin().
  void begin(std::string_view text);
  // Evaluates every rule that could match `raw`; calls on_match for each that does, in rule
  // order. Returns false if the record could not be parsed (then nothing matched). A record
  // whose only fault is a lone surrogate escape is matched with it replaced by \ufffd (see
  // agent/decode/surrogates.h; counters().repaired counts them), and on_match sees that copy.
  bool match(std::string_view raw, const OnMatch& on_match);
  // Evaluates every rule on a standalone event (no prefilter): `raw` must be followed by
  // Buffer::kPadding readable bytes if `json_padded`, else it is copied.
  void match_event(std::string_view raw, bool try_json, const OnMatch& on_match);

  const MatchCounters& counters() const { return counters_; }
  // Frees the DOM parser's buffers if they grew past `keep_parser` bytes of capacity (for one
  // large record), and the prefilter's hit list if it grew past `keep_hits` bytes (for one
  // large file). Returns true if it freed anything. Call between files, not during one.
  bool release_memory(size_t keep_parser, size_t keep_hits);
  // Why the last match() returned false, in words.
  std::string last_error() const;

 private:
  void evaluate(std::string_view raw, const simdjson::dom::element* json, const OnMatch& on_match);

  const RuleMatcher& matcher_;
  std::unique_ptr<simdjson::dom::parser> parser_;
  std::unique_ptr<Prefilter::Scratch> scratch_;
  std::string_view text_;
  std::vector<Prefilter::Hit> hits_;
  size_t next_hit_ = 0;
  std::vector<uint32_t> mark_;  // per slot: generation when last made a candidate
  std::vector<uint32_t> clause_generation_;  // per slot: generation of clause_bits_
  std::vector<uint32_t> clause_bits_;        // per slot: clauses met in the current record
  uint32_t generation_ = 0;
  std::vector<uint32_t> candidates_;
  std::string copy_;  // padded copy for match_event
  MatchCounters counters_;
  int last_error_ = 0;  // simdjson::error_code of the last failed parse
};

}  // namespace trailwarden::rules
