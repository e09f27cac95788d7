// Prefilter: finds, in one pass over a whole decompressed file, every occurrence of the
// literals that the enabled patterns need (see Pattern::requirement), so that only records
// containing them are parsed and evaluated. Built on Vectorscan/Hyperscan's literal matcher.
//
// The Prefilter itself is immutable after build() and may be shared by threads; each thread
// needs its own Scratch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/rules/pattern.h"

struct hs_database;
struct hs_scratch;

namespace trailwarden::rules {

class Prefilter {
 public:
  struct Hit {
    uint32_t end;      // offset one past the literal's last byte
    uint32_t literal;  // index into literals()
  };

  // A literal's meaning: it satisfies clause `clause` of the requirement of pattern `slot`.
  // A slot is a candidate for a record when every one of its clauses is satisfied in it.
  struct Target {
    uint32_t slot;
    uint32_t clause;
  };
  static constexpr uint32_t kMaxClauses = 8;

  class Scratch {
   public:
    ~Scratch();
    Scratch(const Scratch&) = delete;
    Scratch& operator=(const Scratch&) = delete;

   private:
    friend class Prefilter;
    Scratch() = default;
    hs_scratch* scratch_ = nullptr;
  };

  // One prefilter for patterns[0..n): slot i of every result refers to patterns[i].
  static std::unique_ptr<Prefilter> build(const std::vector<const Pattern*>& patterns,
                                          std::string& error);
  ~Prefilter();

  std::unique_ptr<Scratch> make_scratch() const;

  // Appends every hit in `text` to `hits`, ordered by end offset. Texts longer than 4 GiB
  // are not supported (the decoder's limits keep files far below that).
  bool scan(std::string_view text, Scratch& scratch, std::vector<Hit>& hits) const;

  // Slots that must always be evaluated (their patterns have no usable literal).
  const std::vector<uint32_t>& always() const { return always_; }
  // What a hit on `literal` satisfies (empty for escape triggers).
  const std::vector<Target>& targets(uint32_t literal) const { return literal_targets_[literal]; }
  // Bit mask with one bit per clause registered for `slot` (0 for slots in always()).
  uint32_t full_mask(uint32_t slot) const { return full_masks_[slot]; }
  uint32_t literal_length(uint32_t literal) const { return literal_lengths_[literal]; }
  // A hit on an escape trigger (\u or \/) makes every slot with a JSON requirement a candidate.
  bool is_escape(uint32_t literal) const { return literal < kEscapeLiterals; }
  const std::vector<uint32_t>& json_slots() const { return json_slots_; }
  size_t slot_count() const { return slot_count_; }

 private:
  static constexpr uint32_t kEscapeLiterals = 2;
  Prefilter() = default;
  hs_database* db_ = nullptr;
  std::vector<uint32_t> always_;
  std::vector<uint32_t> json_slots_;
  std::vector<std::vector<Target>> literal_targets_;
  std::vector<uint32_t> full_masks_;
  std::vector<uint32_t> literal_lengths_;
  size_t slot_count_ = 0;
};

}  // namespace trailwarden::rules
