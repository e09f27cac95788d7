#include "outputs/kafka/kafka_output.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "agent/http/http.h"
#include "agent/kafka/client.h"

namespace trailwarden {

namespace {

using Clock = std::chrono::steady_clock;
using Status = DeliveryResult::Status;

constexpr std::chrono::milliseconds kPollSlice{100};

bool is_auth_error(rd_kafka_resp_err_t err) {
  switch (err) {
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return true;
    default:
      return false;
  }
}

}  // namespace

KafkaErrorClass classify_kafka_error(rd_kafka_resp_err_t err) {
  switch (err) {
    // The message itself is unacceptable: sending it again cannot help.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_INVALID_TIMESTAMP:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
      return KafkaErrorClass::kReject;
    // Nothing will get through until an operator acts (credentials, ACLs, topic, cluster
    // version or configuration).
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_COMPRESSION_TYPE:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__SSL:
      return KafkaErrorClass::kFatal;
    // Everything else is transient: timeouts, transport, leader changes, not enough replicas,
    // full local queue, purged messages, producer fencing (the producer is recreated).
    default:
      return KafkaErrorClass::kRetry;
  }
}

KafkaOutput::KafkaOutput(std::string name, KafkaOutputConfig config, AlertFormat format,
                         std::shared_ptr<aws::CredentialsSource> credentials)
    : name_(std::move(name)), config_(std::move(config)), format_(format) {
  for (const KafkaProperty& p : config_.properties)
    if (p.secret && !p.value.empty()) secrets_.push_back(p.value);
  if (config_.msk_iam) {
    if (!credentials)
      throw std::runtime_error(fmt::format(
          "output '{}': msk_iam needs AWS credentials, and none are configured", name_));
    msk_ = std::make_unique<MskIamAuth>(std::move(credentials), config_.msk_region,
                                        "trailwarden/" TRAILWARDEN_VERSION);
  }
  std::string error;
  if (!create_producer(error))
    throw std::runtime_error(fmt::format("output '{}': {}", name_, error));
  spdlog::info("output {}: Kafka topic {} at {} (key {}, compression {}{})", name_, config_.topic,
               config_.brokers, kafka_key_name(config_.key), config_.compression,
               config_.msk_iam ? ", MSK IAM authentication" : "");
}

KafkaOutput::~KafkaOutput() { destroy_producer(); }

bool KafkaOutput::create_producer(std::string& error) {
  rd_kafka_conf_t* conf = make_rdkafka_conf(config_, error);
  if (!conf) return false;
  rd_kafka_conf_set_opaque(conf, this);
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaOutput::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &KafkaOutput::on_error);
  rd_kafka_conf_set_log_cb(conf, &KafkaOutput::on_log);
  rk_ = create_kafka_client(RD_KAFKA_PRODUCER, conf, msk_ ? &KafkaOutput::on_token_refresh : nullptr,
                            error);
  if (!rk_) {
    scrub(error);
    return false;
  }
  rkt_ = rd_kafka_topic_new(rk_, config_.topic.c_str(), nullptr);
  if (!rkt_) {
    error = fmt::format("cannot create topic handle {}: {}", config_.topic,
                        rd_kafka_err2str(rd_kafka_last_error()));
    destroy_producer();
    return false;
  }
  return true;
}

void KafkaOutput::destroy_producer() {
  if (rk_) {
    // Unacknowledged messages are dropped: the pipeline still holds their alerts.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_, 0);
    if (rkt_) rd_kafka_topic_destroy(rkt_);
    rd_kafka_destroy(rk_);
  }
  rkt_ = nullptr;
  rk_ = nullptr;
  tracked_.clear();
  in_flight_ = 0;
  awaited_ = 0;
}

void KafkaOutput::scrub(std::string& text) const {
  for (const std::string& s : secrets_) http::scrub_secret(text, s);
  if (msk_) msk_->scrub(text);
}

std::string KafkaOutput::error_text(rd_kafka_resp_err_t err) const {
  return fmt::format("{} ({})", rd_kafka_err2str(err), rd_kafka_err2name(err));
}

void KafkaOutput::on_delivery(rd_kafka_t*, const rd_kafka_message_t* msg, void* opaque) {
  auto* self = static_cast<KafkaOutput*>(opaque);
  auto* t = static_cast<Tracked*>(msg->_private);
  if (!t || t->done) return;
  t->done = true;
  t->err = msg->err;
  --self->in_flight_;
  if (t->awaited) {
    t->awaited = false;
    --self->awaited_;
  }
}

void KafkaOutput::on_error(rd_kafka_t* rk, int err_int, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaOutput*>(opaque);
  const auto err = static_cast<rd_kafka_resp_err_t>(err_int);
  std::string why = reason ? reason : "";
  self->scrub(why);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    self->fatal_seen_ = true;
    char buf[512];
    const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    std::string text = buf;
    self->scrub(text);
    spdlog::warn("output {}: Kafka producer fatal error {}: {}", self->name_,
                 rd_kafka_err2name(orig), text);
    if (is_auth_error(orig)) {
      self->auth_error_ = orig;
      self->auth_reason_ = text;
    }
    return;
  }
  if (is_auth_error(err)) {
    self->auth_error_ = err;
    self->auth_reason_ = why;
  }
  if (err == RD_KAFKA_RESP_ERR__TRANSPORT) {
    // A broker connection dropped; librdkafka reconnects. An outage shows as __ALL_BROKERS_DOWN
    // and as the pipeline's retries.
    spdlog::info("output {}: Kafka: {}", self->name_, why);
  } else {
    spdlog::warn("output {}: Kafka {}: {}", self->name_, rd_kafka_err2name(err), why);
  }
}

void KafkaOutput::on_log(const rd_kafka_t* rk, int level, const char* facility, const char* line) {
  const auto* self = static_cast<const KafkaOutput*>(rd_kafka_opaque(rk));
  std::string text = line ? line : "";
  const std::string& name = self ? self->name_ : std::string();
  if (self) self->scrub(text);
  // FAIL lines (connection failures) also arrive as error events (on_error): debug here.
  const bool fail = facility && std::strcmp(facility, "FAIL") == 0;
  const spdlog::level::level_enum lvl = fail         ? spdlog::level::debug
                                        : level <= 4 ? spdlog::level::warn
                                        : level <= 6 ? spdlog::level::info
                                                     : spdlog::level::debug;
  spdlog::log(lvl, "output {}: librdkafka {}: {}", name, facility ? facility : "", text);
}

void KafkaOutput::on_token_refresh(rd_kafka_t* rk, const char*, void* opaque) {
  auto* self = static_cast<KafkaOutput*>(opaque);
  if (self->msk_)
    self->msk_->refresh(rk);
  else
    rd_kafka_oauthbearer_set_token_failure(rk, "no OAUTHBEARER token source configured");
}

rd_kafka_resp_err_t KafkaOutput::topic_metadata_error() {
  const rd_kafka_metadata_t* md = nullptr;
  const int timeout_ms =
      static_cast<int>(std::min<int64_t>(config_.delivery_timeout.count(), 2000));
  if (rd_kafka_metadata(rk_, 0, rkt_, &md, timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR || !md)
    return RD_KAFKA_RESP_ERR_NO_ERROR;  // no answer: nothing known
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int i = 0; i < md->topic_cnt; ++i)
    if (md->topics[i].topic && config_.topic == md->topics[i].topic) err = md->topics[i].err;
  rd_kafka_metadata_destroy(md);
  return err;
}

bool KafkaOutput::ensure_producer(std::string& error) {
  if (!recreate_ && rk_) return true;
  destroy_producer();
  recreate_ = false;
  if (!create_producer(error)) return false;
  spdlog::info("output {}: Kafka producer recreated", name_);
  return true;
}

rd_kafka_resp_err_t KafkaOutput::produce_one(const AlertRecord& a, Tracked* t,
                                             SteadyTime deadline) {
  value_.clear();
  format_alert(a, format_, value_);
  const std::string_view key = kafka_message_key(a, config_.key);
  while (true) {
    const rd_kafka_resp_err_t err =
        rd_kafka_producev(rk_, RD_KAFKA_V_RKT(rkt_), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(value_.data(), value_.size()),
                          RD_KAFKA_V_KEY(key.empty() ? nullptr : key.data(), key.size()),
                          RD_KAFKA_V_OPAQUE(t), RD_KAFKA_V_END);
    if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || Clock::now() >= deadline) return err;
    rd_kafka_poll(rk_, static_cast<int>(kPollSlice.count()));  // reports free queue space
  }
}

void KafkaOutput::produce_batch(const std::vector<const AlertRecord*>& batch,
                                SteadyTime deadline, InFlightBatch& b) {
  const size_t n = batch.size();
  b.slot.assign(n, nullptr);
  b.uids.assign(n, std::string());
  b.produce_err.assign(n, RD_KAFKA_RESP_ERR_NO_ERROR);
  for (size_t i = 0; i < n; ++i) {
    const AlertRecord& a = *batch[i];
    const std::string& uid = b.uids[i] =
        a.uid.empty() ? fmt::format("\x01#{}", ++anonymous_) : a.uid;
    auto it = tracked_.find(uid);
    if (it != tracked_.end()) {
      Tracked& t = it->second;
      if (!t.done || t.err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (!t.done && !t.awaited) {
          t.awaited = true;
          ++awaited_;
        }
        b.slot[i] = &t;
        continue;
      }
      tracked_.erase(it);  // it failed earlier: produce it again
    }
    Tracked* t = &tracked_.try_emplace(uid).first->second;
    const rd_kafka_resp_err_t err = produce_one(a, t, deadline);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      b.produce_err[i] = err;
      tracked_.erase(uid);
      continue;
    }
    ++in_flight_;
    t->awaited = true;
    ++awaited_;
    b.slot[i] = t;
  }
}

void KafkaOutput::await_reports(SteadyTime deadline) {
  // An authentication failure (other than our own MSK IAM token refresh, which may recover) or
  // a fatal producer error ends the wait early.
  const auto gave_up_early = [&] {
    return fatal_seen_ || (auth_error_ != RD_KAFKA_RESP_ERR_NO_ERROR && !(msk_ && msk_->failing()));
  };
  while (awaited_ > 0 && !gave_up_early()) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    rd_kafka_poll(rk_, static_cast<int>(std::min(left, kPollSlice).count()));
  }
  rd_kafka_poll(rk_, 0);
}

KafkaOutput::BatchVerdicts KafkaOutput::classify_batch(const InFlightBatch& b) const {
  BatchVerdicts v;
  for (size_t i = 0; i < b.slot.size(); ++i) {
    rd_kafka_resp_err_t err = b.produce_err[i];
    if (b.slot[i]) {
      if (!b.slot[i]->done) {
        ++v.unacknowledged;
        v.retry.push_back(i);
        continue;
      }
      err = b.slot[i]->err;
    }
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    switch (classify_kafka_error(err)) {
      case KafkaErrorClass::kReject:
        if (v.reject.empty()) v.first_reject = err;
        v.reject.push_back(i);
        break;
      case KafkaErrorClass::kFatal:
        if (v.fatal.empty()) v.first_fatal = err;
        v.fatal.push_back(i);
        break;
      case KafkaErrorClass::kRetry:
        if (v.first_retry == RD_KAFKA_RESP_ERR_NO_ERROR) v.first_retry = err;
        v.retry.push_back(i);
        break;
    }
  }
  return v;
}

void KafkaOutput::release_batch(InFlightBatch& b) {
  // Messages still in flight stay remembered (and no longer awaited); reported ones are claimed.
  const size_t n = b.slot.size();
  for (size_t i = 0; i < n; ++i) {
    if (b.slot[i] && !b.slot[i]->done) b.slot[i]->awaited = false;
  }
  awaited_ = 0;
  for (size_t i = 0; i < n; ++i) {
    // A uid twice in the batch shares one entry: erase it once, then forget the pointer.
    if (b.slot[i] && b.slot[i]->done) {
      Tracked* claimed = b.slot[i];
      for (size_t j = i; j < n; ++j)
        if (b.slot[j] == claimed) b.slot[j] = nullptr;
      tracked_.erase(b.uids[i]);
    }
  }
  if (tracked_.size() > kMaxRemembered) {
    for (auto it = tracked_.begin(); it != tracked_.end();)
      it = it->second.done ? tracked_.erase(it) : std::next(it);
  }
}

bool KafkaOutput::authentication_failed(const BatchVerdicts& v) {
  bool auth_failed = auth_error_ != RD_KAFKA_RESP_ERR_NO_ERROR && !(msk_ && msk_->failing());
  if (v.unacknowledged > 0 && v.fatal.empty() && !auth_failed && !fatal_seen_) {
    // librdkafka keeps messages for a topic whose metadata carries a permanent error (no
    // Describe permission) queued without a report: ask the cluster about the topic.
    const rd_kafka_resp_err_t topic_err = topic_metadata_error();
    if (classify_kafka_error(topic_err) == KafkaErrorClass::kFatal) {
      auth_failed = true;
      auth_error_ = topic_err;
      auth_reason_ = fmt::format(
          "the cluster's metadata for the topic says so (no message "
          "acknowledged within {} ms)",
          config_.delivery_timeout.count());
    }
  }
  return auth_failed;
}

bool KafkaOutput::producer_fatal_error(DeliveryResult& result) {
  if (!fatal_seen_) return false;
  char buf[512];
  const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk_, buf, sizeof buf);
  std::string text = buf;
  scrub(text);
  if (classify_kafka_error(orig) == KafkaErrorClass::kFatal) {
    result.status = Status::kFatal;
    result.message = fmt::format("topic {}: {}: {}", config_.topic, error_text(orig), text);
    return true;
  }
  recreate_ = true;  // idempotence state lost: a new producer for the next send()
  return false;
}

DeliveryResult KafkaOutput::verdict(BatchVerdicts& v, size_t n, bool auth_failed) const {
  DeliveryResult result;
  if (!v.fatal.empty() || (auth_failed && !v.retry.empty())) {
    result.status = Status::kFatal;
    const rd_kafka_resp_err_t err = v.fatal.empty() ? auth_error_ : v.first_fatal;
    std::string detail =
        v.fatal.empty() || v.first_fatal == auth_error_ ? auth_reason_ : std::string();
    result.message = fmt::format("topic {}: {}{}{}", config_.topic, error_text(err),
                                 detail.empty() ? "" : ": ", detail);
    for (size_t i : v.fatal) result.items.push_back(i);
    for (size_t i : v.retry) result.items.push_back(i);
    for (size_t i : v.reject) result.items.push_back(i);
    std::sort(result.items.begin(), result.items.end());
    return result;
  }
  if (!v.retry.empty()) {
    result.status = Status::kRetry;
    std::string why;
    if (v.unacknowledged > 0)
      why = fmt::format("{} of {} alerts not acknowledged within {} ms", v.unacknowledged, n,
                        config_.delivery_timeout.count());
    if (v.first_retry != RD_KAFKA_RESP_ERR_NO_ERROR)
      why += fmt::format("{}{} alerts failed: {}", why.empty() ? "" : "; ",
                         v.retry.size() - v.unacknowledged, error_text(v.first_retry));
    if (fatal_seen_) why += "; the producer had a fatal error and is recreated";
    if (msk_ && msk_->failing()) why += "; " + msk_->last_error();
    result.message = std::move(why);
    result.items = std::move(v.retry);
    result.items.insert(result.items.end(), v.reject.begin(), v.reject.end());
    std::sort(result.items.begin(), result.items.end());
    return result;
  }
  if (!v.reject.empty()) {
    result.status = Status::kReject;
    result.message = fmt::format("topic {}: {} alerts refused: {}", config_.topic,
                                 v.reject.size(), error_text(v.first_reject));
    result.items = std::move(v.reject);
  }
  return result;
}

DeliveryResult KafkaOutput::send(const std::vector<const AlertRecord*>& batch) {
  DeliveryResult result;
  std::string error;
  if (!ensure_producer(error)) {
    result.status = Status::kFatal;
    result.message = error;
    return result;
  }
  auth_error_ = RD_KAFKA_RESP_ERR_NO_ERROR;
  auth_reason_.clear();
  fatal_seen_ = false;
  const auto deadline = Clock::now() + config_.delivery_timeout;

  InFlightBatch b;
  produce_batch(batch, deadline, b);  // or attach to the message already produced for an alert
  await_reports(deadline);
  BatchVerdicts v = classify_batch(b);
  release_batch(b);
  const bool auth_failed = authentication_failed(v);
  if (producer_fatal_error(result)) return result;
  return verdict(v, batch.size(), auth_failed);
}

}  // namespace trailwarden
