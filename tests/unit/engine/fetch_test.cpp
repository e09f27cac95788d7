// ObjectFetcher with metadata (for a stage that checks objects): read with GetObject's metadata
// when asked, with the same retries and the same URL-decoded fallback; plain reads otherwise.
#include "agent/engine/fetch.h"

#include <doctest/doctest.h>

#include <atomic>

#include "tests/fakes/fake_object_store.h"

using namespace trailwarden;
using namespace std::chrono_literals;
using trailwarden::testing::FakeStore;

namespace {

// Counts the reads that asked for metadata.
struct CountingStore final : FakeStore {
  std::atomic<int> with_metadata{0};
  RemoteStatus get_with_metadata(const ObjectRef& o, size_t max_bytes, Buffer& out,
                                 ObjectMetadata& meta,
                                 const std::atomic<bool>* cancel = nullptr) override {
    ++with_metadata;
    return FakeStore::get_with_metadata(o, max_bytes, out, meta, cancel);
  }
};

FetchOptions quick() {
  FetchOptions o;
  o.retry_base = 1ms;
  o.retry_max = 2ms;
  return o;
}

ObjectRef ref(const std::string& key, const std::string& alternate = {}) {
  ObjectRef o;
  o.bucket = "b";
  o.key = key;
  o.alternate_key = alternate;
  return o;
}

}  // namespace

TEST_CASE("fetch with metadata: retried like a plain read, the metadata of the read that "
          "succeeded") {
  CountingStore store;
  store.objects["b/d.json.gz"] = "digest";
  store.metadata["b/d.json.gz"].user = {{"signature", "abcd"}};
  store.transient_failures["b/d.json.gz"] = 2;
  ObjectFetcher fetcher(store, quick());
  std::mt19937 rng(1);
  Buffer out;
  ObjectMetadata meta;
  meta.etag = "left over";
  const FetchOutcome f = fetcher.fetch(ref("d.json.gz"), out, rng, &meta);
  REQUIRE(f.status.ok());
  CHECK(out.view() == "digest");
  CHECK(store.with_metadata == 3);
  CHECK(fetcher.counters().fetch_retries == 2);
  REQUIRE(meta.find("signature"));
  CHECK(*meta.find("signature") == "abcd");
  CHECK(meta.etag.empty());  // replaced, not merged
}

TEST_CASE("fetch with metadata: the URL-decoded key's metadata when that is the key read") {
  CountingStore store;
  store.objects["b/a b.json.gz"] = "x";
  store.metadata["b/a b.json.gz"].etag = "etag-decoded";
  ObjectFetcher fetcher(store, quick());
  std::mt19937 rng(1);
  Buffer out;
  ObjectMetadata meta;
  const FetchOutcome f = fetcher.fetch(ref("a+b.json.gz", "a b.json.gz"), out, rng, &meta);
  REQUIRE(f.status.ok());
  CHECK(f.read.key == "a b.json.gz");
  CHECK(meta.etag == "etag-decoded");
  CHECK(store.with_metadata == 2);
}

TEST_CASE("fetch without metadata: plain reads only") {
  CountingStore store;
  store.objects["b/a.json.gz"] = "x";
  store.transient_failures["b/a.json.gz"] = 1;
  ObjectFetcher fetcher(store, quick());
  std::mt19937 rng(1);
  Buffer out;
  REQUIRE(fetcher.fetch(ref("a.json.gz"), out, rng).status.ok());
  CHECK(store.with_metadata == 0);
  CHECK(store.gets.size() == 2);
}
