#include "agent/rules/matcher.h"

#include <simdjson.h>

#include <algorithm>
#include <stdexcept>

#include "agent/common/buffer.h"
#include "agent/decode/surrogates.h"

namespace trailwarden::rules {

RuleMatcher::RuleMatcher(std::vector<const Rule*> rules) : rules_(std::move(rules)) {
  std::vector<const Pattern*> patterns;
  patterns.reserve(rules_.size());
  for (const Rule* r : rules_) patterns.push_back(r->pattern.get());
  std::string error;
  prefilter_ = Prefilter::build(patterns, error);
  if (!prefilter_) throw std::runtime_error(error);
}

RuleMatcher::~RuleMatcher() = default;

MatchSession::MatchSession(const RuleMatcher& matcher, const DecodeLimits& limits)
    : matcher_(matcher),
      parser_(std::make_unique<simdjson::dom::parser>()),
      scratch_(matcher.prefilter().make_scratch()),
      mark_(matcher.rules().size(), 0),
      clause_generation_(matcher.rules().size(), 0),
      clause_bits_(matcher.rules().size(), 0) {
  if (!scratch_) throw std::runtime_error("cannot allocate prefilter scratch space");
  if (parser_->allocate(1 << 16, limits.max_depth) != simdjson::SUCCESS)
    throw std::runtime_error("cannot allocate the JSON parser");
}

MatchSession::~MatchSession() = default;

void MatchSession::begin(std::string_view text) {
  text_ = text;
  hits_.clear();
  next_hit_ = 0;
  matcher_.prefilter().scan(text, *scratch_, hits_);
}

bool MatchSession::match(std::string_view raw, const OnMatch& on_match) {
  ++counters_.records;
  const Prefilter& pf = matcher_.prefilter();
  const auto begin = static_cast<uint64_t>(raw.data() - text_.data());
  const uint64_t end = begin + raw.size();
  if (++generation_ == 0) {  // wrapped: reset the marks
    std::fill(mark_.begin(), mark_.end(), 0);
    std::fill(clause_generation_.begin(), clause_generation_.end(), 0);
    generation_ = 1;
  }
  candidates_.clear();
  auto add = [this](uint32_t slot) {
    if (mark_[slot] != generation_) {
      mark_[slot] = generation_;
      candidates_.push_back(slot);
    }
  };
  for (uint32_t slot : pf.always()) add(slot);
  // Hits are ordered by end offset and records come in order: consume hits up to this record's
  // end; those ending before it began belong to text between records.
  while (next_hit_ < hits_.size() && hits_[next_hit_].end <= end) {
    const auto& hit = hits_[next_hit_++];
    if (hit.end - pf.literal_length(hit.literal) < begin) continue;
    if (pf.is_escape(hit.literal)) {
      for (uint32_t slot : pf.json_slots()) add(slot);
      continue;
    }
    for (const auto& t : pf.targets(hit.literal)) {
      if (clause_generation_[t.slot] != generation_) {
        clause_generation_[t.slot] = generation_;
        clause_bits_[t.slot] = 0;
      }
      clause_bits_[t.slot] |= 1u << t.clause;
      if (clause_bits_[t.slot] == pf.full_mask(t.slot)) add(t.slot);
    }
  }
  if (candidates_.empty()) return true;
  ++counters_.evaluated;
  std::sort(candidates_.begin(), candidates_.end());
  simdjson::dom::element doc;
  // The record lies inside the padded file buffer, so reading past its end is safe.
  if (auto e = parser_->parse(raw.data(), raw.size(), false).get(doc)) {
    if (e == simdjson::STRING_ERROR) {  // rare: a bad escape; a lone surrogate can be repaired
      copy_.assign(raw);
      copy_.append(Buffer::kPadding, '\0');
      if (replace_lone_surrogate_escapes(copy_.data(), raw.size()) > 0 &&
          parser_->parse(copy_.data(), raw.size(), false).get(doc) == simdjson::SUCCESS) {
        ++counters_.repaired;
        evaluate(std::string_view(copy_.data(), raw.size()), &doc, on_match);
        return true;
      }
    }
    ++counters_.parse_errors;
    last_error_ = e;
    return false;
  }
  evaluate(raw, &doc, on_match);
  return true;
}

bool MatchSession::release_memory(size_t keep_parser, size_t keep_hits) {
  bool released = false;
  if (parser_->capacity() > keep_parser) {
    // A fresh parser (its document's tape and strings go too); parsing grows it when needed.
    const size_t depth = parser_->max_depth();
    parser_ = std::make_unique<simdjson::dom::parser>();
    if (parser_->allocate(size_t{1} << 16, depth) != simdjson::SUCCESS) {
      // Out of memory for 64 KiB: parse() will try again, and a failure there is a bad record.
    }
    released = true;
  }
  if (hits_.capacity() * sizeof(Prefilter::Hit) > keep_hits) {
    hits_ = std::vector<Prefilter::Hit>();  // (`= {}` would keep the capacity)
    next_hit_ = 0;
    released = true;
  }
  return released;
}

std::string MatchSession::last_error() const {
  auto e = static_cast<simdjson::error_code>(last_error_);
  if (e == simdjson::DEPTH_ERROR) return "JSON nesting deeper than limits.max_depth";
  if (e == simdjson::STRING_ERROR) return "invalid escape in a JSON string";
  return simdjson::error_message(e);
}

void MatchSession::match_event(std::string_view raw, bool try_json, const OnMatch& on_match) {
  ++counters_.records;
  ++counters_.evaluated;
  candidates_.clear();
  for (uint32_t slot = 0; slot < matcher_.rules().size(); ++slot) candidates_.push_back(slot);
  simdjson::dom::element doc;
  bool is_json = false;
  if (try_json) {
    copy_.assign(raw);
    copy_.append(Buffer::kPadding, '\0');
    is_json = parser_->parse(copy_.data(), raw.size(), false).get(doc) == simdjson::SUCCESS &&
              doc.is_object();
  }
  evaluate(raw, is_json ? &doc : nullptr, on_match);
}

void MatchSession::evaluate(std::string_view raw, const simdjson::dom::element* json,
                            const OnMatch& on_match) {
  for (uint32_t slot : candidates_) {
    const Rule& rule = *matcher_.rules()[slot];
    if (rule.pattern->matches(raw, json)) on_match(slot, raw, json);
  }
}

}  // namespace trailwarden::rules
