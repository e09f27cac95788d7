#include "agent/normalize/observables.h"

#include "agent/common/json_writer.h"

namespace trailwarden::normalize {

std::string_view observable_caption(ObservableType type) {
  switch (type) {
    case ObservableType::kIpAddress:
      return "IP Address";
    case ObservableType::kUserName:
      return "User Name";
    case ObservableType::kResourceUid:
      return "Resource UID";
    case ObservableType::kUserAgent:
      return "HTTP User-Agent";
    case ObservableType::kCredentialUid:
      return "User Credential ID";
    case ObservableType::kUserUid:
      return "User Object: uid";
    case ObservableType::kAccountUid:
      return "Account Object: uid";
    case ObservableType::kResourceName:
      return "Resource Details Object: name";
    case ObservableType::kOther:
      return "Other";
  }
  return "Other";
}

void Observables::add(std::string name, ObservableType type, std::string_view value) {
  if (value.empty() || items_.size() >= kMaxObservables) return;
  for (const Item& i : items_)
    if (i.name == name) return;
  items_.push_back({std::move(name), type, std::string(value)});
}

void Observables::write(JsonWriter& w) const {
  if (items_.empty()) return;
  w.key("observables").begin_array();
  for (const Item& i : items_) {
    w.begin_object();
    w.field("name", std::string_view(i.name));
    w.field("type_id", static_cast<int>(i.type)).field("type", observable_caption(i.type));
    w.field("value", std::string_view(i.value));
    w.end_object();
  }
  w.end_array();
}

}  // namespace trailwarden::normalize
