#include "agent/rules/prefilter.h"

#include <hs/hs.h>

#include <algorithm>
#include <fmt/format.h>
#include <map>

namespace trailwarden::rules {

namespace {

// Characters that JSON must escape: a literal containing one is spelled differently in the
// raw text, so it is no use as a literal. (Optional escapes, \/ and \uXXXX, are caught by
// the escape triggers instead.)
bool json_safe(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || c == '"' || c == '\\') return false;
  }
  return true;
}

// A number, true, false or null may appear unquoted in JSON (a string comparison also matches
// the textual form of a number), so such literals are not anchored by quotes.
bool could_be_bare_json(std::string_view s) {
  if (s == "true" || s == "false" || s == "null") return true;
  if (s.empty()) return true;
  char c = s[0];
  return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.';
}

using Clauses = std::vector<std::vector<std::string>>;

// Literal that must occur in the raw JSON for `t` to hold; empty if there is none.
std::string term_literal(const Term& t) {
  switch (t.kind) {
    case Term::Kind::kIsTrue: return "true";
    case Term::Kind::kIsFalse: return "false";
    case Term::Kind::kIsNull: return "null";
    case Term::Kind::kNotExists: return {};
    case Term::Kind::kCompare: break;
  }
  if (t.op != CompareOp::kEq || t.value.kind != Value::Kind::kString) return {};
  const Value& v = t.value;
  if (v.text.empty() || !json_safe(v.text)) return {};
  std::string lit;
  const bool anchor = !could_be_bare_json(v.text);
  if (anchor && !v.leading_wildcard) lit.push_back('"');
  lit += v.text;
  if (anchor && !v.trailing_wildcard) lit.push_back('"');
  if (lit.size() < 3) return {};  // too short to be selective
  return lit;
}

// Score of a clause: its shortest literal (longer literals are rarer), then fewer literals.
std::pair<size_t, int> clause_score(const std::vector<std::string>& clause) {
  size_t shortest = SIZE_MAX;
  for (const auto& l : clause) shortest = std::min(shortest, l.size());
  return {shortest, -static_cast<int>(clause.size())};
}

const std::vector<std::string>* best_clause(const Clauses& cs) {
  const std::vector<std::string>* best = nullptr;
  for (const auto& c : cs)
    if (!best || clause_score(c) > clause_score(*best)) best = &c;
  return best;
}

Clauses requirement_of(const Expr& e) {
  switch (e.type) {
    case Expr::Type::kTerm: {
      std::string lit = term_literal(e.term);
      if (lit.empty()) return {};
      return {{lit}};
    }
    case Expr::Type::kAnd: {
      Clauses all;
      for (const auto& c : e.children) {
        Clauses sub = requirement_of(c);
        all.insert(all.end(), sub.begin(), sub.end());
      }
      return all;
    }
    case Expr::Type::kOr: {
      std::vector<std::string> merged;
      for (const auto& c : e.children) {
        Clauses sub = requirement_of(c);
        const auto* best = best_clause(sub);
        if (!best) return {};  // one branch can hold without any literal
        merged.insert(merged.end(), best->begin(), best->end());
      }
      std::sort(merged.begin(), merged.end());
      merged.erase(std::unique(merged.begin(), merged.end()), merged.end());
      return {merged};
    }
  }
  return {};
}

}  // namespace

Requirement Pattern::requirement() const {
  Requirement r;
  switch (kind_) {
    case Kind::kJson:
      r.json_encoded = true;
      r.clauses = requirement_of(expr_);
      break;
    case Kind::kText: {
      std::vector<std::string> optional;
      bool optional_unconstrained = false;
      for (const auto& t : text_terms_) {
        if (t.mode == TextTerm::Mode::kRequired && !t.regex) r.clauses.push_back({t.text});
        if (t.mode == TextTerm::Mode::kOptional) {
          if (t.regex) optional_unconstrained = true;
          else optional.push_back(t.text);
        }
      }
      if (!optional.empty() && !optional_unconstrained) r.clauses.push_back(optional);
      break;
    }
    case Kind::kSpaceDelimited:
      break;  // conditions apply to fields, which only a full evaluation can find
  }
  return r;
}

Prefilter::~Prefilter() { hs_free_database(db_); }

Prefilter::Scratch::~Scratch() { hs_free_scratch(scratch_); }

std::unique_ptr<Prefilter> Prefilter::build(const std::vector<const Pattern*>& patterns,
                                            std::string& error) {
  std::unique_ptr<Prefilter> pf(new Prefilter());
  pf->slot_count_ = patterns.size();
  std::map<std::string, uint32_t> ids;
  std::vector<std::string> literals = {"\\u", "\\/"};  // the escape triggers come first
  pf->literal_targets_.resize(kEscapeLiterals);
  pf->literal_lengths_ = {2, 2};
  pf->full_masks_.assign(patterns.size(), 0);
  for (uint32_t slot = 0; slot < patterns.size(); ++slot) {
    Requirement req = patterns[slot]->requirement();
    if (req.unconstrained()) {
      pf->always_.push_back(slot);
      continue;
    }
    if (req.json_encoded) pf->json_slots_.push_back(slot);
    // Keep the most selective clauses: every one of them must be met in a record.
    std::stable_sort(req.clauses.begin(), req.clauses.end(),
                     [](const auto& a, const auto& b) { return clause_score(a) > clause_score(b); });
    req.clauses.erase(std::unique(req.clauses.begin(), req.clauses.end()), req.clauses.end());
    if (req.clauses.size() > kMaxClauses) req.clauses.resize(kMaxClauses);
    for (uint32_t clause = 0; clause < req.clauses.size(); ++clause) {
      pf->full_masks_[slot] |= 1u << clause;
      for (const auto& lit : req.clauses[clause]) {
        auto [it, inserted] = ids.emplace(lit, static_cast<uint32_t>(literals.size()));
        if (inserted) {
          literals.push_back(lit);
          pf->literal_targets_.emplace_back();
          pf->literal_lengths_.push_back(static_cast<uint32_t>(lit.size()));
        }
        pf->literal_targets_[it->second].push_back(Target{slot, clause});
      }
    }
  }
  if (literals.size() == kEscapeLiterals) return pf;  // nothing to scan for
  std::vector<const char*> exprs;
  std::vector<size_t> lens;
  std::vector<unsigned> flags, idv;
  for (uint32_t i = 0; i < literals.size(); ++i) {
    exprs.push_back(literals[i].data());
    lens.push_back(literals[i].size());
    flags.push_back(0);
    idv.push_back(i);
  }
  hs_compile_error_t* compile_error = nullptr;
  if (hs_compile_lit_multi(exprs.data(), flags.data(), idv.data(), lens.data(),
                           static_cast<unsigned>(exprs.size()), HS_MODE_BLOCK, nullptr, &pf->db_,
                           &compile_error) != HS_SUCCESS) {
    error = fmt::format("cannot compile the prefilter: {}",
                        compile_error ? compile_error->message : "unknown error");
    hs_free_compile_error(compile_error);
    return nullptr;
  }
  return pf;
}

std::unique_ptr<Prefilter::Scratch> Prefilter::make_scratch() const {
  std::unique_ptr<Scratch> s(new Scratch());
  if (db_ && hs_alloc_scratch(db_, &s->scratch_) != HS_SUCCESS) return nullptr;
  return s;
}

bool Prefilter::scan(std::string_view text, Scratch& scratch, std::vector<Hit>& hits) const {
  if (!db_) return true;
  auto on_match = [](unsigned int id, unsigned long long, unsigned long long to, unsigned int,
                     void* ctx) -> int {
    static_cast<std::vector<Hit>*>(ctx)->push_back(
        Hit{static_cast<uint32_t>(to), static_cast<uint32_t>(id)});
    return 0;
  };
  size_t first = hits.size();
  hs_error_t rc = hs_scan(db_, text.data(), static_cast<unsigned>(text.size()), 0,
                          scratch.scratch_, on_match, &hits);
  auto by_end = [](const Hit& a, const Hit& b) { return a.end < b.end; };
  if (!std::is_sorted(hits.begin() + first, hits.end(), by_end))
    std::stable_sort(hits.begin() + first, hits.end(), by_end);
  return rc == HS_SUCCESS;
}

}  // namespace trailwarden::rules
