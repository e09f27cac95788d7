// The notification CloudWatch publishes to SNS when a metric alarm changes state, so that
// subscribers written for CloudWatch alarms (e-mail, chat integrations, paging services,
// Lambdas) read ours unchanged. A pure encoder: the alarm engine fills a CloudWatchAlarmChange
// and the SNS output publishes the Subject and Message made here.
//
// Message: one line of JSON with CloudWatch's members, in its order and types:
//   {"AlarmName":..,"AlarmDescription":..|null,"AWSAccountId":..,
//    "AlarmConfigurationUpdatedTimestamp":..,"NewStateValue":..,"NewStateReason":..,
//    "StateChangeTime":..,"Region":"US East (N. Virginia)","AlarmArn":..,"OldStateValue":..,
//    "OKActions":[..],"AlarmActions":[..],"InsufficientDataActions":[..],
//    "Trigger":{"MetricName":..,"Namespace":..,"StatisticType":"Statistic","Statistic":"SUM",
//      "Unit":..|null,"Dimensions":[{"value":..,"name":..}],"Period":300,"EvaluationPeriods":1,
//      "DatapointsToAlarm":1,"ComparisonOperator":..,"Threshold":1.0,"TreatMissingData":..,
//      "EvaluateLowSampleCountPercentile":""}}
// Timestamps as "2026-12-04T10:05:00.000+0000" (UTC, milliseconds); the statistic upper-case
// with underscores (SampleCount -> SAMPLE_COUNT); the threshold always with a fraction (1.0);
// Region the region's long name as CloudWatch writes it (the code itself for a region it does
// not know).
// Subject: `ALARM: "<AlarmName>" in <Region long name>` (OK: / INSUFFICIENT_DATA:), made
// SNS-safe (sns_message.h: ASCII, <= 100 characters).
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agent/core/alert_record.h"
#include "outputs/sns/sns_config.h"
#include "outputs/sns/sns_message.h"

namespace trailwarden {

struct CloudWatchAlarmChange {
  std::string alarm_name;
  std::string alarm_description;  // "": null
  std::string account_id;         // AWSAccountId
  int64_t configuration_updated_ms = 0;  // AlarmConfigurationUpdatedTimestamp
  std::string new_state;          // "OK" | "ALARM" | "INSUFFICIENT_DATA"
  std::string new_state_reason;
  int64_t state_change_ms = 0;    // StateChangeTime
  std::string region;             // region code ("us-east-1"); the message has its long name
  std::string alarm_arn;          // "": arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>
  std::string old_state;
  std::vector<std::string> ok_actions, alarm_actions, insufficient_data_actions;
  struct Dimension {
    std::string name, value;
  };
  struct Trigger {
    std::string metric_name;
    std::string metric_namespace;
    std::string statistic = "Sum";  // SampleCount | Sum | Average | Minimum | Maximum
    std::string unit;               // "": null
    std::vector<Dimension> dimensions;
    int64_t period = 300;
    int64_t evaluation_periods = 1;
    int64_t datapoints_to_alarm = 1;
    std::string comparison_operator = "GreaterThanOrEqualToThreshold";
    double threshold = 1.0;
    std::string treat_missing_data = "missing";
    std::string evaluate_low_sample_count_percentile;
  } trigger;
};

// The JSON message (see above).
std::string cloudwatch_alarm_message(const CloudWatchAlarmChange& change);
// `NEW_STATE: "name" in Region long name`, SNS-safe.
std::string cloudwatch_alarm_subject(const CloudWatchAlarmChange& change);

// The SNS entry of an alarm change for a topic: CloudWatch's Subject and Message, String
// attributes AlarmName, NewStateValue and OldStateValue (for filter policies), and for FIFO
// topics MessageGroupId = the alarm name and MessageDeduplicationId = SHA-256 of alarm ARN, new
// state and StateChangeTime (a transition published twice is delivered once).
SnsEntry make_sns_alarm_entry(const CloudWatchAlarmChange& change, const SnsOptions& options);

// The change an alarm transition alert carries (AlertRecord::kind kAlarm, AlertRecord::alarm:
// agent/normalize/alarm_finding.h writes it). AlarmConfigurationUpdatedTimestamp is the state
// change time (the agent does not know when the rule file changed). false with `error` when
// the alert is not an alarm transition or its `alarm` is not such an object.
bool alarm_change_from_alert(const AlertRecord& alert, CloudWatchAlarmChange& change,
                             std::string& error);

// "US East (N. Virginia)" for "us-east-1", "EU (Ireland)" for "eu-west-1" ...; the code itself
// when unknown.
std::string_view cloudwatch_region_long_name(std::string_view region);
// "2026-12-04T10:05:00.000+0000" (UTC).
std::string cloudwatch_timestamp(int64_t epoch_ms);
// "SUM", "SAMPLE_COUNT", "AVERAGE", "MINIMUM", "MAXIMUM"; others upper-cased.
std::string cloudwatch_statistic(std::string_view statistic);
// A number as CloudWatch writes thresholds: always with a fraction ("1.0", "0.004", "580.0").
std::string cloudwatch_number(double value);

}  // namespace trailwarden
