#include "agent/integrity/file_public_keys.h"

#include <chrono>
#include <fstream>
#include <sstream>

#include <simdjson.h>

#include "agent/aws/base64.h"
#include "agent/aws/time_util.h"

namespace trailwarden::integrity {
namespace {

bool read_time(simdjson::dom::element e, int64_t& out) {
  double d = 0;
  int64_t i = 0;
  std::string_view s;
  if (e.get_int64().get(i) == simdjson::SUCCESS) {
    out = i;
    return true;
  }
  if (e.get_double().get(d) == simdjson::SUCCESS) {
    out = static_cast<int64_t>(d);
    return true;
  }
  aws::TimePoint t;
  if (e.get_string().get(s) == simdjson::SUCCESS && aws::parse_iso8601(s, t)) {
    out = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
    return true;
  }
  return false;
}

bool read_list(simdjson::dom::element list, const std::string& where,
               std::vector<TrailPublicKey>& out, std::string& error) {
  simdjson::dom::array a;
  if (list.get_array().get(a) != simdjson::SUCCESS) {
    error = where + ": not a list of keys";
    return false;
  }
  size_t i = 0;
  for (simdjson::dom::element k : a) {
    const std::string at = where + "[" + std::to_string(i++) + "]";
    std::string_view value, fingerprint;
    simdjson::dom::element from, until;
    TrailPublicKey key;
    if (k["Value"].get_string().get(value) != simdjson::SUCCESS ||
        !aws::base64_decode(value, key.der)) {
      error = at + ".Value: missing or not base64";
      return false;
    }
    if (k["Fingerprint"].get_string().get(fingerprint) != simdjson::SUCCESS) {
      error = at + ".Fingerprint: missing";
      return false;
    }
    key.fingerprint = std::string(fingerprint);
    if (k["ValidityStartTime"].get(from) != simdjson::SUCCESS || !read_time(from, key.valid_from) ||
        k["ValidityEndTime"].get(until) != simdjson::SUCCESS || !read_time(until, key.valid_until)) {
      error = at + ": ValidityStartTime/ValidityEndTime missing or not a time";
      return false;
    }
    out.push_back(std::move(key));
  }
  return true;
}

}  // namespace

bool FilePublicKeys::load(const std::string& path, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "cannot read " + path;
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  const std::string json = text.str();
  if (json.size() > (size_t{16} << 20)) {
    error = path + ": larger than 16 MiB";
    return false;
  }
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (parser.parse(json).get_object().get(root) != simdjson::SUCCESS) {
    error = path + ": not a JSON object";
    return false;
  }
  for (auto [field, value] : root) {
    const std::string name(field);
    if (name == "PublicKeyList") {
      if (!read_list(value, path + ": PublicKeyList", any_region_, error)) return false;
    } else if (!read_list(value, path + ": " + name, by_region_[name], error)) {
      return false;
    }
  }
  return true;
}

RemoteStatus FilePublicKeys::list_public_keys(const std::string& region, int64_t start, int64_t end,
                                              std::vector<TrailPublicKey>& out,
                                              const std::atomic<bool>*) {
  out.clear();
  auto add = [&](const std::vector<TrailPublicKey>& keys) {
    for (const TrailPublicKey& k : keys)
      if (k.valid_from <= end && k.valid_until >= start) out.push_back(k);
  };
  add(any_region_);
  if (auto it = by_region_.find(region); it != by_region_.end()) add(it->second);
  return {};
}

}  // namespace trailwarden::integrity
