// StageChain: several stages in the engine's slot, in order — what each wants, who sees whose
// alerts, the first error stopping the chain, tick/finish/delivered reaching every stage.
#include "agent/engine/stage_chain.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

using namespace trailwarden;

namespace {

AlertRecord alert(const std::string& uid) {
  AlertRecord a;
  a.uid = uid;
  return a;
}

// Records each call in a shared log as "<name>.<call>", and what it saw; adds one alert named
// after itself in process/tick/finish; fails process when `error` is set.
struct Step final : Stage {
  std::string name;
  std::vector<std::string>& log;
  bool events = false, identity = false, objects = false;
  std::string error;
  std::vector<std::string> seen;  // uids of the alerts process() was given
  std::vector<std::string> delivered_uids;
  Step(std::string n, std::vector<std::string>& l) : name(std::move(n)), log(l) {}
  bool wants_event_times() const override { return events; }
  bool wants_unit_identity() const override { return identity; }
  bool wants_objects() const override { return objects; }
  std::string process(StageUnit& u) override {
    log.push_back(name + ".process");
    for (const auto& a : u.alerts) seen.push_back(a.uid);
    if (!error.empty()) return error;
    u.alerts.push_back(alert(name));
    return {};
  }
  void tick(Clock::Wall, std::vector<AlertRecord>& out) override {
    log.push_back(name + ".tick");
    out.push_back(alert(name + "-tick"));
  }
  void finish(std::vector<AlertRecord>& out) override {
    log.push_back(name + ".finish");
    out.push_back(alert(name + "-finish"));
  }
  void delivered(const std::vector<AlertRecord>& alerts) override {
    log.push_back(name + ".delivered");
    for (const auto& a : alerts) delivered_uids.push_back(a.uid);
  }
};

std::vector<std::string> uids(const std::vector<AlertRecord>& alerts) {
  std::vector<std::string> out;
  for (const auto& a : alerts) out.push_back(a.uid);
  return out;
}

}  // namespace

TEST_CASE("StageChain wants what any of its stages wants") {
  std::vector<std::string> log;
  Step a("a", log), b("b", log);
  StageChain chain({&a, &b});
  CHECK_FALSE(chain.wants_event_times());
  CHECK_FALSE(chain.wants_unit_identity());
  CHECK_FALSE(chain.wants_objects());
  b.events = true;
  CHECK(chain.wants_event_times());
  a.identity = true;
  CHECK(chain.wants_unit_identity());
  b.objects = true;
  CHECK(chain.wants_objects());
  CHECK_FALSE(StageChain({}).wants_objects());
}

TEST_CASE("StageChain: stages process in order; a later stage sees the alerts the earlier ones "
          "added") {
  std::vector<std::string> log;
  Step a("a", log), b("b", log);
  StageChain chain({&a, nullptr, &b});
  CHECK(chain.size() == 2);
  std::vector<AlertRecord> alerts{alert("record")};
  const std::vector<int64_t> slots;
  StageUnit unit{alerts, slots};
  CHECK(chain.process(unit).empty());
  CHECK(log == std::vector<std::string>{"a.process", "b.process"});
  CHECK(a.seen == std::vector<std::string>{"record"});
  CHECK(b.seen == std::vector<std::string>{"record", "a"});
  CHECK(uids(alerts) == std::vector<std::string>{"record", "a", "b"});
}

TEST_CASE("StageChain: the first error stops the chain and is returned") {
  std::vector<std::string> log;
  Step a("a", log), b("b", log), c("c", log);
  b.error = "the state cannot be saved";
  c.error = "never seen";
  StageChain chain({&a, &b, &c});
  std::vector<AlertRecord> alerts;
  const std::vector<int64_t> slots;
  StageUnit unit{alerts, slots};
  CHECK(chain.process(unit) == "the state cannot be saved");
  CHECK(log == std::vector<std::string>{"a.process", "b.process"});
  CHECK(c.seen.empty());
}

TEST_CASE("StageChain: tick and finish append each stage's alerts in order; delivered reaches "
          "every stage with all of them") {
  std::vector<std::string> log;
  Step a("a", log), b("b", log);
  StageChain chain({&a, &b});
  std::vector<AlertRecord> out{alert("before")};
  chain.tick(Clock::Wall{}, out);
  CHECK(uids(out) == std::vector<std::string>{"before", "a-tick", "b-tick"});
  out.clear();
  chain.finish(out);
  CHECK(uids(out) == std::vector<std::string>{"a-finish", "b-finish"});
  chain.delivered(out);
  CHECK(a.delivered_uids == std::vector<std::string>{"a-finish", "b-finish"});
  CHECK(b.delivered_uids == a.delivered_uids);
  CHECK(log == std::vector<std::string>{"a.tick", "b.tick", "a.finish", "b.finish",
                                        "a.delivered", "b.delivered"});
}
