#include "agent/kafka/client.h"

#include <fmt/format.h>

namespace trailwarden {

rd_kafka_t* create_kafka_client(rd_kafka_type_t type, rd_kafka_conf_t* conf,
                                KafkaTokenRefreshCallback token_refresh, std::string& error) {
  if (token_refresh) {
    rd_kafka_conf_set_oauthbearer_token_refresh_cb(conf, token_refresh);
    rd_kafka_conf_enable_sasl_queue(conf, 1);
  }
  const char* what = type == RD_KAFKA_PRODUCER ? "producer" : "consumer";
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(type, conf, errstr, sizeof errstr);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    error = fmt::format("cannot create the Kafka {}: {}", what, errstr);
    return nullptr;
  }
  if (token_refresh) {
    if (rd_kafka_error_t* e = rd_kafka_sasl_background_callbacks_enable(rk)) {
      error = fmt::format("cannot start MSK IAM token refresh: {}", rd_kafka_error_string(e));
      rd_kafka_error_destroy(e);
      rd_kafka_destroy(rk);
      return nullptr;
    }
  }
  return rk;
}

}  // namespace trailwarden
