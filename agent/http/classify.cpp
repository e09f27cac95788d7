#include "agent/http/classify.h"

namespace trailwarden::http {

Retryability classify_status(int status) {
  if (status == 0) return {true, "no response"};
  if (status < 200) return {true, "no final response"};
  if (status == 408) return {true, "request timeout"};
  if (status == 429) return {true, "throttled"};
  if (status >= 500) return {true, "server error"};
  if (status < 300) return {false, "success"};
  if (status < 400) return {false, "redirect"};
  return {false, "refused"};
}

Retryability classify(const HttpResponse& response) {
  if (!response.error.empty()) return {true, "no response"};
  return classify_status(response.status);
}

}  // namespace trailwarden::http
