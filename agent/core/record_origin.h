// RecordOrigin: where a matched record came from, as the source that read it says. Every layer
// that handles records carries it (sources set it, the normalizer turns it into the finding's
// uid trust domain and route fields, outputs print it), so it lives here, below them all.
#pragma once

#include <cstdint>
#include <string>

namespace trailwarden {

// Where a matched record came from. It decides the finding uid's trust domain and what the
// alert says about its route (docs/alerts.md, "Route and trust").
struct RecordOrigin {
  enum class Route {
    kLocalFile,    // replay: a file the operator named; nothing is added to the alert
    kS3Object,     // run: read from an object of an allowed bucket: authoritative
    kInlineEvent,  // run: a CloudTrail record inside an EventBridge event on the queue: unverified
    kKafka,        // run: a message of a Kafka topic (written by whoever may produce to it):
                   // unverified, hashed in the same domain as inline events
  };
  Route route = Route::kLocalFile;
  std::string notification;  // how the notification arrived ("sns/s3", "eventbridge/cloudtrail")
  std::string message_id;    // the SQS message id
  // kS3Object
  std::string bucket;
  std::string key;
  // kLocalFile: the file's path as the operator named it (metadata.log_name); may be empty
  std::string path;
  // kInlineEvent: what the EventBridge envelope claims
  std::string event_id;  // EventBridge event id
  std::string source;    // "aws.config"
  std::string account;
  std::string region;
  // kKafka: where the message is (its unit name is "kafka://topic/partition@offset")
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
};

}  // namespace trailwarden
