#include "agent/normalize/ocsf_parts.h"

#include "agent/common/json_writer.h"

namespace trailwarden {

void write_ocsf_account(JsonWriter& w, std::string_view uid) {
  w.key("account").begin_object();
  w.field("uid", uid).field("type", "AWS Account").field("type_id", 10);
  w.end_object();
}

void write_ocsf_product(JsonWriter& w) {
  w.key("product").begin_object();
  w.field("name", "trailwarden").field("vendor_name", "trailwarden");
  w.field("version", TRAILWARDEN_VERSION);
  w.end_object();
  w.key("profiles").begin_array().value("cloud").value("datetime").end_array();
  w.field("log_provider", "AWS CloudTrail");
}

void write_ocsf_labels(JsonWriter& w, const std::vector<std::string>& tags) {
  if (tags.empty()) return;
  w.key("labels").begin_array();
  for (const auto& t : tags) w.value(std::string_view(t));
  w.end_array();
}

}  // namespace trailwarden
