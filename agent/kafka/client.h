// Creating a librdkafka client, the same way for every Kafka client of the agent (the Kafka
// output's producer, the Kafka source's consumer): the handle from a finished configuration and,
// with MSK IAM, the OAUTHBEARER token refresh served on librdkafka's background thread, so that
// tokens stay fresh however rarely the client polls. Thread-safe (no shared state).
#pragma once

#include <librdkafka/rdkafka.h>

#include <string>

namespace trailwarden {

using KafkaTokenRefreshCallback = void (*)(rd_kafka_t* rk, const char* oauthbearer_config,
                                           void* opaque);

// Creates a client of `type` from `conf`, which it takes in every case (used by the client, or
// destroyed). `token_refresh`: MSK IAM's callback, or nullptr without MSK IAM. Returns nullptr
// with `error` ("cannot create the Kafka producer: ...") on failure; the caller removes secrets
// from the text before showing it.
rd_kafka_t* create_kafka_client(rd_kafka_type_t type, rd_kafka_conf_t* conf,
                                KafkaTokenRefreshCallback token_refresh, std::string& error);

}  // namespace trailwarden
