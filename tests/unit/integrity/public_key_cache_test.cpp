// PublicKeyCache under concurrency: a ListPublicKeys call that hangs (a fake directory whose
// fetch for a region blocks until the test opens its gate) holds up only the callers that need
// its answer; one fetch at a time per region; the pause after a failure; region names not
// shaped like one are never asked.
#include <doctest/doctest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "agent/integrity/public_key_cache.h"
#include "tests/unit/integrity/test_trail.h"

using namespace trailwarden;
using namespace trailwarden::integrity;

namespace {

using test::key1;
using test::key2;
using Lookup = PublicKeyCache::Lookup;

constexpr auto kPrompt = std::chrono::seconds(10);  // what "at once" may take on a busy machine

// ListPublicKeys: key1 for ranges starting before 1000, key2 for ranges ending at or after 1000
// (a key rotation at 1000). A fetch in a gated region blocks until open(); a failing region
// answers "CloudTrail did not answer".
class GatedDirectory : public PublicKeyDirectory {
 public:
  RemoteStatus list_public_keys(const std::string& region, int64_t start, int64_t end,
                                std::vector<TrailPublicKey>& out,
                                const std::atomic<bool>*) override {
    std::unique_lock<std::mutex> l(mu_);
    ++calls_[region];
    max_in_flight_[region] = std::max(max_in_flight_[region], ++in_flight_[region]);
    changed_.notify_all();
    changed_.wait(l, [&] { return !gated_.count(region); });
    --in_flight_[region];
    if (failing_.count(region)) return {RemoteStatus::Code::kRetry, "CloudTrail did not answer"};
    if (start < 1000) out.push_back({key1().pkcs1, 0, 1000, key1().fingerprint});
    if (end >= 1000) out.push_back({key2().pkcs1, 1000, 1893456000, key2().fingerprint});
    return {};
  }
  void gate(const std::string& region) {
    std::lock_guard<std::mutex> l(mu_);
    gated_.insert(region);
  }
  void fail(const std::string& region) {
    std::lock_guard<std::mutex> l(mu_);
    failing_.insert(region);
  }
  void open_all() {
    std::lock_guard<std::mutex> l(mu_);
    gated_.clear();
    changed_.notify_all();
  }
  // Waits (bounded) until `region` has been asked `n` times.
  bool wait_calls(const std::string& region, int n) {
    std::unique_lock<std::mutex> l(mu_);
    return changed_.wait_for(l, kPrompt, [&] { return calls_[region] >= n; });
  }
  int calls(const std::string& region) {
    std::lock_guard<std::mutex> l(mu_);
    return calls_[region];
  }
  int total_calls() {
    std::lock_guard<std::mutex> l(mu_);
    int n = 0;
    for (const auto& [r, c] : calls_) n += c;
    return n;
  }
  int max_in_flight(const std::string& region) {
    std::lock_guard<std::mutex> l(mu_);
    return max_in_flight_[region];
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::set<std::string> gated_, failing_;
  std::map<std::string, int> calls_, in_flight_, max_in_flight_;
};

// Opens every gate when the scope ends (declared after the futures: a failed REQUIRE must not
// leave a future's destructor waiting on a gate forever).
struct OpenAtEnd {
  GatedDirectory& d;
  ~OpenAtEnd() { d.open_all(); }
};

struct Answer {
  Lookup lookup = Lookup::kUnavailable;
  std::shared_ptr<const PublicKey> key;
  std::string error;
};

std::future<Answer> find_async(PublicKeyCache& cache, std::string region, std::string fingerprint,
                               int64_t start, int64_t end) {
  return std::async(std::launch::async, [&cache, region, fingerprint, start, end] {
    Answer a;
    a.lookup = cache.find(region, fingerprint, start, end, a.key, a.error);
    return a;
  });
}

std::future<Answer> prefetch_async(PublicKeyCache& cache, std::string region, int64_t start,
                                   int64_t end) {
  return std::async(std::launch::async, [&cache, region, start, end] {
    Answer a;
    a.lookup = cache.prefetch(region, start, end, a.error);
    return a;
  });
}

bool ready(std::future<Answer>& f) { return f.wait_for(kPrompt) == std::future_status::ready; }

// Waits (bounded) until `n` callers wait for a fetch in flight; the cache tells when one does,
// not by an event, so this spins (as clock_test does on ManualClock::waiters()).
bool waiting(const PublicKeyCache& cache, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + kPrompt;
  while (cache.waiting() < n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return cache.waiting() == n;
}

}  // namespace

TEST_CASE("PublicKeyCache: a ListPublicKeys call that hangs holds up no other region and no cache hit") {
  GatedDirectory dir;
  PublicKeyCache cache(dir);
  std::string error;
  REQUIRE(cache.prefetch("eu-west-1", 0, 100, error) == Lookup::kFound);
  REQUIRE(cache.prefetch("us-east-1", 0, 100, error) == Lookup::kFound);

  std::future<Answer> hung, cached_other, uncached_other, hit_same, covered_same;
  OpenAtEnd open{dir};
  dir.gate("us-east-1");
  hung = find_async(cache, "us-east-1", key2().fingerprint, 1000, 2000);
  REQUIRE(dir.wait_calls("us-east-1", 2));  // blocked in ListPublicKeys now

  cached_other = find_async(cache, "eu-west-1", key1().fingerprint, 0, 100);
  CHECK_MESSAGE(ready(cached_other), "a cache hit of another region waited for the fetch");
  uncached_other = find_async(cache, "ap-south-1", key1().fingerprint, 0, 100);
  CHECK_MESSAGE(ready(uncached_other), "a fetch in another region waited for the fetch");
  hit_same = find_async(cache, "us-east-1", key1().fingerprint, 1500, 1600);
  CHECK_MESSAGE(ready(hit_same), "a key already kept waited for its region's fetch");
  covered_same = find_async(cache, "us-east-1", "00112233445566778899aabbccddeeff", 10, 90);
  CHECK_MESSAGE(ready(covered_same), "a range already fetched waited for its region's fetch");
  CHECK(dir.calls("ap-south-1") == 1);
  CHECK(dir.calls("us-east-1") == 2);  // the hung fetch only

  dir.open_all();
  const Answer h = hung.get();
  CHECK(h.lookup == Lookup::kFound);
  CHECK(h.key->fingerprint() == key2().fingerprint);
  CHECK(cached_other.get().lookup == Lookup::kFound);
  const Answer u = uncached_other.get();
  CHECK(u.lookup == Lookup::kFound);
  CHECK(u.key->fingerprint() == key1().fingerprint);
  CHECK(hit_same.get().lookup == Lookup::kFound);
  CHECK(covered_same.get().lookup == Lookup::kNotFound);
  CHECK(cache.requests() == 4);
}

TEST_CASE("PublicKeyCache: concurrent lookups of one range of a region make one ListPublicKeys call") {
  GatedDirectory dir;
  PublicKeyCache cache(dir);
  std::future<Answer> first, second, third;
  OpenAtEnd open{dir};
  dir.gate("us-east-1");
  first = find_async(cache, "us-east-1", key2().fingerprint, 1000, 2000);
  REQUIRE(dir.wait_calls("us-east-1", 1));
  second = find_async(cache, "us-east-1", key2().fingerprint, 1000, 2000);
  third = prefetch_async(cache, "us-east-1", 1200, 1500);  // inside the range in flight
  REQUIRE_MESSAGE(waiting(cache, 2), "the second and third lookups did not wait for the fetch");
  CHECK(dir.calls("us-east-1") == 1);

  dir.open_all();
  const Answer a = first.get(), b = second.get(), c = third.get();
  CHECK(a.lookup == Lookup::kFound);
  CHECK(b.lookup == Lookup::kFound);
  CHECK(c.lookup == Lookup::kFound);
  CHECK(a.key == b.key);  // the same key object, kept once
  CHECK(dir.calls("us-east-1") == 1);
  CHECK(cache.requests() == 1);
  CHECK(cache.waiting() == 0);
}

TEST_CASE("PublicKeyCache: one fetch at a time per region; a range the fetch in flight missed is fetched after it") {
  GatedDirectory dir;
  PublicKeyCache cache(dir);
  std::future<Answer> first, second;
  OpenAtEnd open{dir};
  dir.gate("us-east-1");
  first = find_async(cache, "us-east-1", key1().fingerprint, 0, 100);
  REQUIRE(dir.wait_calls("us-east-1", 1));
  second = find_async(cache, "us-east-1", key2().fingerprint, 1000, 2000);
  REQUIRE_MESSAGE(waiting(cache, 1), "the second lookup did not wait for the region's fetch");
  CHECK(dir.calls("us-east-1") == 1);

  dir.open_all();
  const Answer a = first.get(), b = second.get();
  CHECK(a.lookup == Lookup::kFound);
  CHECK(a.key->fingerprint() == key1().fingerprint);
  CHECK(b.lookup == Lookup::kFound);
  CHECK(b.key->fingerprint() == key2().fingerprint);
  CHECK(dir.calls("us-east-1") == 2);
  CHECK(dir.max_in_flight("us-east-1") == 1);
}

TEST_CASE("PublicKeyCache: the pause after a failure is per region, answered at once, and a failure waited for is the waiters' answer") {
  SUBCASE("a region in its pause is answered while another region's fetch hangs") {
    GatedDirectory dir;
    PublicKeyCache cache(dir, std::chrono::seconds(60));
    dir.fail("eu-west-1");
    std::shared_ptr<const PublicKey> key;
    std::string error;
    REQUIRE(cache.find("eu-west-1", key1().fingerprint, 0, 100, key, error) == Lookup::kUnavailable);
    CHECK(error == "ListPublicKeys in eu-west-1: CloudTrail did not answer");

    std::future<Answer> hung, paused;
    OpenAtEnd open{dir};
    dir.gate("us-east-1");
    hung = find_async(cache, "us-east-1", key1().fingerprint, 0, 100);
    REQUIRE(dir.wait_calls("us-east-1", 1));
    paused = find_async(cache, "eu-west-1", key2().fingerprint, 1000, 2000);
    CHECK_MESSAGE(ready(paused), "a region in its pause waited for another region's fetch");
    dir.open_all();
    const Answer p = paused.get();
    CHECK(p.lookup == Lookup::kUnavailable);
    CHECK(p.error == "ListPublicKeys in eu-west-1: CloudTrail did not answer");
    CHECK(dir.calls("eu-west-1") == 1);  // not asked again in its pause
    CHECK(hung.get().lookup == Lookup::kFound);  // the other region's pause is its own
  }
  SUBCASE("without a pause (retry_after 0), callers waiting for a failed fetch share its failure") {
    GatedDirectory dir;
    PublicKeyCache cache(dir, std::chrono::seconds(0));
    dir.fail("us-east-1");
    std::future<Answer> first, second;
    OpenAtEnd open{dir};
    dir.gate("us-east-1");
    first = find_async(cache, "us-east-1", key1().fingerprint, 0, 100);
    REQUIRE(dir.wait_calls("us-east-1", 1));
    second = find_async(cache, "us-east-1", key1().fingerprint, 0, 100);
    REQUIRE_MESSAGE(waiting(cache, 1), "the second lookup did not wait for the fetch");
    dir.open_all();
    const Answer a = first.get(), b = second.get();
    CHECK(a.lookup == Lookup::kUnavailable);
    CHECK(b.lookup == Lookup::kUnavailable);
    CHECK(b.error == "ListPublicKeys in us-east-1: CloudTrail did not answer");
    CHECK(dir.calls("us-east-1") == 1);
    // A later lookup asks again: there is no pause.
    std::shared_ptr<const PublicKey> key;
    std::string error;
    CHECK(cache.find("us-east-1", key1().fingerprint, 0, 100, key, error) == Lookup::kUnavailable);
    CHECK(dir.calls("us-east-1") == 2);
  }
}

TEST_CASE("PublicKeyCache: a region name not shaped like one is not found, without a request") {
  GatedDirectory dir;
  PublicKeyCache cache(dir);
  const std::string too_long = "ab-" + std::string(28, 'c') + "-1";  // 33 characters
  for (const std::string& forged :
       {std::string(), std::string("xx"), std::string("US-EAST-1"), std::string("us-east-1 "),
        std::string("us-east-1.attacker.example"), std::string("us-east-1/../x"),
        std::string("us-east-1:443"), std::string("us-east-1\n"), std::string("us-east-123"),
        too_long}) {
    CAPTURE(forged);
    std::shared_ptr<const PublicKey> key;
    std::string error;
    CHECK(cache.find(forged, key1().fingerprint, 0, 100, key, error) == Lookup::kNotFound);
    CHECK(key == nullptr);
    CHECK(error.find("is not an AWS region name") != std::string::npos);
    error.clear();
    CHECK(cache.prefetch(forged, 0, 100, error) == Lookup::kNotFound);
    CHECK(error.find("is not an AWS region name") != std::string::npos);
  }
  std::string error;
  CHECK(cache.prefetch("US-EAST-1", 0, 100, error) == Lookup::kNotFound);
  CHECK(error == "ListPublicKeys not asked: \"US-EAST-1\" is not an AWS region name");
  CHECK(cache.prefetch(std::string("us-east-1\x1b[2J", 13), 0, 100, error) == Lookup::kNotFound);
  CHECK(error == "ListPublicKeys not asked: \"us-east-1?[2J\" is not an AWS region name");
  CHECK(dir.total_calls() == 0);
  CHECK(cache.requests() == 0);

  // Shaped like regions: asked (one of them, 32 characters, the longest allowed).
  for (const std::string& region :
       {std::string("us-gov-west-1"), std::string("cn-north-1"), std::string("eu-isoe-west-1"),
        "ab-" + std::string(27, 'c') + "-1"}) {
    CAPTURE(region);
    CHECK(cache.prefetch(region, 0, 100, error) == Lookup::kFound);
    CHECK(dir.calls(region) == 1);
  }
}
