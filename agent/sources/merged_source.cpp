#include "agent/sources/merged_source.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <utility>

namespace trailwarden {

namespace {

std::vector<AckToken> tokens_of(const std::vector<WorkUnit>& units, AckToken clear = 0) {
  std::vector<AckToken> tokens;
  tokens.reserve(units.size());
  for (const WorkUnit& u : units) tokens.push_back(u.token & ~clear);
  return tokens;
}

// The first unit whose token has the top bit set, or null.
const WorkUnit* marked(const std::vector<WorkUnit>& units) {
  auto it = std::find_if(units.begin(), units.end(),
                         [](const WorkUnit& u) { return (u.token & MergedSource::kSideBit) != 0; });
  return it == units.end() ? nullptr : &*it;
}

std::string marked_error(const char* which, const WorkUnit& u) {
  return fmt::format(
      "programming error: the {} source handed out {} with token {:#x}, which has the top bit "
      "set that tells the backfill source's units apart; stopping rather than acknowledging a "
      "unit to the wrong source (its units were given back)",
      which, u.name, u.token);
}

void append(std::vector<WorkUnit>& out, std::vector<WorkUnit>& units) {
  out.insert(out.end(), std::make_move_iterator(units.begin()),
             std::make_move_iterator(units.end()));
}

}  // namespace

bool MergedSource::take_side(size_t max, const std::atomic<bool>& stop,
                             std::vector<WorkUnit>& units, std::string& error) {
  if (side_ended_ || max == 0 || stop) return true;
  std::string side_error;
  const Status s = side_.next(max, stop, units, side_error);
  if (const WorkUnit* u = marked(units)) {
    error = marked_error("backfill", *u);
    if (!units.empty()) side_.release(tokens_of(units));  // its own tokens, untagged
    units.clear();
    return false;
  }
  if (s == Status::kFatal) {
    error = "backfill source: " + side_error;
    if (!units.empty()) side_.release(tokens_of(units));
    units.clear();
    return false;
  }
  if (s == Status::kEnd) side_ended_ = true;
  for (WorkUnit& u : units) u.token |= kSideBit;
  return true;
}

void MergedSource::give_back(std::vector<WorkUnit>& main_units,
                             std::vector<WorkUnit>& side_units) {
  if (!main_units.empty()) main_.release(tokens_of(main_units));
  if (!side_units.empty()) side_.release(tokens_of(side_units, kSideBit));
  main_units.clear();
  side_units.clear();
}

Source::Status MergedSource::next(size_t max, const std::atomic<bool>& stop,
                                  std::vector<WorkUnit>& out, std::string& error) {
  if (max == 0) return Status::kOk;
  std::vector<WorkUnit> side_units;
  std::vector<WorkUnit> main_units;
  if (!main_turn_) {
    if (!take_side(max, stop, side_units, error)) return Status::kFatal;
    if (!side_units.empty()) {  // the side's turn: returned without waiting on the main
      main_turn_ = true;
      append(out, side_units);
      return Status::kOk;
    }
  }
  main_turn_ = false;
  const Status s = main_.next(max, stop, main_units, error);
  if (s == Status::kFatal) {
    give_back(main_units, side_units);
    return Status::kFatal;
  }
  if (const WorkUnit* u = marked(main_units)) {
    error = marked_error("main", *u);
    give_back(main_units, side_units);
    return Status::kFatal;
  }
  const size_t room = max > main_units.size() ? max - main_units.size() : 0;
  if (!take_side(room, stop, side_units, error)) {
    give_back(main_units, side_units);
    return Status::kFatal;
  }
  append(out, main_units);
  append(out, side_units);
  return s;
}

void MergedSource::done(AckToken token, bool ok, const std::string& why) {
  if (token & kSideBit) side_.done(token & ~kSideBit, ok, why);
  else main_.done(token, ok, why);
}

void MergedSource::release(const std::vector<AckToken>& unfinished) {
  std::vector<AckToken> main_tokens;
  std::vector<AckToken> side_tokens;
  for (AckToken t : unfinished) {
    if (t & kSideBit) side_tokens.push_back(t & ~kSideBit);
    else main_tokens.push_back(t);
  }
  if (!main_tokens.empty()) main_.release(main_tokens);
  if (!side_tokens.empty()) side_.release(side_tokens);
}

void MergedSource::close() {
  main_.close();
  side_.close();
}

}  // namespace trailwarden
